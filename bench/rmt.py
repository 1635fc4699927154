"""RMT's training step: keras_lrm against the torch peer, and BPTT's cost.

Two groups, each one interleaved run of its workers (bench/interleave.py):

  speed  keras_lrm's RMT training step (XLA) against lucidrains'
         recurrent-memory-transformer-pytorch (bench/peers/
         peer_rmt_torch.py) at equal shapes: layers, d_model, heads,
         d_ff, segment S, memory tokens m, segments K, batch; both read
         the same synthetic copy examples (the peer at PyTorch's default
         threads and at one; the ratio is against the faster), a forward
         over the K segments with the memory tokens carried, the answer
         tokens' cross-entropy, backward through all K segments, Adam.
         The goal: keras_lrm's tokens/s >= 1.2x the peer's (the median of
         per-round ratios).
  bptt   keras_lrm alone at K = 1, 2, 4, 8 segments per step (gradient
         through all of them) and K = 8 with the gradient cut to the last
         segment (`gradient_segments=1`): time per token, and memory: the
         peak RSS of the timed steps (VmHWM, bench/peers/harness.py) and
         XLA's preallocated temporaries of the compiled step (activations
         and gradients live at once, from XLA's buffer assignment, as
         `python -m bench run` reads them).

Writes bench/results/rmt-<stamp>.json and prints the tables; `--report
docs/rmt.md` also writes them between that page's "bench.rmt" markers
(cite the JSON there and keep it: a `!results/rmt-<stamp>.json` line in
bench/.gitignore, tests/test_lint.py).

    PY=bench/.venv-peers/bin/python
    $PY -m bench rmt --report docs/rmt.md               # quiet machine
    $PY -m bench rmt --groups speed,bptt --rounds 1 --steps 1 --warm 1 \\
        --quiet_wait 0 --retries 0 --num_layers 1 --d_model 32 \\
        --batch 4 --out /tmp/rmt                         # smoke (~2 min)
    $PY -m bench rmt worker --segments 4 --standalone    # one worker
"""
import argparse
import json
import os
import shlex
import statistics
import sys
import time

from bench import driver
from bench import interleave as il
from bench import records
from bench.peers import harness

HERE = os.path.dirname(os.path.abspath(__file__))
GROUPS = ("speed", "bptt")
BEGIN, END = "<!-- bench.rmt:begin -->", "<!-- bench.rmt:end -->"
# The shapes both sides share (the reference RMT's copy runs: 4 layers,
# d_model 128, 6 segments of 12, 6 memory tokens).
SHAPES = dict(num_layers=4, d_model=128, num_heads=4, d_ff=256, segment=12,
              segments=6, memory_tokens=6, batch=32)
BPTT_SEGMENTS = (1, 2, 4, 8)


# --- the keras_lrm worker (runs in its own process) ---

def worker_main(argv):
    p = argparse.ArgumentParser(description="keras_lrm RMT training step")
    for name, value in SHAPES.items():
        p.add_argument(f"--{name}", type=int, default=value)
    p.add_argument("--gradient_segments", type=int, default=0,
                   help="truncated BPTT: the last k segments (0: all)")
    p.add_argument("--mem", type=int, default=0,
                   help="an XL memory of this length in every layer too")
    p.add_argument("--jit", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="keras_lrm_rmt")
    p.add_argument("--standalone", action="store_true")
    p.add_argument("--warm", type=int, default=5)
    p.add_argument("--n", type=int, default=8)
    args = p.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    import keras_lrm
    from keras_lrm.data.synthetic import VOCAB_SIZE
    from keras_lrm.data.synthetic import generate
    from keras_lrm.data.synthetic import split_windows

    keras.utils.set_random_seed(args.seed)
    placement = keras_lrm.Placement(
        "all" if args.mem else "none", long_length=args.mem,
        short_length=args.mem)
    lm = keras_lrm.models.MemoryTransformerLM(
        VOCAB_SIZE, num_layers=args.num_layers, d_model=args.d_model,
        num_heads=args.num_heads, d_ff=args.d_ff,
        segment_length=args.segment, placement=placement,
        num_memory_tokens=args.memory_tokens)
    windows = generate("copy", 4 * args.batch, args.seed, fill=True,
                       num_segments=args.segments,
                       segment_length=args.segment).windows
    batches = [split_windows(tf.constant(windows[i:i + args.batch]))
               for i in range(0, len(windows), args.batch)]
    tvars = lm.trainable_variables
    opt = keras.optimizers.Adam(learning_rate=args.lr)
    opt.build(tvars)
    gradient = args.gradient_segments or None

    @tf.function(jit_compile=bool(args.jit))
    def train_step(token_ids, targets):
        with tf.GradientTape() as tape:
            logits, _ = lm.call_segments(token_ids,
                                         lm.initial_memory(args.batch),
                                         gradient, training=True)
            weights = tf.cast(targets >= 0, tf.float32)
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.maximum(targets, 0), logits=logits)
            loss = tf.reduce_sum(nll * weights) / tf.reduce_sum(weights)
        opt.apply_gradients(zip(tape.gradient(loss, tvars), tvars))
        return loss

    state = {"i": 0}

    def step():
        loss = train_step(*batches[state["i"] % len(batches)])
        state["i"] += 1
        return float(loss.numpy())

    info = dict(
        peer=args.name, kind="keras_lrm", mode="train", jit=args.jit,
        tf=tf.__version__, keras=keras.__version__,
        keras_lrm_path=keras_lrm.__file__, params=int(lm.count_params()),
        batch=args.batch, tgt_len=args.segment, n_layer=args.num_layers,
        d_model=args.d_model, n_head=args.num_heads, d_inner=args.d_ff,
        mem_len=args.mem, num_segments=args.segments,
        num_memory_tokens=args.memory_tokens,
        gradient_segments=args.gradient_segments or args.segments,
        tokens_per_step=args.batch * args.segments * args.segment)
    harness.main_loop(step, info, args)


# --- the driver ---

def keras_spec(name, args, segments, gradient_segments=0):
    shapes = {k: getattr(args, k) for k in SHAPES}
    shapes["segments"] = segments
    flags = [f"--{k}={v}" for k, v in shapes.items()]
    return {"name": name, "role": "lrm",
            "cmd": [driver.TFPY, "-m", "bench.rmt", "worker", "--name", name,
                    f"--gradient_segments={gradient_segments}", *flags]}


def peer_spec(name, args, segments, threads=0):
    d_head = args.d_model // args.num_heads
    return {"name": name, "role": "peer",
            "cmd": [driver.TFPY, "-m", "bench.peers.peer_rmt_torch",
                    "--task", "copy", "--fill", "--device", "cpu",
                    f"--num_segments={segments}", f"--tgt_len={args.segment}",
                    f"--num_memory_tokens={args.memory_tokens}",
                    "--mem_len=0", f"--n_layer={args.num_layers}",
                    f"--d_model={args.d_model}", f"--n_head={args.num_heads}",
                    f"--d_head={d_head}", f"--d_inner={args.d_ff}",
                    f"--batch={args.batch}", "--lr=1e-4",
                    f"--threads={threads}"]}


def group_specs(group, args):
    if group == "speed":
        # PyTorch at its default threads and at one (its small ops can
        # run faster without the threads' synchronisation): the ratio is
        # against the faster.
        return [keras_spec("keras_lrm_rmt_xla", args, args.segments),
                peer_spec("rmt_torch", args, args.segments),
                peer_spec("rmt_torch_1thread", args, args.segments, 1)]
    specs = [keras_spec(f"keras_lrm_rmt_K{k}", args, k)
             for k in BPTT_SEGMENTS]
    top = BPTT_SEGMENTS[-1]
    return specs + [keras_spec(f"keras_lrm_rmt_K{top}_k1", args, top, 1)]


def summarise(group, workers):
    out = {"group": group, "workers": {}}
    live = {w.name: w for w in workers if not w.dead}
    for w in workers:
        entry = {"role": w.spec["role"],
                 "cmd": shlex.join(w.spec["cmd"][1:])}
        if w.dead:
            out["workers"][w.name] = dict(entry, error=w.dead, info=w.info)
            continue
        median = il.robust_median(w)
        tokens = w.info["tokens_per_step"]
        entry.update(
            info=w.info, median_step_s=median, round_medians_s=w.rounds,
            foreign_load_per_round=w.foreign, warm_s=w.warm, losses=w.losses,
            tokens_per_s=tokens / median,
            us_per_token=median / tokens * 1e6,
            peak_rss_warm_mb=w.rss_warm and w.rss_warm["peak_rss_mb"],
            peak_rss_steps_mb=w.rss_end and w.rss_end["hwm_mb"],
            xla_memory=(driver.xla_memory(w.spec["dump"])
                        if "dump" in w.spec else None))
        out["workers"][w.name] = entry
    peers = [w for w in live.values() if w.spec["role"] == "peer"]
    if group == "speed" and peers and "keras_lrm_rmt_xla" in live:
        fastest = min(peers, key=il.robust_median)
        ratios = il.paired_ratios(fastest, live["keras_lrm_rmt_xla"])
        out["fastest_peer"] = fastest.name
        out["ratio_per_round"] = ratios
        out["ratio"] = statistics.median(ratios)
    return out


def tables(run):
    """Markdown lines of a result file: the speed ratio and BPTT's cost."""
    lines = [f"Command: `{run['command']}`; commit "
             f"{run['git']['commit'][:7]}; {run['machine']['cpu_model']}, "
             f"{run['machine']['cores']} cores; {run['date']}; "
             f"`bench/results/rmt-{run['stamp']}.json`.", ""]
    for group in run["groups"]:
        workers = group["workers"]
        if group["group"] == "speed":
            lines += ["| worker | params | tokens/s | ms/step | peak RSS "
                      "of steps (MB) |", "|---|---|---|---|---|"]
            for name, w in workers.items():
                if "error" in w:
                    lines.append(f"| {name} | failed: {w['error']} | | | |")
                    continue
                params = w["info"].get("params") or w["info"].get("n_params")
                lines.append(
                    f"| {name} | {params} | {w['tokens_per_s']:.0f} | "
                    f"{w['median_step_s'] * 1e3:.1f} | "
                    f"{w['peak_rss_steps_mb'] or float('nan'):.0f} |")
            if "ratio" in group:
                lines += ["", f"keras_lrm / fastest peer "
                              f"({group['fastest_peer']}) throughput: "
                              f"**{group['ratio']:.2f}x** (median of "
                              f"{len(group['ratio_per_round'])} paired "
                              "rounds; goal >= 1.2x).", ""]
        else:
            base = workers.get("keras_lrm_rmt_K1", {})
            lines += ["| worker | K | gradient through | us/token | vs K=1 "
                      "| XLA temporaries (MB) | peak RSS of steps (MB) |",
                      "|---|---|---|---|---|---|---|"]
            for name, w in workers.items():
                if "error" in w:
                    lines.append(f"| {name} | failed | | | | | |")
                    continue
                info, xla = w["info"], w["xla_memory"] or {}
                ratio = (w["us_per_token"] / base["us_per_token"]
                         if "us_per_token" in base else float("nan"))
                lines.append(
                    f"| {name} | {info['num_segments']} | "
                    f"{info['gradient_segments']} | "
                    f"{w['us_per_token']:.1f} | {ratio:.2f}x | "
                    f"{xla.get('xla_temp_mb', float('nan')):.1f} | "
                    f"{w['peak_rss_steps_mb'] or float('nan'):.0f} |")
            lines.append("")
    return lines


def write_report(run, markdown):
    text = open(markdown, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"--report: {markdown} has no {BEGIN} ... {END}")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    body = "\n".join([BEGIN] + tables(run) + [END])
    tmp = markdown + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(head + body + tail)
    os.replace(tmp, markdown)
    print("wrote", markdown, flush=True)


def main(argv):
    if argv[:1] == ["worker"]:
        return worker_main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--groups", default=",".join(GROUPS))
    for name, value in SHAPES.items():
        p.add_argument(f"--{name}", type=int, default=value)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--warm", type=int, default=3)
    p.add_argument("--quiet_wait", type=float, default=20.0)
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--report", default=None, metavar="MARKDOWN",
                   help="write the tables into this page (docs/rmt.md)")
    p.add_argument("--from_json", default=None,
                   help="only write --report from this result file")
    a = p.parse_args(argv)
    if a.from_json:
        with open(a.from_json) as handle:
            run = json.load(handle)
        print("\n".join(tables(run)))
        if a.report:
            write_report(run, a.report)
        return 0
    groups = a.groups.split(",")
    if any(g not in GROUPS for g in groups):
        p.error(f"--groups: choose from {GROUPS}. Received: {a.groups}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = os.path.join(a.out, "logs", f"rmt-{stamp}")
    os.makedirs(log_dir, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
               KERAS_BACKEND="tensorflow")
    run = {"stamp": stamp, "date": records.utc_now(),
           "command": shlex.join(["python", "-m", "bench", "rmt", *argv]),
           "shapes": {k: getattr(a, k) for k in SHAPES},
           "settings": {k: getattr(a, k) for k in
                        ("rounds", "steps", "warm", "quiet_wait",
                         "retries")},
           "git": records.git_state(), "machine": records.machine(),
           "groups": []}
    for group in groups:
        specs = [driver.with_xla_dump(s, log_dir)
                 for s in group_specs(group, a)]
        print(f"== group {group}: {[s['name'] for s in specs]}", flush=True)
        workers = il.start(specs, log_dir, env)
        il.warm_up(workers, a.warm)
        il.run_rounds(workers, a.rounds, a.steps, quiet_wait=a.quiet_wait,
                      retries=a.retries)
        run["groups"].append(summarise(group, workers))
    records.write_json(os.path.join(a.out, f"rmt-{stamp}.json"), run)
    print("\n".join(tables(run)), flush=True)
    if a.report:
        write_report(run, a.report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
