"""Per-op time of one keras_lrm worker step, from the TensorFlow profiler.

Builds the same model and step as keras_lrm_worker.py (same flags), warms
it up, traces --n steps with tf.profiler, and sums the host events of the
trace by name (XLA: the compiled kernels/thunks; --jit 0: the TF ops).
Prints the top entries as a share of the traced step time, and (with
`--jit 1`) ties each XLA op to the TensorFlow op it was compiled from: XLA
dumps its optimised HLO, whose `op_name` metadata names that op (e.g.
`gradient_tape/.../attention_1/strided_slice_6/StridedSliceGrad`).
usage: python -m bench.profile_step --mem 512 --jit 1
       python -m bench.profile_step --mem 512 --jit 0
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

from bench import flops
from bench import keras_lrm_worker as worker
from bench import records


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
    hlo_dump = _hlo_dump_dir()  # before TensorFlow loads
    import keras
    import tensorflow as tf

    model = worker.build_model(args)
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
    print(f"{args.n} steps, {wall / args.n:.3f} s/step wall, "
          f"{busy / args.n:.3f} s/step in traced ops (all threads); trace in "
          f"{logdir}")
    for title, table in (("op kind", kinds), ("op", events)):
        print(f"\n{'s/step':>8} {'% ops':>6}  {title}")
        for name, sec in table.most_common(mine.top):
            print(f"{sec / args.n:8.4f} {100 * sec / busy:5.1f}%  "
                  f"{name[:100]}")
    sources = by_source(totals, hlo_sources(hlo_dump), args.n)
    if sources:
        print(f"\n{'s/step':>8} {'% ops':>6}  op kind, shape, TF op (all "
              f"blocks; HLO in {hlo_dump})")
        for k, shape, src, sec in sources[:mine.top]:
            print(f"{sec:8.4f} {100 * sec * args.n / busy:5.1f}%  {k} "
                  f"{shape} {src[:90]}")
    if mine.out:
        lengths = list(model.memory_lengths)
        write_json(mine.out, args, lengths, wall, busy, kinds, sources)


def write_json(path, args, lengths, wall, busy, kinds, sources):
    """Per-step seconds by op kind, for bench/report.py."""
    import tensorflow as tf
    fwd = flops.fwd_flops_per_token(
        d_model=args.d_model, n_head=args.num_heads,
        d_head=args.d_model // args.num_heads, d_inner=args.d_ff,
        tgt_len=args.segment, batch=args.batch, vocab=args.vocab,
        mem_lens=lengths)[0]
    record = {
        "command": " ".join(["python -m bench.profile_step"] + sys.argv[1:]),
        "date": records.utc_now(),
        "tf": tf.__version__,
        "machine": records.machine(),
        "git": records.git_state(),
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
    records.write_json(path, record)


# The report's section (bench/report.py): XLA CPU op kinds (`kind` names)
# by role.
LAYOUT = "layout (transpose, copy, concat, pad, slice)"
OP_ROLES = [
    ("matrix products",
     re.compile(r"(dot|gemm|matmul|conv|custom-call)", re.I)),
    (LAYOUT,
     re.compile(r"(transpose|copy|concat|pad|slice|reshape|bitcast)", re.I)),
    ("fused element-wise and reductions",
     re.compile(r"(fusion|reduce|select|exp|add|mul)", re.I))]


def ceiling_note(g):
    """The products-only worker's MFU, measured, where the group has it."""
    d = g["workers"].get("products_only_all512_xla", {})
    if not d.get("mfu"):
        return ""
    return (f" (op time summed over both threads counts overlapped work "
            f"twice; measured directly, the products alone made "
            f"{d['mfu']:.1%}, `products_only_all512_xla`)")


def report_section(path, groups):
    """What the time of one step goes to, and what that caps MFU at."""
    with open(path) as f:
        prof = json.load(f)
    roles = {name: 0.0 for name, _ in OP_ROLES}
    roles["other"] = 0.0
    for kind, sec in prof["kinds_s_per_step"].items():
        role = next((name for name, rx in OP_ROLES if rx.search(kind)),
                    "other")
        roles[role] += sec
    busy, wall = prof["busy_s_per_step"], prof["wall_s_per_step"]
    g, run = groups.get("mem512", (None, None))
    ours_w = g["workers"].get("keras_lrm_all512_xla", {}) if g else {}
    step = ours_w.get("median_step_s") or wall
    out = [f"`{prof['command']}` ({prof['date']}, TF {prof['tf']}, "
           f"{prof['steps']} steps traced; {wall:.3f} s/step with the "
           f"profiler on, {step:.3f} s/step median without it in group "
           f"mem512; memory lengths {prof['memory_lengths']}; file "
           f"{os.path.relpath(path, records.ROOT)})."]
    here = prof.get("machine", {}).get("cpu_model", "an unrecorded machine")
    there = run["machine"]["cpu_model"] if run else None
    if here != there:
        # Shares carry over between similar CPUs, speeds do not.
        out[0] += (f" Profiled on {here}; group mem512 ran on {there}: the "
                   f"shares are applied to that run, not its speeds.")
    out[0] += (" Op time summed over both threads, by role; the last column "
               "splits the unprofiled step time by the same shares:")
    out += ["", "| role | share of op time | ~ s of a step |",
            "|---|---|---|"]
    for role, sec in roles.items():
        out.append(f"| {role} | {sec / busy:.1%} | {step * sec / busy:.3f} |")
    top = sorted(prof["kinds_s_per_step"].items(), key=lambda kv: -kv[1])[:8]
    out += ["", "Largest op kinds: " + ", ".join(
        f"`{k}` {v / busy:.1%}" for k, v in top) + "."]
    sources = prof.get("sources_s_per_step")
    if sources:
        out += ["", "Largest ops by the TensorFlow op XLA compiled them from "
                "(the `op_name` of the optimised HLO; all blocks summed; "
                "`backward:` = gradient ops; shape of the op's output):", "",
                "| XLA op kind | shape | TensorFlow op | share of op time |",
                "|---|---|---|---|"]
        for kind, shape, src, sec in sources[:16]:
            out.append(f"| `{kind}` | `{shape}` | `{src}` | "
                       f"{sec / busy:.1%} |")
    ours = g and g["workers"].get("keras_lrm_all512_xla", {}).get("mfu")
    if ours:
        out += mfu_reading(g, ours, roles, busy, sources)
    return out


def mfu_reading(g, ours, roles, busy, sources):
    """What the profile's shares say about keras_lrm's MFU in group g."""
    share = roles["matrix products"] / busy
    peer = g["workers"].get(g.get("fastest_peer"), {})
    plain = g["workers"].get("keras_plain_nomem_xla", {})
    lay = roles[LAYOUT] / busy
    tied = (" (the table above ties each op to the TensorFlow op it came "
            "from)" if sources else " (XLA op names only, not tied to the "
            "TensorFlow ops they came from)")
    out = ["", f"Matrix products are {share:.0%} of the op time and layout "
           f"work {lay:.0%}{tied}. keras_lrm_all512_xla reached {ours:.1%} "
           f"MFU in group mem512; scaled by the products' share of the op "
           f"time that would be at most ~{ours / share:.0%} MFU if every "
           f"other op took no time{ceiling_note(g)}: the products themselves "
           f"run below the best matmul rate of the run.", ""]
    if peer.get("mfu"):
        line = (f"1.3x the fastest peer ({g['fastest_peer']}, "
                f"{peer['mfu']:.1%} MFU) means {1.3 * peer['mfu']:.1%} MFU")
        if plain.get("mfu"):
            line += (f"; the plain 6-layer transformer without memory "
                     f"reaches {plain['mfu']:.1%} in the same run")
        out += [line + ".", ""]
    small = g.get("matmul_flops", {}).get("mm_tf_xla_1024x256x1024")
    if small:
        out.append(f"Matmul rates measured in that group: "
                   f"{g['machine_peak_flops'] / 1e9:.1f} GFLOP/s at the best "
                   f"shape, {small / 1e9:.1f} GFLOP/s for 1024 x 256 x 1024 "
                   f"(this model's projection shape: batch x segment = 1024 "
                   f"rows, d_model 256).")
    return out


if __name__ == "__main__":
    main()
