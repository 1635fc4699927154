"""Tables of `python -m bench gpu` results; writes docs/benchmarks_gpu.md.

Ratios are medians of per-round ratios (both sides timed in the same
round). MFU: median tokens/s x model FLOPs per token (`flops.py`, training
= 3 x forward) over the best matmul round of the same group and precision.
"""
import json
import os
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "benchmarks_gpu.md")


def _reference(name, workers):
    """The worker a row is compared with, or None."""
    if name.startswith("keras_lrm12_long"):
        return "keras_lrm12_long12" if name != "keras_lrm12_long12" else None
    name = name.removesuffix("_unfused")
    if name.startswith("keras_lrm_all"):
        ref = "kerashub_xlnet_" + name[len("keras_lrm_all"):]
    elif name.startswith("keras_lrm_rr"):
        ref = "kerashub_xlnet_512"
    else:
        return None
    return ref if ref in workers else None


def write_json(path, obj):
    """Writes `obj` to `path` through a temporary name (never half-written)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def _paired(a, b):
    return statistics.median(x / y for x, y in zip(a, b))


def rows(res):
    """Dicts: name, lengths, tokens/s, ratio to its reference, MFU, ..."""
    workers = res["workers"]
    peak = max((max(w["units_per_s_rounds"]) * w["flops_per_unit"]
                for w in workers.values() if w["kind"] == "matmul"),
               default=None)
    out = []
    for name, w in workers.items():
        speed = statistics.median(w["units_per_s_rounds"])
        row = dict(name=name, kind=w["kind"], speed=speed,
                   flops=w["flops_per_unit"], temp_mb=w.get("temp_mb"),
                   compile_s=w.get("compile_s"), ref=_reference(name, workers))
        if w["kind"] == "matmul":
            row["tflops"] = speed * w["flops_per_unit"] / 1e12
        elif peak:
            row["mfu"] = speed * w["flops_per_unit"] / peak
        if row["ref"]:
            ref = workers[row["ref"]]
            row["ratio"] = _paired(w["units_per_s_rounds"],
                                   ref["units_per_s_rounds"])
            if name.startswith("keras_lrm12"):
                # Table 1: time ratio all-long / this, against FLOP ratio
                row["flop_ratio"] = ref["flops_per_unit"] / w["flops_per_unit"]
        twin = workers.get(name + "_unfused")
        if twin:
            row["fused_ratio"] = _paired(w["units_per_s_rounds"],
                                         twin["units_per_s_rounds"])
        row["cudnn"] = w.get("cudnn_attention")
        row["lengths"] = ",".join(map(str, w["mem_lens"]))
        out.append(row)
    return out


def group_table(group, res):
    cfg = res["config"]
    rounds = len(next(iter(res["workers"].values()))["units_per_s_rounds"])
    lines = [f"\n### {group}: {cfg['n_layer']} layers, batch {cfg['batch']},"
             f" segment {cfg['tgt_len']}, {res['policy']}, "
             f"{rounds} rounds x {res['steps']} steps\n",
             "| worker | memory per layer | tokens/s | ratio | vs | MFU | "
             "XLA temp MB | compile s | cuDNN attention |",
             "|---|---|---|---|---|---|---|---|---|"]
    fused = []
    for r in rows(res):
        if r["kind"] == "matmul":
            lines.append(f"| {r['name']} (8192^3) | | "
                         f"{r['tflops']:.1f} TFLOP/s | | | | | | |")
            continue
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else ""
        if "flop_ratio" in r:
            ratio += f" (FLOPs {r['flop_ratio']:.2f})"
        mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else ""
        lines.append(
            f"| {r['name']} | {r['lengths']} | {r['speed']:,.0f} | {ratio} "
            f"| {r['ref'] or ''} | {mfu} | {r['temp_mb'] or ''} "
            f"| {r['compile_s'] or ''} | {_yes_no(r['cudnn'])} |")
        if "fused_ratio" in r:
            fused.append(f"{r['name']} {r['fused_ratio']:.2f}x")
    if fused:
        lines.append("\nFused over `_unfused` twin (paired, same rounds): "
                     + ", ".join(fused) + ".")
    return "\n".join(lines)


def _yes_no(flag):
    return "" if flag is None else ("yes" if flag else "no")


def profile_table(profile):
    """Markdown rows of `python -m bench gpu-profile` results."""
    kinds = ("matmul", "fusion", "reduce", "transpose/copy", "other")
    lines = ["| group | worker | wall ms/step | GPU busy | kernels/step | "
             "mean us/kernel | " + " | ".join(f"{k} ms" for k in kinds)
             + " |", "|---" * (6 + len(kinds)) + "|"]
    for p in profile["profiles"]:
        kernel_ms = p["kernel_ms_per_step"]
        shares = p["share_by_kind"]
        lines.append(
            f"| {p['group']} | {p['worker']} | {p['wall_ms_per_step']:.2f} "
            f"| {100 * p['busy_ms_per_step'] / p['wall_ms_per_step']:.0f}% "
            f"| {p['kernels_per_step']:.0f} "
            f"| {1e3 * kernel_ms / p['kernels_per_step']:.1f} | "
            + " | ".join(f"{kernel_ms * shares.get(k, 0.0):.2f}"
                         for k in kinds) + " |")
    return "\n".join(lines)


def _run_header(result, path, root):
    m = result["machine"]
    return [
        "", f"## Run `{os.path.relpath(path, root)}`", "",
        f"- Device: {m['device']} ({m['platform']}); JAX {m['jax']}, Keras "
        f"{m['keras']}, keras-hub {m['keras_hub']}, Python {m['python']}; "
        f"`jax_default_matmul_precision`: {m['matmul_precision']} (None: "
        f"XLA's default, float32 products may use TF32 on the GPU).",
        f"- Commit {m['commit']}, {result['date']}.",
        f"- Command: `KERAS_BACKEND=jax {result['command']}`"]


def _check_table(check, path, root):
    """Rows of `python -m bench gpu-check`: fused against unfused errors."""
    names = check["names"]
    lines = ["", f"## Fused path check `{os.path.relpath(path, root)}`", "",
             f"{check['device']}"
             + (f", commit {check['machine']['commit']}, {check['date']}"
                if check.get("machine", {}).get("commit") else "")
             + ", one MemoryAttention layer "
             f"{check['shape']}, memory partly filled, under `jax.jit`. "
             "Each entry: max |path - float32 unfused| / max |float32 "
             "unfused|, for the output and every gradient.", "",
             "| path | cuDNN attention | " + " | ".join(
                 n.split("/")[-1] for n in names) + " |",
             "|---" * (2 + len(names)) + "|"]
    for label, res in check["paths"].items():
        errors = res["max_error_over_max_fp32"]
        lines.append(f"| {label} | {_yes_no(res['cudnn_attention'])} | "
                     + " | ".join(f"{errors[n]:.4f}" for n in names) + " |")
    return lines


def write(paths, doc=DOC, profile_paths=(), notes_paths=(), check_paths=()):
    """docs/benchmarks_gpu.md from result JSONs (+ profiles, checks, notes).

    Runs are listed in the order given; readings (notes) come first.
    """
    root = ROOT
    text = [
        "# keras_lrm on a GPU: benchmark (Keras 3 on JAX)",
        "",
        "Generated by `python -m bench gpu --report` from the files named "
        "below; do not edit by hand. Commands are as each run recorded "
        "them: the scripts they name are now commands of `python -m bench` "
        "(bench/README.md, \"Older commands\").",
        "",
        "Work as in `docs/benchmarks.md` (training step with Adam, memory "
        "carried step to step, 6 layers, d_model 256, 4 heads x 64, d_ff "
        "1024, segment 128, vocab 256, tied softmax, dropout 0), every model "
        "in one process and one jitted JAX step, interleaved round by round.",
        "Ratio: median of per-round ratios against the `vs` worker (Table 1: "
        "time per token of all-long over this row, beside the FLOP ratio). "
        "XLA temp MB: the compiled step's scratch memory (activations and "
        "workspace) from `memory_analysis()`. cuDNN attention: whether the "
        "compiled step calls cuDNN's fused attention.",
    ]
    for notes_path in notes_paths:
        with open(notes_path) as f:
            text += ["", f"## Reading (`{os.path.relpath(notes_path, root)}`)",
                     "", f.read().strip()]
    for path in paths:
        with open(path) as f:
            result = json.load(f)
        text += _run_header(result, path, root)
        for group, res in result["groups"].items():
            text.append(group_table(group, res))
    for check_path in check_paths:
        with open(check_path) as f:
            text += _check_table(json.load(f), check_path, root)
    for profile_path in profile_paths:
        with open(profile_path) as f:
            profile = json.load(f)
        pm = profile["machine"]
        text += [
            "", f"## Profile `{os.path.relpath(profile_path, root)}`", "",
            f"{pm['device']}, commit {pm['commit']}, {profile['date']}. "
            f"Command: `KERAS_BACKEND=jax python3 {profile['command']}`", "",
            "Wall time per step without the profiler; kernel time from the "
            "GPU plane of a `jax.profiler` trace, by kernel name (matmul: "
            "cuBLAS/cuDNN/Triton GEMM kernels, cuDNN's flash attention "
            "kernels included, its `fmha_dbias` kernel counts as fusion; "
            "fusion: XLA loop/input fusions; reduce: reductions, softmax, "
            "norms; transpose/copy: layout kernels). GPU busy: union of "
            "kernel intervals over the wall time.", "",
            profile_table(profile)]
    tmp = doc + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(text) + "\n")
    os.replace(tmp, doc)
    print(f"wrote {doc}")
