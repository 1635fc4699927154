#!/usr/bin/env python3
"""A/B of the attention layer against an earlier revision's, in one process.

Builds the worker's model twice (same seed, same weights); in the second,
every block's attention runs the `MemoryAttention` class of
`keras_lrm/layers/memory_attention.py` as it was at `--base` (read with
`git show`, so the layer's code must be compatible with this checkout's
other modules). Steps alternate base / this, in reversed order every other
round, and the ratio is taken per step pair, so drift of a noisy machine
cancels better than across processes (bench/ab_checkouts.py). Prints the
first losses of both (they should match) and the ratio's median and
quartiles. The design notes' attention A/Bs were measured this way.

usage: bench/.venv-peers/bin/python bench/ab_inprocess.py --base 1c70424 \
           --flags "--mem 512 --jit 1" --rounds 18
"""
import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import keras_lrm_worker as worker  # noqa: E402 (sets sys.path, backend)

LAYER = "keras_lrm/layers/memory_attention.py"


def base_class(revision):
    """`MemoryAttention` as defined at `revision`, loaded as a module."""
    try:
        source = subprocess.run(
            ["git", "show", f"{revision}:{LAYER}"], cwd=worker.ROOT,
            check=True, capture_output=True, text=True).stdout
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"--base: cannot read {LAYER} at {revision!r}: "
                         f"{error.stderr.strip()}")
    path = os.path.join(tempfile.mkdtemp(prefix="lrm_ab_"), "base_layer.py")
    with open(path, "w") as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("base_layer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MemoryAttention


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, help="git revision to compare")
    p.add_argument("--flags", default="--mem 512 --jit 1",
                   help="keras_lrm_worker.py flags (--mode train)")
    p.add_argument("--rounds", type=int, default=18)
    args = p.parse_args(argv)
    wargs = worker.parse_args(args.flags.split())
    import keras
    import tensorflow as tf
    import keras_lrm

    old = base_class(args.base)
    steps = {}
    for name in ("base", "this"):
        keras.utils.set_random_seed(wargs.seed)
        model = keras_lrm.models.MemoryTransformerLM(
            vocab_size=wargs.vocab, num_layers=wargs.num_layers,
            d_model=wargs.d_model, num_heads=wargs.num_heads,
            d_ff=wargs.d_ff, segment_length=wargs.segment,
            placement=worker.placement_from(wargs), dropout=0.0,
            tie_embeddings=True)
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


if __name__ == "__main__":
    main()
