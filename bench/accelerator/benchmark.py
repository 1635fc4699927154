#!/usr/bin/env python3
"""GPU/TPU benchmark: keras_lrm against the Keras peer, Keras 3 on JAX.

The same training step as bench/driver.py (forward, backward, Adam, memory
carried step to step), for keras_lrm and for the keras-hub XLNet peer and the
no-memory baseline of `bench.accelerator.models`, all in one process and one
jitted JAX step (`keras.StatelessScope` + `jax.value_and_grad` +
`optimizer.stateless_apply`), interleaved round by round so every ratio is
taken under the same conditions. Matmul rooflines (8192^3, float32 and
bfloat16, XLA's default precision) run in the same rounds for MFU.

Why JAX: the lent GPU machines have JAX but no TensorFlow and no network,
and TensorFlow's GPU wheels are far over what can be carried there; the
keras_lrm layers are `keras.ops`, so the same code runs under JAX's XLA.
The TensorFlow Model Garden peer cannot run there; the PyTorch reference is
not in the peer harness (see bench/README.md).

keras_lrm's attention runs fused (cuDNN flash attention with the position
term as its bias) where `MemoryAttention` can (JAX on a CUDA GPU, bfloat16);
in the bfloat16 groups `*_unfused` twins run with it switched off
(`keras.config.disable_flash_attention()`), so the kernel's effect is a
paired ratio of the same run.

Groups (each interleaved on its own; results are written after each):
  same_fp32   the CPU benchmark's work: batch 8, float32
  same_bf16   batch 8, mixed_bfloat16
  b64_bf16    batch 64, mixed_bfloat16
  table1_bf16 12 layers, batch 64, mixed_bfloat16, 12/6/2/1/0 interleaved
              long memories of 512 over short 128 (Rae & Razavi Table 1)
  b64_fp32    batch 64, float32

usage: python -m bench gpu --out gpu.json   (KERAS_BACKEND=jax by default)
       python -m bench gpu --report bench/results/gpu-<stamp>.json \
           --profile bench/results/gpu-profile-<stamp>.json \
           --check bench/results/gpu-check-<stamp>.json \
           --notes bench/results/gpu-<stamp>.notes.md
       (each flag takes comma-separated files: several runs in one page)
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

# Stdlib only at import: the backend is chosen before Keras loads.
from bench import flops
from bench.accelerator import report
from bench.peers import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "jax")

GROUPS = ("same_fp32", "same_bf16", "b64_bf16", "table1_bf16", "b64_fp32")
RR = {"rr64": [64] * 5 + [512], "rr128": [128] * 5 + [512]}


def group_plan(group, batch=None):
    """(config, policy, workers); a worker is (name, kind, lengths)."""
    if batch is None:
        batch = 8 if group.startswith("same") else 64
    cfg = dict(n_layer=6, d_model=256, n_head=4, d_head=64, d_inner=1024,
               tgt_len=128, vocab=256, batch=batch)
    policy = "mixed_bfloat16" if group.endswith("bf16") else "float32"
    mm = ("mm_bf16" if policy == "mixed_bfloat16" else "mm_fp32",
          "matmul", [])
    if group == "table1_bf16":
        cfg["n_layer"] = 12
        workers = [(f"keras_lrm12_long{n}", "keras_lrm",
                    flops.interleaved_lengths(12, n, 512, 128))
                   for n in (12, 6, 2, 1, 0)]
        return cfg, policy, workers + [mm]
    workers = [(f"keras_lrm_all{m}", "keras_lrm", [m] * 6) for m in (512, 128)]
    if policy == "mixed_bfloat16":
        workers += [(f"keras_lrm_all{m}_unfused", "keras_lrm_unfused",
                     [m] * 6) for m in (512, 128)]
    workers += [(f"keras_lrm_{k}", "keras_lrm", v) for k, v in RR.items()]
    workers += [(f"kerashub_xlnet_{m}", "xlnet", [m] * 6) for m in (512, 128)]
    workers += [("keras_plain_nomem", "plain", [0] * 6), mm]
    return cfg, policy, workers


def jax_train_step(forward, variables, optimizer):
    """A jitted (variables, opt_vars, x, y, memory) -> same + loss step."""
    import jax
    import keras

    def loss_fn(values, x, y, memory):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return forward(x, y, memory)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(values, opt_values, x, y, memory):
        (loss, memory), grads = grad_fn(values, x, y, memory)
        values, opt_values = optimizer.stateless_apply(
            opt_values, grads, values)
        return values, opt_values, memory, loss

    return jax.jit(step, donate_argnums=(0, 1, 4))


class Worker:
    """One model (or matmul) with its state, timed a few steps at a time."""

    def __init__(self, name, kind, lengths, cfg):
        import jax
        import jax.numpy as jnp
        import keras
        import numpy as np

        from bench.accelerator import models as am
        self.name, self.kind, self.lengths = name, kind, lengths
        B, T = cfg["batch"], cfg["tgt_len"]
        if kind == "matmul":
            n = 8192
            dtype = jnp.bfloat16 if name == "mm_bf16" else jnp.float32
            keys = jax.random.split(jax.random.PRNGKey(0), 2)
            self.state = [jax.random.normal(k, (n, n), dtype) for k in keys]
            fn = jax.jit(lambda a, b: a @ b)
            self.compiled = fn.lower(*self.state).compile()
            self.units, self.flops_per_unit = 1, 2.0 * n ** 3
            self.info = {}
            return
        keras.utils.set_random_seed(0)
        if kind.startswith("keras_lrm"):
            # MemoryAttention reads the switch when it is created.
            if kind == "keras_lrm_unfused":
                keras.config.disable_flash_attention()
            try:
                forward, variables, memory = am.build_keras_lrm(cfg, lengths)
            finally:
                keras.config.enable_flash_attention()
        elif kind == "xlnet":
            forward, variables, memory = am.build_xlnet(cfg, lengths[0])
        else:
            forward, variables, memory = am.build_plain(cfg)
        optimizer = keras.optimizers.Adam(learning_rate=1e-4)
        optimizer.build(variables)
        # The peers' synthetic tokens (peers/harness.py), 16 segments cycled
        stream = harness.synthetic_stream(B, T, 16, cfg["vocab"], 0)
        stream = stream.astype(np.int32)
        self.segments = [(jnp.asarray(stream[:, i * T:(i + 1) * T]),
                          jnp.asarray(stream[:, i * T + 1:(i + 1) * T + 1]))
                         for i in range(16)]
        values = [v.value for v in variables]
        opt_values = [v.value for v in optimizer.variables]
        step = jax_train_step(forward, variables, optimizer)
        x, y = self.segments[0]
        t0 = time.perf_counter()
        self.compiled = step.lower(values, opt_values, x, y, memory).compile()
        self.state = [values, opt_values, memory]
        self.units = B * T
        self.flops_per_unit = flops.train_flops_per_token(
            n_layer=len(lengths), d_model=cfg["d_model"],
            n_head=cfg["n_head"], d_head=cfg["d_head"],
            d_inner=cfg["d_inner"], tgt_len=T, batch=B, vocab=cfg["vocab"],
            mem_lens=lengths, relative=kind != "plain")
        self.info = dict(compile_s=round(time.perf_counter() - t0, 1),
                         params=int(sum(np.prod(v.shape) for v in variables)),
                         **_memory_analysis(self.compiled))
        # Whether XLA's step calls cuDNN's fused attention (custom call).
        self.info["cudnn_attention"] = \
            "__cudnn$fmha" in self.compiled.as_text()
        self.i = 0

    def run(self, steps):
        """Seconds for `steps` steps, the device synchronised at both ends."""
        import jax
        jax.block_until_ready(self.state)
        t0 = time.perf_counter()
        if self.kind == "matmul":
            for _ in range(steps):
                out = self.compiled(*self.state)
        else:
            for _ in range(steps):
                x, y = self.segments[self.i % 16]
                self.i += 1
                values, opt_values, memory = self.state
                *self.state, out = self.compiled(
                    values, opt_values, x, y, memory)
        jax.block_until_ready(out)
        elapsed = time.perf_counter() - t0
        if self.kind != "matmul":
            self.info.setdefault("loss_first", float(out))
            self.info["loss_last"] = float(out)
        return elapsed


def _memory_analysis(compiled):
    try:
        m = compiled.memory_analysis()
    except (AttributeError, NotImplementedError, RuntimeError):
        return {}
    if m is None:
        return {}
    return {"temp_mb": round(m.temp_size_in_bytes / 2 ** 20, 1),
            "argument_mb": round(m.argument_size_in_bytes / 2 ** 20, 1)}


def run_group(group, args, log):
    import keras
    rounds, steps = args.rounds, args.steps
    cfg, policy, plan = group_plan(group, args.batch)
    if args.only:
        plan = [w for w in plan if w[0] in args.only.split(",")]
        if not plan:
            raise SystemExit(f"--only: no worker of group {group!r} in "
                             f"{args.only!r}")
    keras.config.set_dtype_policy(policy)
    workers = []
    for name, kind, lengths in plan:
        log(f"[{group}] build + compile {name}")
        workers.append(Worker(name, kind, lengths, cfg))
        workers[-1].run(args.warm)
    times = {w.name: [] for w in workers}
    for r in range(rounds):
        order = workers[r % len(workers):] + workers[:r % len(workers)]
        for w in order:
            times[w.name].append(w.run(steps))
        log(f"[{group}] round {r + 1}/{rounds}")
    keras.config.set_dtype_policy("float32")
    out = {"config": cfg, "policy": policy, "steps": steps, "workers": {}}
    for w in workers:
        per_s = [w.units * steps / t for t in times[w.name]]
        out["workers"][w.name] = dict(
            kind=w.kind, mem_lens=w.lengths, units_per_s_rounds=per_s,
            flops_per_unit=w.flops_per_unit, **w.info)
    return out


def device_info():
    import jax
    import keras
    d = jax.devices()[0]
    info = dict(device=d.device_kind, platform=d.platform,
                jax=jax.__version__, keras=keras.__version__,
                host=platform.node(), python=platform.python_version(),
                matmul_precision=str(jax.config.jax_default_matmul_precision))
    try:
        info["keras_hub"] = __import__("keras_hub").__version__
    except ImportError:
        info["keras_hub"] = None
    info["commit"] = os.environ.get("KERAS_LRM_COMMIT")
    try:
        info["commit"] = info["commit"] or subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
            text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--groups", default=",".join(GROUPS))
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warm", type=int, default=3)
    p.add_argument("--batch", type=int, default=None,
                   help="override every group's batch (smoke checks)")
    p.add_argument("--only", default=None,
                   help="comma-separated worker names to keep")
    p.add_argument("--budget", type=float, default=420.0,
                   help="seconds; no group starts after this")
    p.add_argument("--out", default=None, help="result JSON")
    p.add_argument("--report", default=None,
                   help="write docs/benchmarks_gpu.md from result JSONs "
                        "(comma-separated, listed in that order)")
    p.add_argument("--profile", default="",
                   help="with --report: bench.accelerator.profile JSONs")
    p.add_argument("--check", default="",
                   help="with --report: bench.accelerator.check JSONs")
    p.add_argument("--notes", default="",
                   help="with --report: Markdown readings of the runs")
    args = p.parse_args(argv)
    if args.report:

        def paths(value):
            return [v for v in value.split(",") if v]

        report.write(
            paths(args.report), profile_paths=paths(args.profile),
            notes_paths=paths(args.notes), check_paths=paths(args.check))
        return
    start = time.perf_counter()

    def log(msg):
        print(f"{time.perf_counter() - start:7.1f}s {msg}", flush=True)

    result = {"machine": device_info(),
              "command": " ".join(["python -m bench gpu"] + sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "groups": {}}
    log(json.dumps(result["machine"]))
    for group in args.groups.split(","):
        if group not in GROUPS:
            raise SystemExit(f"--groups: unknown {group!r}; one of {GROUPS}")
        if time.perf_counter() - start > args.budget:
            log(f"[{group}] skipped: budget of {args.budget:.0f} s spent")
            continue
        result["groups"][group] = run_group(group, args, log)
        if args.out:
            report.write_json(args.out, result)
        print(report.group_table(
            group, result["groups"][group]), flush=True)


if __name__ == "__main__":
    main()
