"""Per-op time of one keras_lrm worker step, from the TensorFlow profiler.

Builds the same model and step as keras_lrm_worker.py (same flags), warms
it up, traces --n steps with tf.profiler, and sums the host events of the
trace by name (XLA: the compiled kernels/thunks; --jit 0: the TF ops).
Prints the top entries as a share of the traced step time, and (with
`--jit 1`) ties each XLA op to the TensorFlow op it was compiled from: XLA
dumps its optimised HLO, whose `op_name` metadata names that op (e.g.
`gradient_tape/.../attention_1/strided_slice_6/StridedSliceGrad`).
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


def _hlo_dump_dir():
    """Where XLA writes its optimised HLO: set before TensorFlow loads."""
    flags = os.environ.get("XLA_FLAGS", "")
    given = re.search(r"--xla_dump_to=(\S+)", flags)
    if given:
        return given.group(1)
    path = tempfile.mkdtemp(prefix="lrm_hlo_")
    os.environ["XLA_FLAGS"] = (flags + f" --xla_dump_to={path} "
                               "--xla_dump_hlo_as_text "
                               "--xla_dump_hlo_pass_re=^$").strip()
    return path


HLO_DUMP = _hlo_dump_dir()
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


INSTRUCTION = re.compile(
    r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+) .*?op_name=\"([^\"]+)\"", re.M)


def hlo_sources(dump_dir):
    """XLA instruction name -> (shape, TF op name), from the largest module.

    The training step is the largest compiled module; instruction names are
    unique within it (and only there).
    """
    files = glob.glob(os.path.join(dump_dir, "*after_optimizations.txt"))
    if not files:
        return {}
    with open(max(files, key=os.path.getsize)) as f:
        text = f.read()
    return {m.group(1): (m.group(2).split("{")[0], m.group(3))
            for m in INSTRUCTION.finditer(text)}


def source_of(op_name):
    """`gradient_tape/stack_1/block_3_1/attention_1/concat` ->
    `backward: attention/concat` (one row for all blocks)."""
    side = "backward: " if op_name.startswith("gradient_tape/") else ""
    name = op_name.removeprefix("gradient_tape/")
    name = re.sub(r"^stack(_\d+)?/block_\d+(_\d+)?/", "", name)
    name = re.sub(r"(\w)_1/", r"\1/", name)  # Keras's scope suffix
    return side + name


def by_source(totals, sources, steps):
    """[kind, shape, source, s/step] rows, largest first."""
    rows = collections.Counter()
    for (_, name), sec in totals.items():
        if name in sources:
            shape, op_name = sources[name]
            rows[(kind(name), shape, source_of(op_name))] += sec / steps
    return [[*key, sec] for key, sec in rows.most_common()]


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
    sources = by_source(totals, hlo_sources(HLO_DUMP), args.n)
    if sources:
        print(f"\n{'s/step':>8} {'% ops':>6}  op kind, shape, TF op (all "
              f"blocks; HLO in {HLO_DUMP})")
        for k, shape, src, sec in sources[:mine.top]:
            print(f"{sec:8.4f} {100 * sec * args.n / busy:5.1f}%  {k} "
                  f"{shape} {src[:90]}")
    if mine.out:
        lengths = list(model.memory_lengths)
        write_json(mine.out, args, lengths, wall, busy, kinds, sources)


def write_json(path, args, lengths, wall, busy, kinds, sources):
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
        # [XLA op kind, shape, TF op it came from, s/step], largest first
        "sources_s_per_step": sources[:40],
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)
    print("wrote", path)


if __name__ == "__main__":
    main()
