#!/usr/bin/env python3
"""Where a GPU training step of `bench.accelerator.benchmark` spends its time.

For each worker asked for: time --steps steps without the profiler (wall
time per step), then trace --n steps with `jax.profiler.trace` and read the
device plane of the trace (`jax.profiler.ProfileData`): kernel time per
step, the share of the step the GPU was busy (union of kernel intervals
over the traced span), kernels launched per step, and kernel time by kind
(matrix products, fusions, copies, ...) and by kernel.

usage: python -m bench gpu-profile \
           --workers same_fp32:keras_lrm_all512,b64_bf16:kerashub_xlnet_512 \
           --out profile-gpu.json
"""
import argparse
import collections
import glob
import os
import re
import shutil
import sys
import tempfile
import time

from bench.accelerator import benchmark
from bench.accelerator import report

KINDS = (("matmul", r"gemm|cutlass|cublas|xmma|nvjet|matmul|dot|wgmma"),
         ("transpose/copy", r"transpose|copy|memcpy|memset"),
         ("reduce", r"reduc|softmax|norm"),
         ("fusion", r"fusion|loop|input_|triton|kernel"))


def kind_of(name):
    low = name.lower()
    for kind, pattern in KINDS:
        if re.search(pattern, low):
            return kind
    return "other"


def device_events(xspace_path):
    """(kernel events [(name, start_ns, dur_ns)], line names) of the GPU."""
    from jax.profiler import ProfileData
    data = ProfileData.from_file(xspace_path)
    events, lines = [], []
    for plane in data.planes:
        if "GPU" not in plane.name and "TPU" not in plane.name:
            continue
        for line in plane.lines:
            lines.append(f"{plane.name}/{line.name}")
            # "Stream #N": the kernels; skip the XLA op/module summary lines
            if not line.name.lower().startswith("stream"):
                continue
            events += [(e.name, e.start_ns, e.duration_ns)
                       for e in line.events]
    if not events:  # no "Stream" lines: every line but the summaries
        for plane in data.planes:
            if "GPU" not in plane.name and "TPU" not in plane.name:
                continue
            for line in plane.lines:
                if not re.search(r"XLA|Step|Launch|Module", line.name):
                    events += [(e.name, e.start_ns, e.duration_ns)
                               for e in line.events]
    return events, lines


def busy_ns(events):
    total, end = 0.0, None
    for _, start, dur in sorted(events, key=lambda e: e[1]):
        stop = start + dur
        if end is None or start >= end:
            total += dur
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def summarise(events, steps, wall_s_per_step):
    by_kind, by_name = collections.Counter(), collections.Counter()
    for name, _, dur in events:
        by_kind[kind_of(name)] += dur
        by_name[name] += dur
    kernel_ns = sum(by_kind.values())
    span = (max(s + d for _, s, d in events) - min(s for _, s, _ in events)
            if events else 0.0)
    return dict(
        wall_ms_per_step=1e3 * wall_s_per_step,
        kernel_ms_per_step=kernel_ns / steps / 1e6,
        busy_ms_per_step=busy_ns(events) / steps / 1e6,
        traced_span_ms_per_step=span / steps / 1e6,
        kernels_per_step=len(events) / steps,
        share_by_kind={k: v / kernel_ns for k, v in by_kind.most_common()},
        top_kernels=[(n[:120], v / kernel_ns) for n, v in
                     by_name.most_common(15)])


def profile(group, name, args, log):
    import jax
    import keras
    cfg, policy, plan = benchmark.group_plan(group)
    spec = [w for w in plan if w[0] == name]
    if not spec:
        raise SystemExit(f"--workers: no {name!r} in group {group!r}")
    keras.config.set_dtype_policy(policy)
    worker = benchmark.Worker(*spec[0], cfg)
    worker.run(args.warm)
    wall = min(worker.run(args.steps) for _ in range(3)) / args.steps
    with tempfile.TemporaryDirectory() as logdir:
        with jax.profiler.trace(logdir):
            worker.run(args.n)
        path = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"),
                         recursive=True)[0]
        events, lines = device_events(path)
        if args.keep:
            shutil.copy(path, os.path.join(
                args.keep, f"{group}-{name}.xplane.pb"))
    keras.config.set_dtype_policy("float32")
    out = summarise(events, args.n, wall)
    out.update(group=group, worker=name, config=cfg, policy=policy,
               device_lines=sorted(set(lines))[:20],
               flops_per_token=worker.flops_per_unit,
               tokens_per_step=worker.units)
    log(f"{group}:{name} wall {out['wall_ms_per_step']:.2f} ms/step, "
        f"GPU busy {out['busy_ms_per_step']:.2f} ms, "
        f"{out['kernels_per_step']:.0f} kernels/step, "
        f"{ {k: round(v, 3) for k, v in out['share_by_kind'].items()} }")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", required=True,
                   help="group:worker,... (names as in bench gpu)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--n", type=int, default=5, help="traced steps")
    p.add_argument("--warm", type=int, default=3)
    p.add_argument("--out", default=None)
    p.add_argument("--keep", default=None,
                   help="folder to copy the raw .xplane.pb traces to")
    args = p.parse_args(argv)
    start = time.perf_counter()

    def log(msg):
        print(f"{time.perf_counter() - start:7.1f}s {msg}", flush=True)

    result = {"machine": benchmark.device_info(),
              "command": " ".join(["python -m bench gpu-profile"]
                                  + sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "profiles": []}
    for item in args.workers.split(","):
        group, name = item.split(":")
        result["profiles"].append(profile(group, name, args, log))
        if args.out:
            report.write_json(args.out, result)


if __name__ == "__main__":
    main()
