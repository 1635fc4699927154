#!/usr/bin/env python3
"""Writes docs/benchmarks.md and docs/benchmarks.png from driver results.

Every number comes from the result JSONs given (a later file's group
replaces the same group of an earlier one), except the anchor figures of
the reference PyTorch Transformer-XL, which are quoted from another run and
labelled so.
usage: python -m bench report bench/results/<stamp>.json [more.json ...]
"""
import glob
import json
import os
import statistics
import sys

from bench import ab
from bench import plot
from bench import products
from bench import profile_step

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

DOC = os.path.join(ROOT, "docs", "benchmarks.md")
PNG = os.path.join(ROOT, "docs", "benchmarks.png")
# (what, target, group, worker) for the throughput goals
RATIO_GOALS = [
    ("1. all layers memory 512: keras_lrm / fastest peer", 1.3, "mem512",
     "keras_lrm_all512_xla"),
    ("1. all layers memory 128: keras_lrm / fastest peer", 1.2, "mem128",
     "keras_lrm_all128_xla"),
    ("2. Rae & Razavi, long 512 top + short 64: / fastest peer all-512", 2.0,
     "rr", "keras_lrm_rr64_xla"),
    ("2. Rae & Razavi, long 512 top + short 128: / fastest peer all-512", 2.0,
     "rr", "keras_lrm_rr128_xla"),
]
MFU_GOAL = ("1. all layers memory 512: keras_lrm MFU", 0.60, "mem512",
            "keras_lrm_all512_xla")
TABLE1_GOAL = 0.90
ANCHORS = """\
Anchor figures **from another run** (the company peer harness, 2 interleaved
runs on a 2-core CPU box of the same kind, 2026-11-22; \
shared/bench/peers/README.md),
not measured here: reference PyTorch Transformer-XL (kimiyoung/transformer-xl
`MemTransformerLM`, CPU torch) with torch.compile 926 tokens/s at memory 512
(44.8% MFU) and 1741 at 128; eager 884 and 1678. In that run the TF Model
Garden TransformerXL (XLA) reached 899 / 1614 and keras-hub XLNetEncoder (XLA)
871 / 1630: the reference was 3% (512) and 7% (128) faster than the fastest
TF peer, so had it run here at that relative speed, the ratios to the fastest
peer above would be that much lower."""


def load(paths):
    """{group: (group result, run)} with later files winning."""
    groups, runs = {}, []
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        run["path"] = os.path.relpath(path, ROOT)
        runs.append(run)
        for g in run["groups"]:
            groups[g["group"]] = (g, run)
    return groups, runs


def spread(values):
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def verdict(value, target, unit="x"):
    if value is None:
        return "not measured"
    if value >= target:
        return f"PASS (by {value - target:+.2f}{unit})"
    return (f"MISS by {target - value:.2f}{unit} "
            f"({value / target:.0%} of target)")


def load_note(d):
    """Flags a result resting on fewer than 3 rounds free of other load."""
    f = d.get("foreign_load_per_round", [])
    clean = sum(x < 0.05 for x in f)
    if not f or clean >= 3:
        return ""
    return (f"; **{clean} of {len(f)} rounds free of other load: "
            f"indicative only**")


def workers_of(groups, group):
    return groups.get(group, ({},))[0].get("workers", {})


def goal_rows(groups):
    rows = ["| goal | measured | target | result |", "|---|---|---|---|"]
    for what, target, group, name in RATIO_GOALS:
        g = groups.get(group, ({},))[0]
        d = g.get("workers", {}).get(name, {})
        v = d.get("ratio_to_fastest_peer")
        note = ""
        if v is not None:
            per_round = d.get("ratio_to_fastest_peer_per_round", [])
            note = (f" vs {g.get('fastest_peer')} (rounds "
                    f"{spread(per_round)}){load_note(d)}")
        rows.append(f"| {what} | {fmt(v, '.2f')}{'x' if v else ''}{note} "
                    f"| >= {target}x | {verdict(v, target)} |")
    what, target, group, name = MFU_GOAL
    d = workers_of(groups, group).get(name, {})
    v = d.get("mfu")
    rows.append(f"| {what} | {fmt(v and v * 100, '.1f')}%{load_note(d)} "
                f"| >= {target:.0%} | "
                f"{verdict(v and v * 100, target * 100, ' points')} |")
    t1 = table1_summary(groups)
    if t1:
        v = t1["fraction"]
        rows.append(f"| 3. Table 1: time ratio all-12 / 2 long memories vs "
                    f"FLOP ratio | {t1['measured']:.3f} / {t1['flop']:.3f} "
                    f"= {v:.0%} (rounds {spread(t1['rounds'])}){t1['note']} "
                    f"| >= {TABLE1_GOAL:.0%} | "
                    f"{verdict(v * 100, TABLE1_GOAL * 100, ' points')} |")
    return rows


def ceiling_rows(groups):
    """Each throughput goal against the products-only workers of its group
    (bench/products.py): how much of that ceiling the target needs and how
    much keras_lrm's full step reaches."""
    rows = ["| goal | keras_lrm tokens/s | products only, XLA: tokens/s "
            "(/ fastest peer) | products only, TF kernels: tokens/s "
            "(/ fastest peer) | target needs, of the XLA products-only "
            "throughput | keras_lrm reaches |",
            "|---|---|---|---|---|---|"]
    for what, target, group, name in RATIO_GOALS:
        w = workers_of(groups, group)
        d = w.get(name, {})
        xla = w.get(name.replace("keras_lrm_", "products_only_"), {})
        graph = w.get(name.replace("keras_lrm_", "products_only_")
                      .replace("_xla", "_graph"), {})
        if "tokens_per_s" not in d or "ratio_to_fastest_peer" not in xla:
            continue

        def cell(c):
            if "tokens_per_s" not in c:
                return "-"
            return (f"{c['tokens_per_s']:.0f} "
                    f"({c['ratio_to_fastest_peer']:.2f}x)")
        bound = xla["ratio_to_fastest_peer"]
        rows.append(f"| {what.split(':')[0]} | {d['tokens_per_s']:.0f} | "
                    f"{cell(xla)} | {cell(graph)} | {target / bound:.0%} | "
                    f"{d['ratio_to_fastest_peer'] / bound:.0%} |")
    if len(rows) == 2:
        return []
    w = workers_of(groups, "mem512")
    plain = w.get("keras_plain_nomem_xla", {})
    bound = w.get("products_only_plain_nomem_xla", {})
    if "tokens_per_s" in plain and "tokens_per_s" in bound:
        share = plain["tokens_per_s"] / bound["tokens_per_s"]
        rows += ["", f"The plain no-memory transformer "
                 f"(`keras_plain_nomem_xla`, Keras layers, XLA) reaches "
                 f"{share:.0%} of its own products-only throughput "
                 f"(`products_only_plain_nomem_xla`) in group mem512."]
    return ["", "Against the step's matrix products alone (`products_only_*` "
            "workers, bench/products.py: the same products, forward and "
            "backward, at the model's shapes, with no softmax, norm, layout, "
            "loss or optimizer work; measured in the same rounds). The share "
            "columns are ratios to the fastest peer divided by the XLA "
            "ceiling's: what fraction of the products-only throughput a full "
            "step needs for the target, and what keras_lrm's XLA step "
            "reaches.", ""] + rows


def table1_summary(groups):
    g = groups.get("table1", (None,))[0]
    if not g:
        return None
    w = g["workers"]
    a = w.get("keras_lrm12_long12_xla", {})
    b = w.get("keras_lrm12_long2_xla", {})
    if "median_step_s" not in a or "median_step_s" not in b:
        return None
    rounds = g.get("ratio_all_to_config_per_round", {}).get(
        "keras_lrm12_long2_xla", [])
    measured = (statistics.median(rounds) if rounds
                else a["median_step_s"] / b["median_step_s"])
    flop = a["model_flops_per_token"] / b["model_flops_per_token"]
    return {"measured": measured, "flop": flop, "fraction": measured / flop,
            "rounds": rounds, "note": load_note(a) or load_note(b)}


def mb(v):
    return fmt(v, ".0f")


def xla_mb(d):
    x = d.get("xla_memory")
    return f"{x['xla_temp_mb']:.0f} / {x['xla_total_mb']:.0f}" if x else "-"


def percent(v):
    return fmt(v and v * 100, ".1f") + "%"


def group_table(g):
    peak = g.get("machine_peak_flops")
    rates = ", ".join(f"{k} {v / 1e9:.1f}"
                      for k, v in g["matmul_flops"].items())
    lines = [f"Best matmul in this group: {fmt(peak and peak / 1e9, '.1f')} "
             f"GFLOP/s ({rates}); fastest peer: {g.get('fastest_peer')}; "
             f"group took {g['wall_s'] / 60:.1f} min.", "",
             "| worker | tokens/s | / fastest peer (median; per-round "
             "range) | MFU | model MFLOP/token | step s min/med/max | clean "
             "rounds | peak RSS MB: build+compile / steps | XLA step buffers "
             "MB: temp / total |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, d in g["workers"].items():
        if "error" in d:
            lines.append(f"| {name} | failed: {d['error']} ||||||||")
            continue
        rss = (f"{mb(d.get('peak_rss_warm_mb'))} / "
               f"{mb(d.get('peak_rss_steps_mb'))}")
        clean = sum(f < 0.05 for f in d["foreign_load_per_round"])
        clean = f"{clean}/{len(d['round_medians_s'])}"
        steps = (f"{d['min_step_s']:.3f}/{d['median_step_s']:.3f}/"
                 f"{d['max_step_s']:.3f}")
        if d["role"] == "mm":
            lines.append(f"| {name} | {d['gflops']:.1f} GFLOP/s | | | | "
                         f"{steps} | {clean} | {rss} | |")
            continue
        r = d.get("ratio_to_fastest_peer")
        ratio = (f"{r:.2f} ({spread(d['ratio_to_fastest_peer_per_round'])})"
                 if r else "-")
        lines.append(f"| {name} | {d['tokens_per_s']:.0f} | {ratio} | "
                     f"{percent(d.get('mfu'))} | "
                     f"{d['model_flops_per_token'] / 1e6:.2f} | {steps} | "
                     f"{clean} | {rss} | {xla_mb(d)} |")
    return lines


def env_lines(g):
    """The environment a worker ran under beyond the run's own (if any)."""
    lines = [f"- `{name}` ran with "
             + ", ".join(f"`{k}={v}`" for k, v in d["env"].items())
             for name, d in g["workers"].items() if d.get("env")]
    return [""] + lines if lines else []


def table1_table(g):
    w = g["workers"]
    base = w.get("keras_lrm12_long12_xla", {})
    rounds = g.get("ratio_all_to_config_per_round", {})
    lines = ["| long-memory layers | memory lengths (bottom first) | "
             "time/token us | measured time ratio all / this (rounds) | "
             "FLOP ratio all / this | train MFLOP/token | MFU | RSS MB: "
             "after build / peak of steps / peak with compile | XLA step "
             "buffers MB: temp / total | memory state MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n in (12, 6, 2, 1, 0):
        d = w.get(f"keras_lrm12_long{n}_xla")
        if not d or "error" in d:
            lines.append(f"| {n} | {d.get('error') if d else 'not run'} "
                         f"|||||||||")
            continue
        info = d["info"]
        r = rounds.get(f"keras_lrm12_long{n}_xla", [])
        meas = statistics.median(r) if r else None
        flops = d["model_flops_per_token"]
        fr = base.get("model_flops_per_token", float("nan")) / flops
        lines.append(
            f"| {n} | {','.join(map(str, info['mem_lens']))} | "
            f"{1e6 / d['tokens_per_s']:.0f} | {fmt(meas, '.3f')} "
            f"({spread(r)}) | {fr:.3f} | {flops / 1e6:.1f} | "
            f"{percent(d.get('mfu'))} | "
            f"{mb(d.get('rss_after_build_mb'))} / "
            f"{mb(d.get('peak_rss_steps_mb'))} / "
            f"{mb(d.get('peak_rss_warm_mb'))} | {xla_mb(d)} | "
            f"{info['memory_state_bytes'] / 2**20:.1f} |")
    return lines


def stream_table(g):
    lines = ["| configuration | mode | tokens/s | step s (median) | ms per "
             "call | memory lengths | memory state bytes |",
             "|---|---|---|---|---|---|---|"]
    for name, d in g["workers"].items():
        if d["role"] == "mm":
            continue
        if "error" in d:
            lines.append(f"| {name} | failed: {d['error']} ||||||")
            continue
        info = d["info"]
        calls = info["gen_tokens"] if d["mode"] == "generate" else 1
        step = d["median_step_s"]
        lines.append(f"| {name} | {d['mode']} | {d['tokens_per_s']:.0f} | "
                     f"{step:.3f} | {step / calls * 1e3:.1f} | "
                     f"{','.join(map(str, info['mem_lens']))} | "
                     f"{info['memory_state_bytes']:,} |")
    return lines


def versions(runs):
    seen = {}
    keys = ("tf", "keras", "tf_keras", "keras_hub", "models", "keras_lrm")
    for run in runs:
        for g in run["groups"]:
            for d in g["workers"].values():
                for k in keys:
                    if d.get("info") and k in d["info"]:
                        seen.setdefault(k, d["info"][k])
    return ", ".join(f"{k} {v}" for k, v in seen.items())


def run_lines(runs, groups):
    lines = []
    for run in runs:
        used = [g for g, (_, r) in groups.items() if r is run]
        if not used:
            continue
        m, gs, s = run["machine"], run["git"], run["settings"]
        dirty = gs["keras_lrm_uncommitted"]
        state = (f"; uncommitted keras_lrm changes: {', '.join(dirty)}"
                 if dirty else "; keras_lrm clean")
        lines += [f"- **{run['path']}** (groups {', '.join(used)}), "
                  f"{run['date']}, {run['wall_s'] / 60:.1f} min:",
                  f"  `{run['command']}`",
                  f"  - settings: {s['rounds']} rounds x {s['steps']} steps, "
                  f"{s['warm']} warm-up steps"
                  f"{' (quick mode)' if s['quick'] else ''}",
                  f"  - git {gs['commit'][:12]}; keras_lrm sources sha256 "
                  f"{gs['keras_lrm_sha256']}{state}",
                  f"  - machine: {m['cpu_model']}, {m['cores']} cores, "
                  f"{m['mem_total']}, Linux {m['kernel']}, "
                  f"Python {m['python']}"]
    return lines + [f"- versions: {versions(runs)}"]


def failed_lines(groups):
    out = []
    for gname, (g, _) in groups.items():
        out += [f"- {gname}/{n}: {d['error']}"
                for n, d in g["workers"].items() if "error" in d]
    return out


def readings(paths):
    """Hand-written notes on a run: `<result>.notes.md` beside its JSON."""
    out = []
    for path in paths:
        notes = path[:-len(".json")] + ".notes.md"
        if path.endswith(".json") and os.path.exists(notes):
            with open(notes) as f:
                out += ["", f"### Reading of {os.path.relpath(notes, ROOT)}",
                        "", f.read().strip()]
    return out


INTRO = (
    "Generated by `bench/report.py` from the result files below; do not "
    "edit by hand (see bench/README.md to re-run). Work: training step "
    "(forward, backward, Adam), 6 layers, d_model 256, 4 heads x 64, d_ff "
    "1024, segment 128, batch 8, vocab 256, tied softmax, dropout 0, fp32, "
    "memory carried step to step; synthetic tokens. All ratios are within "
    "one interleaved run (per-round paired step times). The same work on an "
    "H100 GPU (Keras 3 on JAX): docs/benchmarks_gpu.md. Commands are as "
    "each run recorded them; the scripts they name are now commands of "
    "`python -m bench`, run from the repository root (bench/README.md, "
    "\"Older commands\").")
TITLES = {
    "mem512": "Every layer memory 512",
    "mem128": "Every layer memory 128",
    "rr": "Rae & Razavi: one long memory of 512 at the top, short 64 / 128 "
          "below",
    "modes512": "Execution modes, every layer memory 512",
    "modes128": "Execution modes, every layer memory 128"}
STREAM = (
    "eval: forward + loss over a 128-token segment; generate: one call per "
    "token (time = 1) for 8 streams, 16 calls per timed step, argmax fed "
    "back. Memory state = sum over layers of batch x M_l x d_model x 4 "
    "bytes + the int32 `filled` counter (batch x 4). `_cache` rows carry the "
    "key/value cache (`call_with_cache`: each memory row's key and value as "
    "projected when it was written, so twice the bytes) instead of the "
    "memory state, whose rows every call projects again; both give the same "
    "logits.")
NOT_RUN = (
    "- Reference PyTorch Transformer-XL: not available on this machine "
    "(bench/driver.py runs it only when bench/peers/peer_torch_txl.py and "
    "bench/.venv-torch exist).")
METHOD = [
    "- Interleaving, idle wait and re-measurement: bench/interleave.py. A "
    "round's value is the median of its steps; tokens/s uses the median over "
    "clean rounds (other processes < 5% of the CPUs), ratios the median of "
    "per-round ratios.",
    "- MFU = tokens/s x model FLOPs/token / best matmul GFLOP/s measured in "
    "the same group (bench/flops.py: training = 3 x forward; causal masking "
    "not discounted).",
    "- Peak RSS: each configuration runs in its own process. `build+compile` "
    "is ru_maxrss after the warm-up steps (includes tracing and XLA "
    "compilation); `steps` is VmHWM over the timed steps only (the mark is "
    "reset after warm-up via /proc/self/clear_refs). Both include the "
    "TensorFlow runtime, weights, Adam slots and allocator caching, so "
    "differences between configurations are what they show. `XLA step "
    "buffers` is exact for the compiled step: XLA's buffer assignment "
    "(`--xla_dump_to`), `temp` = the preallocated temporaries (activations "
    "kept for backward, gradients, workspace; the peak of what is live at "
    "once), `total` adds arguments and outputs (weights, Adam slots, memory "
    "in and out). tf.config.experimental.get_memory_info is not available "
    "for the CPU device."]


def ab_section(paths):
    """The keep-or-drop A/B runs (`python -m bench ab --base ...`)."""
    out = ["Old checkout against new on the same worker step "
           "(`python -m bench ab`, bench/README.md): per group, the two "
           "sides' workers interleaved round by round; the ratio is new / "
           "old throughput, the median of per-round ratios, and a group "
           f"passes within {ab.TOLERANCE:.0%}."]
    for path in paths:
        with open(path) as f:
            result = json.load(f)
        s, m = result["settings"], result["machine"]
        old, new = result["base"], result["this"]
        dirty = (" with uncommitted keras_lrm changes"
                 if new["keras_lrm_uncommitted"] else "")
        out += ["", f"**{os.path.relpath(path, ROOT)}**, {result['date']}: "
                f"old {old['commit'][:12]} against new "
                f"{new['commit'][:12]}{dirty}; {s['rounds']} rounds x "
                f"{s['steps']} steps; {m['cpu_model']}, {m['cores']} cores. "
                f"`{result['command']}`", ""]
        out += ab.markdown(result)
    return out


def main(paths):
    groups, runs = load(paths)
    md = ["# Benchmarks: keras_lrm against Transformer-XL peers", "", INTRO,
          "", "## Runs", ""] + run_lines(runs, groups)
    md += ["", "## Goals", ""] + goal_rows(groups) + ceiling_rows(groups)
    md += readings(paths)
    profiles = sorted(glob.glob(os.path.join(HERE, "results",
                                             "profile-*.json")))
    if profiles:
        md += ["", "What limits a missed goal is measured in \"Where the "
               "time of a memory-512 step goes\" below."]
    for gname, title in TITLES.items():
        if gname in groups:
            md += ["", f"## {title} (group `{gname}`)", ""]
            md += group_table(groups[gname][0]) + env_lines(groups[gname][0])
    if "table1" in groups:
        g = groups["table1"][0]
        peak = g["machine_peak_flops"] and g["machine_peak_flops"] / 1e9
        md += ["", "## Table 1: 12 layers, long memory 512 (interleaved), "
               "short 128", "",
               f"Group took {g['wall_s'] / 60:.1f} min; best matmul "
               f"{fmt(peak, '.1f')} GFLOP/s. FLOP ratio from bench/flops.py "
               f"(per-layer memory lengths).", ""] + table1_table(g)
    if "stream" in groups:
        md += ["", "## Streaming: evaluation and one-token generation, "
               "memory carried", "", STREAM, ""]
        md += stream_table(groups["stream"][0])
    if profiles:
        md += ["", "## Where the time of a memory-512 step goes (profile)",
               ""]
        md += profile_step.report_section(profiles[-1], groups)
    rates = sorted(glob.glob(os.path.join(HERE, "results", "rates-*.json")))
    if rates:
        md += ["", "### The products: XLA against TensorFlow's kernels", ""]
        md += products.rates_section(rates)
    checks = sorted(glob.glob(os.path.join(HERE, "results", "ab-*.json")))
    if checks:
        md += ["", "## Keep-or-drop A/B: old checkout against new", ""]
        md += ab_section(checks)
    md += ["", "## Peers not run here", "", NOT_RUN, *failed_lines(groups),
           "", ANCHORS]
    md += ["", "## Method", "", *METHOD, "",
           "![throughput and Table 1](benchmarks.png)", ""]
    with open(DOC, "w") as f:
        f.write("\n".join(md))
    plot.write(PNG, groups)
    print("wrote", DOC, "and", PNG)


if __name__ == "__main__":
    main(sys.argv[1:])
