"""Keep-or-drop A/B of a keras_lrm change: old against new, interleaved.

Two checkouts (`--base DIR`): for each group, one worker process per
side runs this harness's worker (`python -m bench.keras_lrm_worker`, from
this repository's root) with `--keras_lrm <side's root>`, so both sides
time the same step code and differ only in the keras_lrm they import. The
base checkout's own bench/ (whatever its layout) is not used.
`bench.interleave` alternates the two round by round, as the driver does
for peers, and the verdict is the median of the per-round ratios
new / old throughput, so drift of the machine cancels. Groups (training
step, XLA, the benchmark's 6-layer model unless `--flags` says otherwise):
  all512  every layer memory 512
  all128  every layer memory 128
  rr64    Rae & Razavi: short memories of 64, one long memory of 512 on top
Prints a Markdown table (for docs/benchmarks.md) and writes the rounds to
`--out` (default bench/results/ab-<stamp>.json).

One process (`--revision REV`): the worker's model twice, the second with
every block's attention running the `MemoryAttention` class of
keras_lrm/layers/memory_attention.py as it was at REV (read with
`git show`, so that layer must still fit this checkout's other modules);
steps alternate base / this, and the ratio is taken per step pair, which
is tighter than across processes on a noisy machine.

usage: git worktree add /tmp/base e29f24f
       bench/.venv-peers/bin/python -m bench ab --base /tmp/base
       bench/.venv-peers/bin/python -m bench ab --revision 1c70424 \\
           --flags "--mem 512" --rounds 18
"""
import argparse
import importlib.util
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from bench import interleave
from bench import keras_lrm_worker as worker
from bench import records

ROOT = records.ROOT
GROUPS = ("all512", "all128", "rr64")
LAYER = "keras_lrm/layers/memory_attention.py"
TOLERANCE = 0.03


def group_flags(group, num_layers):
    """The worker flags of one group for a model of `num_layers` layers."""
    if group == "rr64":
        lengths = [64] * (num_layers - 1) + [512]
        return ["--lengths", ",".join(map(str, lengths))]
    return ["--mem", group.removeprefix("all")]


def checkout_specs(group, base, flags, num_layers):
    """The two workers of a group: the base checkout's keras_lrm, then
    this one's, both on this checkout's worker."""
    return [{"name": f"{group}_{side}", "root": root,
             "cmd": [sys.executable, "-m", "bench.keras_lrm_worker",
                     "--keras_lrm", root, "--name", f"{group}_{side}",
                     *group_flags(group, num_layers), *flags]}
            for side, root in (("base", base), ("this", ROOT))]


def run_group(group, args, flags, num_layers, log_dir, env):
    specs = checkout_specs(group, args.base, flags, num_layers)
    print(f"== group {group}", flush=True)
    workers = interleave.start(specs, log_dir, env)
    try:
        for w in workers:
            if w.dead:
                raise SystemExit(f"{w.name} failed to start: {w.dead} (log "
                                 f"in {log_dir})")
            path = w.info["keras_lrm_path"]
            if not path.startswith(os.path.join(w.spec["root"], "")):
                raise SystemExit(f"{w.name} imported keras_lrm from {path}, "
                                 f"not from {w.spec['root']}")
        interleave.warm_up(workers, args.warm)
        interleave.run_rounds(workers, args.rounds, args.steps,
                              quiet_wait=args.quiet_wait,
                              retries=args.retries)
    finally:
        for w in workers:
            w.close()
    dead = [f"{w.name}: {w.dead}" for w in workers if w.dead]
    if dead:
        raise SystemExit(f"group {group}: {'; '.join(dead)} (logs in "
                         f"{log_dir})")
    base, this = workers
    ratios = interleave.paired_ratios(base, this)
    return {"group": group, "cmd": shlex.join(this.spec["cmd"][3:]),
            "ratio_median": statistics.median(ratios),
            "ratio_per_round": ratios,
            "base_step_s": statistics.median(base.times),
            "this_step_s": statistics.median(this.times),
            "base_losses": base.losses[:3], "this_losses": this.losses[:3],
            "foreign_load_per_round": [base.foreign, this.foreign]}


def markdown(result):
    """The verdict table: one row a group."""
    rows = ["| group | new / old throughput (median of paired rounds) | "
            "rounds range | clean rounds | step s old / new | verdict |",
            "|---|---|---|---|---|---|"]
    for g in result["groups"]:
        r = g["ratio_median"]
        verdict = ("ok" if r >= 1 - TOLERANCE
                   else f"slower by more than {TOLERANCE:.0%}")
        base, this = g["foreign_load_per_round"]
        clean = sum(max(a, b) < interleave.FOREIGN_MAX
                    for a, b in zip(base, this))
        rows.append(
            f"| {g['group']} | {r:.3f} | {min(g['ratio_per_round']):.3f}-"
            f"{max(g['ratio_per_round']):.3f} | {clean}/{len(base)} | "
            f"{g['base_step_s']:.3f} / {g['this_step_s']:.3f} | {verdict} |")
    return rows


def checkouts_main(args):
    base = os.path.abspath(args.base)
    if not os.path.isfile(os.path.join(base, "keras_lrm", "__init__.py")):
        raise SystemExit(f"--base: no keras_lrm checkout at {args.base!r}")
    args.base = base
    flags = shlex.split(args.flags)
    given = worker.parse_args(flags)
    if any(getattr(given, f) is not None
           for f in ("mem", "lengths", "placement", "keras_lrm")):
        raise SystemExit(f"--flags: the groups set the memory lengths and "
                         f"the sides their keras_lrm. Received: "
                         f"flags={args.flags!r}")
    num_layers = given.num_layers
    groups = args.groups.split(",")
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise SystemExit(f"--groups: unknown {unknown}; choose from "
                         f"{GROUPS}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = tempfile.mkdtemp(prefix="lrm_ab_")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
               KERAS_BACKEND="tensorflow")
    result = {"date": records.utc_now(),
              "command": shlex.join(["python", "-m", "bench", "ab"]
                                    + sys.argv[1:]),
              "settings": {k: getattr(args, k) for k in
                           ("rounds", "steps", "warm", "quiet_wait",
                            "retries", "flags")},
              "base": {"root": base, **records.git_state(base)},
              "this": {"root": ROOT, **records.git_state(ROOT)},
              "machine": records.machine(), "groups": []}
    for group in groups:
        result["groups"].append(
            run_group(group, args, flags, num_layers, log_dir, env))
    out = args.out or os.path.join(records.RESULTS, f"ab-{stamp}.json")
    records.write_json(out, result)
    print(f"\nold {result['base']['commit'][:12]} ({base}) against new "
          f"{result['this']['commit'][:12]}"
          + (" with uncommitted keras_lrm changes"
             if result["this"]["keras_lrm_uncommitted"] else "")
          + f"; {args.rounds} rounds x {args.steps} steps:\n")
    print("\n".join(markdown(result)))
    for g in result["groups"]:
        if any(abs(x - y) > 1e-3 * abs(x) for x, y in
               zip(g["base_losses"], g["this_losses"])):
            print(f"{g['group']}: first losses differ (old "
                  f"{g['base_losses']}, new {g['this_losses']}): the change "
                  f"is not only a speed change")


def base_class(revision):
    """`MemoryAttention` as defined at `revision`, loaded as a module."""
    try:
        source = subprocess.run(
            ["git", "show", f"{revision}:{LAYER}"], cwd=ROOT, check=True,
            capture_output=True, text=True).stdout
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"--revision: cannot read {LAYER} at "
                         f"{revision!r}: {error.stderr.strip()}") from error
    path = os.path.join(tempfile.mkdtemp(prefix="lrm_ab_"), "base_layer.py")
    with open(path, "w") as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("base_layer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MemoryAttention


def revision_main(args):
    wargs = worker.parse_args(shlex.split(args.flags))
    import keras
    import tensorflow as tf

    old = base_class(args.revision)
    steps = {}
    for name in ("base", "this"):
        model = worker.build_model(wargs)
        model(tf.zeros((1, wargs.segment), "int32"))
        if name == "base":
            for block in model.stack.blocks:
                block.attention.__class__ = old
        steps[name] = worker.build_step(wargs, model, tf, keras)
    losses = {n: [round(s(), 5) for _ in range(4)] for n, s in steps.items()}
    print("first losses:", losses)
    times = {n: [] for n in steps}
    for r in range(args.rounds):
        for name in (("base", "this") if r % 2 == 0 else ("this", "base")):
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    ratios = [b / t for b, t in zip(times["base"], times["this"])]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    print(f"this / base step rate: median {statistics.median(ratios):.3f} "
          f"(IQR {q1:.3f}-{q3:.3f}, {len(ratios)} pairs); median step s: "
          f"base {statistics.median(times['base']):.3f}, this "
          f"{statistics.median(times['this']):.3f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    side = p.add_mutually_exclusive_group(required=True)
    side.add_argument("--base", help="root of the checkout to compare with")
    side.add_argument("--revision",
                      help="git revision of MemoryAttention (one process)")
    p.add_argument("--groups", default=",".join(GROUPS),
                   help=f"with --base: comma list of {GROUPS}")
    p.add_argument("--flags", default="",
                   help="more bench.keras_lrm_worker flags, both sides "
                        "(e.g. a smaller model for a smoke check)")
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--warm", type=int, default=4)
    p.add_argument("--quiet_wait", type=float, default=20.0,
                   help="seconds to wait for an idle machine per measure")
    p.add_argument("--retries", type=int, default=2,
                   help="re-measures of a worker that saw other load")
    p.add_argument("--out", default=None, help="result JSON (with --base)")
    args = p.parse_args(argv)
    if args.base:
        checkouts_main(args)
    else:
        revision_main(args)


if __name__ == "__main__":
    main()
