"""Per-op time of one keras_lrm worker step, from the TensorFlow profiler.

Builds the same model and step as keras_lrm_worker.py (same flags), warms
it up, traces --n steps with tf.profiler, and sums the host events of the
trace by name (XLA: the compiled kernels/thunks; --jit 0: the TF ops).
Prints the top entries as a share of the traced step time.
usage: bench/.venv-peers/bin/python bench/profile_step.py --mem 512 --jit 1
       bench/.venv-peers/bin/python bench/profile_step.py --mem 512 --jit 0
       ... --out bench/results/profile-<stamp>.json   (read by report.py)
"""
import argparse
import collections
import glob
import json
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import keras_lrm_worker as worker  # noqa: E402 (sets sys.path, backend)

# Profiler bookkeeping, not work: skip these event names.
SKIP = re.compile(r"^(ThreadpoolListener|EagerExecute|EagerLocalExecute|"
                  r"EagerKernelExecute|TFE_Py_|ExecutorState|"
                  r"ProcessFunctionLibraryRuntime|__inference|\$|.*::Run$|"
                  r"TraceMe|FunctionRun|run$|CpuExecutable::|BlockUntilReady|"
                  r"ThunkExecutor::|SlinkyThreadPool::)")


def kind(name):
    """`dot.18` -> `dot`, `MatMul.178` -> `MatMul`: one row per op kind."""
    return re.sub(r"[._]\d+$", "", name)


def op_times(logdir):
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    path = glob.glob(os.path.join(logdir, "plugins/profile/*/*.xplane.pb"))[0]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for ev in line.events:
                name = names.get(ev.metadata_id, "?")
                if not SKIP.match(name):
                    totals[(line.name, name)] += ev.duration_ps / 1e12
    return totals


def main():
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--top", type=int, default=30)
    own.add_argument("--out", default=None,
                     help="also write the op-kind table as JSON here")
    mine, rest = own.parse_known_args()
    args = worker.parse_args(rest)
    import tensorflow as tf
    import keras
    import keras_lrm

    keras.utils.set_random_seed(args.seed)
    model = keras_lrm.models.MemoryTransformerLM(
        vocab_size=args.vocab, num_layers=args.num_layers, d_model=args.d_model,
        num_heads=args.num_heads, d_ff=args.d_ff, segment_length=args.segment,
        placement=worker.placement_from(args), dropout=0.0, tie_embeddings=True)
    step = worker.build_step(args, model, tf, keras)
    for _ in range(args.warm):
        step()
    logdir = tempfile.mkdtemp(prefix="lrm_profile_")
    tf.profiler.experimental.start(logdir)
    t0 = time.perf_counter()
    for _ in range(args.n):
        step()
    wall = time.perf_counter() - t0
    tf.profiler.experimental.stop()
    totals = op_times(logdir)
    kinds, events = collections.Counter(), collections.Counter()
    for (_, name), sec in totals.items():
        kinds[kind(name)] += sec
        events[name] += sec
    busy = sum(kinds.values())
    print(f"{args.n} steps, {wall / args.n:.3f} s/step wall, {busy / args.n:.3f} "
          f"s/step in traced ops (all threads); trace in {logdir}")
    for title, table in (("op kind", kinds), ("op", events)):
        print(f"\n{'s/step':>8} {'% ops':>6}  {title}")
        for name, sec in table.most_common(mine.top):
            print(f"{sec / args.n:8.4f} {100 * sec / busy:5.1f}%  {name[:100]}")
    if mine.out:
        lengths = list(model.memory_lengths)
        write_json(mine.out, args, lengths, wall, busy, kinds)


def write_json(path, args, lengths, wall, busy, kinds):
    """Per-step seconds by op kind, for bench/report.py."""
    import tensorflow as tf
    import driver
    import flops
    fwd = flops.fwd_flops_per_token(
        d_model=args.d_model, n_head=args.num_heads,
        d_head=args.d_model // args.num_heads, d_inner=args.d_ff,
        tgt_len=args.segment, batch=args.batch, vocab=args.vocab,
        mem_lens=lengths)[0]
    record = {
        "command": " ".join(["bench/.venv-peers/bin/python"] + sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "tf": tf.__version__,
        "machine": driver.machine(),
        "git": driver.git_state(),
        "steps": args.n,
        "wall_s_per_step": wall / args.n,
        "busy_s_per_step": busy / args.n,
        "tokens_per_step": args.batch * args.segment,
        "memory_lengths": lengths,
        "model_flops_per_token": 3.0 * fwd if args.mode == "train" else fwd,
        "kinds_s_per_step": {k: v / args.n for k, v in kinds.most_common()},
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)
    print("wrote", path)


if __name__ == "__main__":
    main()
