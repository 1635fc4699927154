#!/usr/bin/env python3
"""Writes docs/benchmarks.md and docs/benchmarks.png from driver results.

Every number comes from the result JSONs given (a later file's group
replaces the same group of an earlier one), except the anchor figures of
the reference PyTorch Transformer-XL, which are quoted from another run and
labelled so.
usage: python3 bench/report.py bench/results/<stamp>.json [more.json ...]
"""
import glob
import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import plot  # noqa: E402
import product_rates  # noqa: E402

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
runs on a 2-core CPU box of the same kind, 2026-11-22; shared/bench/peers/README.md),
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
    return f"MISS by {target - value:.2f}{unit} ({value / target:.0%} of target)"


def load_note(d):
    """Flags a result resting on fewer than 3 rounds free of other load."""
    f = d.get("foreign_load_per_round", [])
    clean = sum(x < 0.05 for x in f)
    if not f or clean >= 3:
        return ""
    return f"; **{clean} of {len(f)} rounds free of other load: indicative only**"


def goal_rows(groups):
    rows = ["| goal | measured | target | result |", "|---|---|---|---|"]
    for what, target, group, name in RATIO_GOALS:
        g = groups.get(group, ({},))[0]
        d = g.get("workers", {}).get(name, {})
        v = d.get("ratio_to_fastest_peer")
        note = f" vs {g.get('fastest_peer')} (rounds {spread(d.get('ratio_to_fastest_peer_per_round', []))})" \
            f"{load_note(d)}" if v is not None else ""
        rows.append(f"| {what} | {fmt(v, '.2f')}{'x' if v else ''}{note} | >= {target}x | {verdict(v, target)} |")
    what, target, group, name = MFU_GOAL
    d = groups.get(group, ({},))[0].get("workers", {}).get(name, {})
    v = d.get("mfu")
    rows.append(f"| {what} | {fmt(v and v * 100, '.1f')}%{load_note(d)} | >= {target:.0%} | "
                f"{verdict(v and v * 100, target * 100, ' points')} |")
    t1 = table1_summary(groups)
    if t1:
        v = t1["fraction"]
        rows.append(f"| 3. Table 1: time ratio all-12 / 2 long memories vs FLOP ratio | "
                    f"{t1['measured']:.3f} / {t1['flop']:.3f} = {v:.0%} "
                    f"(rounds {spread(t1['rounds'])}){t1['note']} | >= {TABLE1_GOAL:.0%} | "
                    f"{verdict(v * 100, TABLE1_GOAL * 100, ' points')} |")
    return rows


def ceiling_rows(groups):
    """Each throughput goal against the products-only workers of its group
    (products_worker.py): how much of that ceiling the target needs and how
    much keras_lrm's full step reaches."""
    rows = ["| goal | keras_lrm tokens/s | products only, XLA: tokens/s (/ fastest peer) | "
            "products only, TF kernels: tokens/s (/ fastest peer) | target needs, "
            "of the XLA products-only throughput | keras_lrm reaches |",
            "|---|---|---|---|---|---|"]
    for what, target, group, name in RATIO_GOALS:
        w = groups.get(group, ({},))[0].get("workers", {})
        d = w.get(name, {})
        xla = w.get(name.replace("keras_lrm_", "products_only_"), {})
        graph = w.get(name.replace("keras_lrm_", "products_only_")
                      .replace("_xla", "_graph"), {})
        if "tokens_per_s" not in d or "ratio_to_fastest_peer" not in xla:
            continue

        def cell(c):
            if "tokens_per_s" not in c:
                return "-"
            return f"{c['tokens_per_s']:.0f} ({c['ratio_to_fastest_peer']:.2f}x)"
        rows.append(f"| {what.split(':')[0]} | {d['tokens_per_s']:.0f} | {cell(xla)} | "
                    f"{cell(graph)} | {target / xla['ratio_to_fastest_peer']:.0%} | "
                    f"{d['ratio_to_fastest_peer'] / xla['ratio_to_fastest_peer']:.0%} |")
    if len(rows) == 2:
        return []
    w = groups.get("mem512", ({},))[0].get("workers", {})
    plain, bound = w.get("keras_plain_nomem_xla", {}), w.get("products_only_plain_nomem_xla", {})
    if "tokens_per_s" in plain and "tokens_per_s" in bound:
        rows += ["", f"The plain no-memory transformer (`keras_plain_nomem_xla`, Keras layers, "
                 f"XLA) reaches {plain['tokens_per_s'] / bound['tokens_per_s']:.0%} of its own "
                 f"products-only throughput (`products_only_plain_nomem_xla`) in group mem512."]
    return ["", "Against the step's matrix products alone (`products_only_*` workers, "
            "bench/products_worker.py: the same products, forward and backward, at the "
            "model's shapes, with no softmax, norm, layout, loss or optimizer work; "
            "measured in the same rounds). The share columns are ratios to the fastest "
            "peer divided by the XLA ceiling's: what fraction of the products-only "
            "throughput a full step needs for the target, and what keras_lrm's XLA step "
            "reaches.", ""] + rows


def table1_summary(groups):
    g = groups.get("table1", (None,))[0]
    if not g:
        return None
    w = g["workers"]
    a, b = w.get("keras_lrm12_long12_xla", {}), w.get("keras_lrm12_long2_xla", {})
    if "median_step_s" not in a or "median_step_s" not in b:
        return None
    rounds = g.get("ratio_all_to_config_per_round", {}).get("keras_lrm12_long2_xla", [])
    measured = statistics.median(rounds) if rounds else a["median_step_s"] / b["median_step_s"]
    flop = a["model_flops_per_token"] / b["model_flops_per_token"]
    return {"measured": measured, "flop": flop, "fraction": measured / flop,
            "rounds": rounds, "note": load_note(a) or load_note(b)}


# XLA CPU op kinds (profile_step.py names, numeric suffix dropped) by role.
OP_ROLES = [("matrix products", re.compile(r"(dot|gemm|matmul|conv|custom-call)", re.I)),
            ("layout (transpose, copy, concat, pad, slice)",
             re.compile(r"(transpose|copy|concat|pad|slice|reshape|bitcast)", re.I)),
            ("fused element-wise and reductions", re.compile(r"(fusion|reduce|select|exp|add|mul)", re.I))]


def ceiling_note(g):
    """The products-only worker's MFU, measured, where the group has it."""
    d = g["workers"].get("products_only_all512_xla", {})
    if not d.get("mfu"):
        return ""
    return (f" (op time summed over both threads counts overlapped work twice; "
            f"measured directly, the products alone made {d['mfu']:.1%}, "
            f"`products_only_all512_xla`)")


def profile_section(path, groups):
    """What the time of one step goes to, and what that caps MFU at."""
    with open(path) as f:
        prof = json.load(f)
    roles = {name: 0.0 for name, _ in OP_ROLES}
    roles["other"] = 0.0
    for kind, sec in prof["kinds_s_per_step"].items():
        role = next((name for name, rx in OP_ROLES if rx.search(kind)), "other")
        roles[role] += sec
    busy, wall = prof["busy_s_per_step"], prof["wall_s_per_step"]
    g, run = groups.get("mem512", (None, None))
    ours_w = g["workers"].get("keras_lrm_all512_xla", {}) if g else {}
    step = ours_w.get("median_step_s") or wall
    out = [f"`{prof['command']}` ({prof['date']}, TF {prof['tf']}, {prof['steps']} steps "
           f"traced; {wall:.3f} s/step with the profiler on, {step:.3f} s/step median "
           f"without it in group mem512; memory lengths {prof['memory_lengths']}; "
           f"file {os.path.relpath(path, ROOT)})."]
    here = prof.get("machine", {}).get("cpu_model", "an unrecorded machine")
    there = run["machine"]["cpu_model"] if run else None
    if here != there:
        # Shares carry over between similar CPUs, speeds do not.
        out[0] += (f" Profiled on {here}; group mem512 ran on {there}: the "
                   f"shares are applied to that run, not its speeds.")
    out[0] += (" Op time summed over both threads, by role; the last column "
               "splits the unprofiled step time by the same shares:")
    out += ["", "| role | share of op time | ~ s of a step |", "|---|---|---|"]
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
            out.append(f"| `{kind}` | `{shape}` | `{src}` | {sec / busy:.1%} |")
    ours = g and g["workers"].get("keras_lrm_all512_xla", {}).get("mfu")
    if ours:
        share = roles["matrix products"] / busy
        peer = g["workers"].get(g.get("fastest_peer"), {})
        plain = g["workers"].get("keras_plain_nomem_xla", {})
        lay = roles["layout (transpose, copy, concat, pad, slice)"] / busy
        out += ["", f"Matrix products are {share:.0%} of the op time and layout work "
                f"{lay:.0%}" + (" (the table above ties each op to the TensorFlow "
                "op it came from)" if sources else " (XLA op names only, not tied to "
                "the TensorFlow ops they came from)") + ". keras_lrm_all512_xla "
                f"reached {ours:.1%} MFU in group mem512; scaled by the products' share of "
                f"the op time that would be at most ~{ours / share:.0%} MFU if every other op "
                f"took no time" + ceiling_note(g) + ": the products themselves run below the "
                "best matmul rate of the run.", ""]
        if peer.get("mfu"):
            out.append(f"1.3x the fastest peer ({g['fastest_peer']}, {peer['mfu']:.1%} MFU) "
                       f"means {1.3 * peer['mfu']:.1%} MFU"
                       + (f"; the plain 6-layer transformer without memory reaches "
                          f"{plain['mfu']:.1%} in the same run" if plain.get("mfu") else "")
                       + ".")
            out.append("")
        small = g.get("matmul_flops", {}).get("mm_tf_xla_1024x256x1024")
        if small:
            out.append(f"Matmul rates measured in that group: "
                       f"{g['machine_peak_flops'] / 1e9:.1f} GFLOP/s at the best shape, "
                       f"{small / 1e9:.1f} GFLOP/s for 1024 x 256 x 1024 (this model's "
                       f"projection shape: batch x segment = 1024 rows, d_model 256).")
    return out


def rates_section(paths):
    """Per-product rates (bench/product_rates.py), the latest file for
    each set of memory lengths."""
    latest = {}
    for path in paths:  # names sort by date
        with open(path) as f:
            record = json.load(f)
        latest[tuple(record["memory_lengths"])] = (path, record)
    out = ["Each distinct product of the training step, forward and backward, "
           "timed under XLA and on TensorFlow's kernels, alternating in one "
           "process (bench/product_rates.py). Summed per product, these times "
           "are not a step of products (the products-only workers overlap a "
           "layer's products); the ratios say which products XLA:CPU runs "
           "slower than TensorFlow's kernels."]
    for lengths, (path, record) in latest.items():
        out += ["", f"Memory lengths {list(lengths)}: `{record['command']}` "
                f"({record['date']}, TF {record['tf']}, {record['copies']} "
                f"copies a call, median of {record['rounds']} rounds; file "
                f"{os.path.relpath(path, ROOT)}):", ""]
        out += product_rates.markdown(record["rows"])
        out += ["", rates_reading(record["rows"])]
    return out


def rates_reading(rows):
    """Which products XLA runs furthest below TF's kernels, and their cost."""
    total = sum(r["count"] * r["xla_s"] for r in rows)
    slow = sorted(rows, key=lambda r: r["tf_s"] / r["xla_s"])[:3]
    share = sum(r["count"] * r["xla_s"] for r in slow) / total
    saved = sum(r["count"] * (r["xla_s"] - r["tf_s"]) for r in slow)
    names = ", ".join(
        f"{r['product']} `{'x'.join(map(str, r['lhs']))} @ "
        f"{'x'.join(map(str, r['rhs']))}` "
        f"({r['gflop'] / r['xla_s']:.0f} against {r['gflop'] / r['tf_s']:.0f} "
        f"GFLOP/s)" for r in slow)
    return (f"Furthest below TensorFlow's kernels under XLA: {names}. They "
            f"are {share:.0%} of the XLA products' time here; at the kernels' "
            f"rates they would take {1e3 * saved:.1f} ms a step less.")


def mb(v):
    return fmt(v, ".0f")


def xla_mb(d):
    x = d.get("xla_memory")
    return f"{x['xla_temp_mb']:.0f} / {x['xla_total_mb']:.0f}" if x else "-"


def group_table(g):
    peak = g.get("machine_peak_flops")
    lines = [f"Best matmul in this group: {fmt(peak and peak / 1e9, '.1f')} GFLOP/s "
             f"({', '.join(f'{k} {v / 1e9:.1f}' for k, v in g['matmul_flops'].items())}); "
             f"fastest peer: {g.get('fastest_peer')}; group took {g['wall_s'] / 60:.1f} min.", "",
             "| worker | tokens/s | / fastest peer (median; per-round range) | MFU | "
             "model MFLOP/token | step s min/med/max | clean rounds | peak RSS MB: build+compile / steps | "
             "XLA step buffers MB: temp / total |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, d in g["workers"].items():
        if "error" in d:
            lines.append(f"| {name} | failed: {d['error']} ||||||||")
            continue
        rss = f"{mb(d.get('peak_rss_warm_mb'))} / {mb(d.get('peak_rss_steps_mb'))}"
        clean = sum(f < 0.05 for f in d["foreign_load_per_round"])
        steps = f"{d['min_step_s']:.3f}/{d['median_step_s']:.3f}/{d['max_step_s']:.3f}"
        if d["role"] == "mm":
            lines.append(f"| {name} | {d['gflops']:.1f} GFLOP/s | | | | {steps} | "
                         f"{clean}/{len(d['round_medians_s'])} | {rss} | |")
            continue
        r = d.get("ratio_to_fastest_peer")
        ratio = f"{r:.2f} ({spread(d['ratio_to_fastest_peer_per_round'])})" if r else "-"
        lines.append(f"| {name} | {d['tokens_per_s']:.0f} | {ratio} | "
                     f"{fmt(d.get('mfu') and d['mfu'] * 100, '.1f')}% | "
                     f"{d['model_flops_per_token'] / 1e6:.2f} | {steps} | "
                     f"{clean}/{len(d['round_medians_s'])} | {rss} | {xla_mb(d)} |")
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
    lines = ["| long-memory layers | memory lengths (bottom first) | time/token us | "
             "measured time ratio all / this (rounds) | FLOP ratio all / this | "
             "train MFLOP/token | MFU | RSS MB: after build / peak of steps / peak with compile | "
             "XLA step buffers MB: temp / total | memory state MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n in (12, 6, 2, 1, 0):
        d = w.get(f"keras_lrm12_long{n}_xla")
        if not d or "error" in d:
            lines.append(f"| {n} | {d.get('error') if d else 'not run'} |||||||||")
            continue
        info = d["info"]
        r = rounds.get(f"keras_lrm12_long{n}_xla", [])
        meas = statistics.median(r) if r else None
        fr = base.get("model_flops_per_token", float("nan")) / d["model_flops_per_token"]
        lines.append(
            f"| {n} | {','.join(map(str, info['mem_lens']))} | {1e6 / d['tokens_per_s']:.0f} | "
            f"{fmt(meas, '.3f')} ({spread(r)}) | {fr:.3f} | {d['model_flops_per_token'] / 1e6:.1f} | "
            f"{fmt(d.get('mfu') and d['mfu'] * 100, '.1f')}% | "
            f"{mb(d.get('rss_after_build_mb'))} / {mb(d.get('peak_rss_steps_mb'))} / "
            f"{mb(d.get('peak_rss_warm_mb'))} | {xla_mb(d)} | "
            f"{info['memory_state_bytes'] / 2**20:.1f} |")
    return lines


def stream_table(g):
    lines = ["| configuration | mode | tokens/s | step s (median) | ms per call | "
             "memory lengths | memory state bytes |", "|---|---|---|---|---|---|---|"]
    for name, d in g["workers"].items():
        if d["role"] == "mm":
            continue
        if "error" in d:
            lines.append(f"| {name} | failed: {d['error']} ||||||")
            continue
        info = d["info"]
        calls = info["gen_tokens"] if d["mode"] == "generate" else 1
        lines.append(f"| {name} | {d['mode']} | {d['tokens_per_s']:.0f} | "
                     f"{d['median_step_s']:.3f} | {d['median_step_s'] / calls * 1e3:.1f} | "
                     f"{','.join(map(str, info['mem_lens']))} | {info['memory_state_bytes']:,} |")
    return lines


def versions(runs):
    seen = {}
    for run in runs:
        for g in run["groups"]:
            for d in g["workers"].values():
                for k in ("tf", "keras", "tf_keras", "keras_hub", "models", "keras_lrm"):
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
        lines += [f"- **{run['path']}** (groups {', '.join(used)}), {run['date']}, "
                  f"{run['wall_s'] / 60:.1f} min:",
                  f"  `{run['command']}`",
                  f"  - settings: {s['rounds']} rounds x {s['steps']} steps, {s['warm']} warm-up "
                  f"steps{' (quick mode)' if s['quick'] else ''}",
                  f"  - git {gs['commit'][:12]}; keras_lrm sources sha256 {gs['keras_lrm_sha256']}"
                  + (f"; uncommitted keras_lrm changes: {', '.join(dirty)}" if dirty else
                     "; keras_lrm clean"),
                  f"  - machine: {m['cpu_model']}, {m['cores']} cores, {m['mem_total']}, "
                  f"Linux {m['kernel']}, Python {m['python']}"]
    return lines + [f"- versions: {versions(runs)}"]


def failed_lines(groups):
    out = []
    for gname, (g, _) in groups.items():
        out += [f"- {gname}/{n}: {d['error']}" for n, d in g["workers"].items() if "error" in d]
    return out


def readings(paths):
    """Hand-written notes on a run: `<result>.notes.md` beside its JSON."""
    out = []
    for path in paths:
        notes = path[:-len(".json")] + ".notes.md"
        if path.endswith(".json") and os.path.exists(notes):
            with open(notes) as f:
                out += ["", f"### Reading of {os.path.relpath(notes, os.path.dirname(HERE))}",
                        "", f.read().strip()]
    return out


def main(paths):
    groups, runs = load(paths)
    md = ["# Benchmarks: keras_lrm against Transformer-XL peers", "",
          "Generated by `bench/report.py` from the result files below; do not edit by hand "
          "(see bench/README.md to re-run). Work: training step (forward, backward, Adam), "
          "6 layers, d_model 256, 4 heads x 64, d_ff 1024, segment 128, batch 8, vocab 256, "
          "tied softmax, dropout 0, fp32, memory carried step to step; synthetic tokens. "
          "All ratios are within one interleaved run (per-round paired step times). "
          "The same work on an H100 GPU (Keras 3 on JAX): docs/benchmarks_gpu.md.", "",
          "## Runs", ""] + run_lines(runs, groups)
    md += ["", "## Goals", ""] + goal_rows(groups) + ceiling_rows(groups)
    md += readings(paths)
    profiles = sorted(glob.glob(os.path.join(HERE, "results", "profile-*.json")))
    if profiles:
        md += ["", "What limits a missed goal is measured in \"Where the time of a "
               "memory-512 step goes\" below."]
    titles = {"mem512": "Every layer memory 512", "mem128": "Every layer memory 128",
              "rr": "Rae & Razavi: one long memory of 512 at the top, short 64 / 128 below",
              "modes512": "Execution modes, every layer memory 512",
              "modes128": "Execution modes, every layer memory 128"}
    for gname, title in titles.items():
        if gname in groups:
            md += ["", f"## {title} (group `{gname}`)", ""] + group_table(groups[gname][0])
            md += env_lines(groups[gname][0])
    if "table1" in groups:
        g = groups["table1"][0]
        md += ["", "## Table 1: 12 layers, long memory 512 (interleaved), short 128", "",
               f"Group took {g['wall_s'] / 60:.1f} min; best matmul "
               f"{fmt(g['machine_peak_flops'] and g['machine_peak_flops'] / 1e9, '.1f')} GFLOP/s. "
               "FLOP ratio from bench/flops.py (per-layer memory lengths).", ""] + table1_table(g)
    if "stream" in groups:
        md += ["", "## Streaming: evaluation and one-token generation, memory carried", "",
               "eval: forward + loss over a 128-token segment; generate: one call per token "
               "(time = 1) for 8 streams, 16 calls per timed step, argmax fed back. Memory "
               "state = sum over layers of batch x M_l x d_model x 4 bytes + the int32 "
               "`filled` counter (batch x 4). `_cache` rows carry the key/value cache "
               "(`call_with_cache`: each memory row's key and value as projected when it "
               "was written, so twice the bytes) instead of the memory state, whose rows "
               "every call projects again; both give the same logits.", ""]
        md += stream_table(groups["stream"][0])
    if profiles:
        md += ["", "## Where the time of a memory-512 step goes (profile)", ""]
        md += profile_section(profiles[-1], groups)
    rates = sorted(glob.glob(os.path.join(HERE, "results", "rates-*.json")))
    if rates:
        md += ["", "### The products: XLA against TensorFlow's kernels", ""]
        md += rates_section(rates)
    md += ["", "## Peers not run here", "",
           "- Reference PyTorch Transformer-XL: not available on this machine (driver.py runs "
           "it only when bench/peers/peer_torch_txl.py and bench/.venv-torch exist).",
           *failed_lines(groups), "", ANCHORS]
    md += ["", "## Method", "",
           "- Interleaving, idle wait and re-measurement: bench/interleave.py. A round's value "
           "is the median of its steps; tokens/s uses the median over clean rounds (other "
           "processes < 5% of the CPUs), ratios the median of per-round ratios.",
           "- MFU = tokens/s x model FLOPs/token / best matmul GFLOP/s measured in the same "
           "group (bench/flops.py: training = 3 x forward; causal masking not discounted).",
           "- Peak RSS: each configuration runs in its own process. `build+compile` is "
           "ru_maxrss after the warm-up steps (includes tracing and XLA compilation); "
           "`steps` is VmHWM over the timed steps only (the mark is reset after warm-up via "
           "/proc/self/clear_refs). Both include the TensorFlow runtime, weights, Adam slots "
           "and allocator caching, so differences between configurations are what they show. "
           "`XLA step buffers` is exact for the compiled step: XLA's buffer assignment "
           "(`--xla_dump_to`), `temp` = the preallocated temporaries (activations kept for "
           "backward, gradients, workspace; the peak of what is live at once), `total` adds "
           "arguments and outputs (weights, Adam slots, memory in and out). "
           "tf.config.experimental.get_memory_info is not available for the CPU device.", "", "![throughput and Table 1](benchmarks.png)", ""]
    with open(DOC, "w") as f:
        f.write("\n".join(md))
    plot.write(PNG, groups)
    print("wrote", DOC, "and", PNG)


if __name__ == "__main__":
    main(sys.argv[1:])
