#!/usr/bin/env python3
"""A/B of two keras_lrm checkouts on the same worker step, interleaved.

Each side runs `bench/keras_lrm_worker.py` from its own checkout (a worker
puts its checkout's keras_lrm first on `sys.path`), in its own process, and
`interleave.py` alternates them round by round, as the driver does for
peers. Use it to keep or drop a change: the ratio is per round, so drift
of the machine cancels.

usage: git worktree add /tmp/base HEAD   # the version to compare against
       bench/.venv-peers/bin/python bench/ab_checkouts.py --base /tmp/base \
           --flags "--mem 512 --jit 1" --rounds 12
"""
import argparse
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import interleave  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True,
                   help="root of the checkout to compare against")
    p.add_argument("--flags", default="--mem 512 --jit 1",
                   help="keras_lrm_worker.py flags, the same for both")
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--steps", type=int, default=2)
    args = p.parse_args(argv)
    worker = os.path.join(args.base, "bench", "keras_lrm_worker.py")
    if not os.path.isfile(worker):
        raise SystemExit(f"--base: no bench/keras_lrm_worker.py under "
                         f"{args.base!r}")
    roots = (("base", os.path.abspath(args.base)),
             ("this", os.path.dirname(HERE)))
    specs = [{"name": name, "cmd": [sys.executable,
                                    os.path.join(root, "bench",
                                                 "keras_lrm_worker.py")]
              + args.flags.split()} for name, root in roots]
    workers = interleave.start(specs, tempfile.mkdtemp(prefix="lrm_ab_"),
                               dict(os.environ))
    try:
        interleave.warm_up(workers, 4)
        interleave.run_rounds(workers, args.rounds, args.steps)
        base, this = workers
        ratios = interleave.paired_ratios(base, this)
    finally:
        for w in workers:
            w.close()
    print(f"this / base throughput, per round: "
          f"{', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"median {statistics.median(ratios):.3f} (range "
          f"{min(ratios):.3f}-{max(ratios):.3f}); median step s: base "
          f"{statistics.median(base.times):.3f}, this "
          f"{statistics.median(this.times):.3f}")


if __name__ == "__main__":
    main()
