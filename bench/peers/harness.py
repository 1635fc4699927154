# Copied from the company peer-benchmark harness
# (shared/bench/peers/harness.py, 2026-11-22); see bench/README.md for what
# was adapted.
"""Tiny worker protocol shared by every peer benchmark.

A worker builds its model, then answers one JSON line per command read from
stdin:
  warm N   -> run N steps (includes tracing / compilation), report their times
  run N    -> run N timed steps, report per-step seconds
  rss      -> report peak RSS (ru_maxrss), current RSS and VmHWM
  reset_peak -> reset the kernel's peak-RSS mark (VmHWM, ru_maxrss), so a
              later `rss` reports the peak of the steps after it only
              (added for keras_lrm: peak RSS after warm-up)
  quit
The driver (bench/driver.py) interleaves workers round-robin so that ratios
between peers are measured under the same background load.
"""
import json
import resource
import sys
import time


def status_mb(key):
    """A /proc/self/status entry in MB (VmRSS: now, VmHWM: peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def current_rss_mb():
    return status_mb("VmRSS")


def reset_peak():
    """Linux: writing 5 to clear_refs resets VmHWM (and ru_maxrss)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def serve(step, info, standalone_args=None):
    """step() runs one full training step and returns a python float loss."""
    out = sys.stdout
    info = dict(info)
    info["ready"] = True
    info["rss_after_build_mb"] = current_rss_mb()
    out.write(json.dumps(info) + "\n")
    out.flush()
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd = parts[0]
        if cmd in ("warm", "run"):
            n = int(parts[1])
            times, losses = [], []
            for _ in range(n):
                t0 = time.perf_counter()
                loss = step()
                times.append(time.perf_counter() - t0)
                losses.append(loss)
            out.write(json.dumps({"cmd": cmd, "times": times,
                                  "losses": losses}) + "\n")
        elif cmd == "rss":
            out.write(json.dumps({"cmd": "rss", "peak_rss_mb": peak_rss_mb(),
                                  "rss_mb": current_rss_mb(),
                                  "hwm_mb": status_mb("VmHWM")}) + "\n")
        elif cmd == "reset_peak":
            out.write(json.dumps({"cmd": cmd, "ok": reset_peak(),
                                  "rss_mb": current_rss_mb()}) + "\n")
        elif cmd == "quit":
            out.write(json.dumps({"cmd": "quit"}) + "\n")
            out.flush()
            return
        out.flush()


def standalone(step, info, warm=5, n=8):
    """Run without the driver: python peer.py ... --standalone"""
    import statistics
    print(json.dumps(info), flush=True)
    for i in range(warm):
        t = time.perf_counter()
        loss = step()
        print(f"warm {i} {time.perf_counter() - t:.3f}s loss={loss:.4f}",
              flush=True)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    toks = info.get("tokens_per_step", info["batch"] * info["tgt_len"])
    print(json.dumps({"median_step_s": med, "tokens_per_s": toks / med,
                      "times": times, "loss": loss,
                      "peak_rss_mb": peak_rss_mb()}), flush=True)


def main_loop(step, info, args):
    """Serves `step` to the driver, or with `--standalone` times it alone."""
    if args.standalone:
        standalone(step, info, args.warm, args.n)
    else:
        serve(step, info)


def common_argparser(desc):
    import argparse
    p = argparse.ArgumentParser(description=desc)
    p.add_argument("--n_layer", type=int, default=6)
    p.add_argument("--d_model", type=int, default=256)
    p.add_argument("--n_head", type=int, default=4)
    p.add_argument("--d_head", type=int, default=64)
    p.add_argument("--d_inner", type=int, default=1024)
    p.add_argument("--tgt_len", type=int, default=128)
    p.add_argument("--mem_len", type=int, default=512)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--standalone", action="store_true")
    p.add_argument("--warm", type=int, default=5)
    p.add_argument("--n", type=int, default=8)
    return p


def synthetic_stream(batch, tgt_len, n_seg, vocab, seed):
    """Deterministic random char-level stream, shape [n_seg+1 segments]."""
    import numpy as np
    rng = np.random.default_rng(seed)
    return rng.integers(0, vocab, size=(batch, tgt_len * n_seg + 1),
                        dtype=np.int64)


def tf_segments(tf, batch, tgt_len, vocab, seed):
    """The synthetic stream as 16 (inputs, next-token labels) int32 segment
    pairs, cycled by the training steps."""
    stream = synthetic_stream(batch, tgt_len, 16, vocab, seed)
    T = tgt_len
    return [(tf.constant(stream[:, i * T:(i + 1) * T], tf.int32),
             tf.constant(stream[:, i * T + 1:(i + 1) * T + 1], tf.int32))
            for i in range(16)]


def carried_memory_step(tf, forward, tvars, opt, segs, mems, jit):
    """step() -> loss of a training step whose memory is carried from step
    to step: `forward(x, y, mems) -> (loss, new_mems)` and an optimizer
    update in one `tf.function` (XLA if `jit`), the segments cycled."""
    @tf.function(jit_compile=bool(jit))
    def train_step(x, y, mems):
        with tf.GradientTape() as tape:
            loss, new_mems = forward(x, y, mems)
        grads = tape.gradient(loss, tvars)
        opt.apply_gradients(zip(grads, tvars))
        return loss, new_mems

    state = {"i": 0, "mems": mems}

    def step():
        x, y = segs[state["i"] % len(segs)]
        state["i"] += 1
        loss, state["mems"] = train_step(x, y, state["mems"])
        return float(loss.numpy())

    return step


def matmul_main(step, info):
    """A matmul worker's standalone rate, or the protocol."""
    if "--standalone" not in sys.argv[1:]:
        serve(step, info)
        return
    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(5):
        step()
    dt = (time.perf_counter() - t) / 5
    print(info["peer"], f"{info['flops_per_step'] / dt / 1e9:.1f} GFLOP/s")
