"""The placement study's report: a Markdown table, two PNGs, the checks.

`write_report` reads a study's `StudyResults` and writes, for one corpus
(`tag`):

- the table (mean +- sample sd over seeds) between the markers
  `<!-- study:<tag>:begin -->` and `<!-- study:<tag>:end -->` of
  `<out>/study.md` (made if missing), with the command, commit and
  machine, and the paper's orderings checked on the numbers;
- `<out>/study_<tag>_bpc.png`: the validation loss of each configuration
  (the paper's Figure 3), with the training memory and the longer one;
- `<out>/study_<tag>_cost.png`: time per token and step memory against the
  share of layers with a long memory, relative to every layer long, beside
  the paper's Table 1.
"""

import os

from keras_lrm.training.placement_study import CONFIGS
from keras_lrm.training.placement_study import long_layers_of
from keras_lrm.training.placement_study import num_long_of
from keras_lrm.training.placement_study import resolve_configs
from keras_lrm.training.study import save_figure
from keras_lrm.training.study import summarise
from keras_lrm.training.study import write_section

# Rae & Razavi, Table 1 (24 layers, TPUv3): LRM count -> (us/token, GB).
PAPER_TABLE1 = {24: (405, 3.4), 12: (273, 2.8), 4: (191, 1.1),
                1: (155, 0.50), 0: (143, 0.20)}


def markers(tag):
    return f"<!-- study:{tag}:begin -->", f"<!-- study:{tag}:end -->"


def _cell(summary, config, digits=3):
    if config not in summary or summary[config][0] is None:
        return "n/a"
    mean, spread, _ = summary[config]
    return f"{mean:.{digits}f} +- {spread:.{digits}f}"


def _summaries(runs, key):
    found = [run for run in runs if run.get(key) is not None]
    return summarise(found, key) if found else {}


def check_orderings(runs, num_layers):
    """The paper's orderings, each judged on the measured means and
    spreads: a list of Markdown lines ("holds", "does not hold" or "not
    measured" with the numbers)."""
    bpc = _summaries(runs, "valid")
    time = _summaries(runs, "us_per_token")
    lines = []

    def apart(a, b):
        """`a` worse than `b` by more than both spreads together."""
        return bpc[a][0] - bpc[b][0] > bpc[a][1] + bpc[b][1]

    def shown(name):
        mean, spread, count = bpc[name]
        return f"{name} {mean:.3f} +- {spread:.3f} ({count} seeds)"

    if {"all", "none"} <= set(bpc):
        verdict = "holds" if apart("none", "all") else "does not hold"
        lines.append(f"- No long memory is clearly worse than every layer "
                     f"long (by more than the two spreads together): "
                     f"**{verdict}**: {shown('none')}, {shown('all')}.")
    else:
        lines.append("- No long memory clearly worse: not measured.")
    for share in ("half", "sixth"):
        names = [name for name in bpc if name.startswith(share + "_")]
        first = f"{share}_first"
        if first in names and len(names) > 1:
            worst = max(names, key=lambda name: bpc[name][0])
            verdict = "holds" if worst == first and all(
                apart(first, name) for name in names if name != first) \
                else ("holds in the means only" if worst == first
                      else "does not hold")
            lines.append(
                f"- Among the {share} configurations, the first layers' "
                f"long memory is worst (apart by more than the spreads): "
                f"**{verdict}**: " + "; ".join(shown(name)
                                               for name in names) + ".")
    if "all" in bpc:
        for name in ("half_interleaved", "half_last", "sixth_interleaved",
                     "sixth_last"):
            if name not in bpc:
                continue
            close = abs(bpc[name][0] - bpc["all"][0]) \
                <= bpc[name][1] + bpc["all"][1]
            lines.append(
                f"- {name} is close to all (within the two spreads): "
                f"**{'holds' if close else 'does not hold'}**: "
                f"{shown(name)}, {shown('all')}.")
    if "all" in time:
        for name in ("half_interleaved", "sixth_interleaved", "none"):
            if name in time:
                ratio = time[name][0] / time["all"][0]
                count = num_long_of(name, num_layers)
                lines.append(
                    f"- Time per token of {name} ({count} of {num_layers} "
                    f"layers long) / all: {ratio:.2f} (the paper: 12 of "
                    f"24: 0.67, 4 of 24: 0.47, 0: 0.35).")
    return lines


def table_lines(results, names):
    """The Markdown lines of the study's table."""
    settings, runs = results.settings, results.runs
    num_layers = settings["num_layers"]
    kept, aliases = resolve_configs(names, num_layers)
    info = results.provenance_of_file()
    unit = next((run.get("unit") for run in runs), "bpc")
    eval_long = settings["eval_long_length"] or settings["long_length"]
    columns = {key: _summaries(runs, key) for key in (
        "valid", "valid_eval_memory", "us_per_token", "xla_total_mb",
        "device_peak_mb", "rss_peak_mb")}
    state = {run["config"]: run["state_bytes"] for run in runs}
    lines = [
        f"Command: `{info['command']}`; commit {info['commit']}; "
        f"{info['machine']}; TensorFlow {info['tensorflow']}.",
        f"Corpus {settings['corpus']} ({settings['tokenizer']}); "
        f"{num_layers} layers, d_model {settings['d_model']}, "
        f"{settings['num_heads']} heads, d_ff {settings['d_ff']}; "
        f"{settings['train_steps']} steps of {settings['batch_size']} x "
        f"{settings['segment_length']} tokens; memory long "
        f"{settings['long_length']} (evaluated also at {eval_long}), short "
        f"{settings['short_length']}; validation on "
        f"{settings['eval_tokens'] or 'all'} tokens.",
        "",
        f"| configuration | long layers | valid {unit}, training memory | "
        f"valid {unit}, long memory {eval_long} | us/token | "
        "step memory MB (XLA) | device peak MB | peak RSS MB | "
        "state KB/stream | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in kept:
        if name not in columns["valid"]:
            continue
        label = name + "".join(f" (= {other})" for other, target
                               in aliases.items() if target == name)
        layers = long_layers_of(name, num_layers)
        lines.append(
            f"| {label} | {layers or '-'} | {_cell(columns['valid'], name)} "
            f"| {_cell(columns['valid_eval_memory'], name)} | "
            f"{_cell(columns['us_per_token'], name, 1)} | "
            f"{_cell(columns['xla_total_mb'], name, 1)} | "
            f"{_cell(columns['device_peak_mb'], name, 1)} | "
            f"{_cell(columns['rss_peak_mb'], name, 0)} | "
            f"{state[name] / 1024:.1f} | {columns['valid'][name][2]} |")
    lines += ["", "The paper's orderings on these numbers:", ""]
    lines += check_orderings(runs, num_layers)
    return lines


def plot_bpc(results, names, path):
    """Figure 3's kind: each configuration's validation loss (dots: seeds;
    bars: mean +- sd), with the training memory and the longer one."""
    from matplotlib import pyplot

    runs = results.runs
    kept, _ = resolve_configs(names, results.settings["num_layers"])
    kept = [name for name in kept if any(r["config"] == name for r in runs)]
    unit = next((run.get("unit") for run in runs), "bpc")
    figure, axis = pyplot.subplots(figsize=(8, 3.6))
    for offset, key, colour, label in (
            (-0.12, "valid", "black", "training memory"),
            (0.12, "valid_eval_memory", "tab:blue", "longer memory")):
        summary = _summaries(runs, key)
        for position, name in enumerate(kept):
            found = [run[key] for run in runs if run["config"] == name]
            axis.scatter([position + offset] * len(found), found, s=10,
                         color=colour, alpha=0.4)
            axis.errorbar(position + offset, summary[name][0],
                          yerr=summary[name][1], fmt="o", color=colour,
                          capsize=3, label=label if position == 0 else None)
    axis.set_xticks(range(len(kept)), kept, rotation=25, ha="right")
    axis.set_ylabel(f"validation {unit}")
    axis.set_title(f"Placement of the long memories "
                   f"({results.settings['corpus']})")
    axis.legend(fontsize=8)
    figure.tight_layout()
    save_figure(figure, path)
    pyplot.close(figure)


def plot_cost(results, names, path):
    """Table 1's kind: time per token and step memory against the share of
    layers with a long memory, relative to every layer long, with the
    paper's Table 1 (24 layers) the same way."""
    from matplotlib import pyplot

    runs = results.runs
    num_layers = results.settings["num_layers"]
    figure, axes = pyplot.subplots(1, 2, figsize=(8, 3.4))
    memory_key = "xla_total_mb" if any(
        run.get("xla_total_mb") for run in runs) else "device_peak_mb"
    for axis, key, index, title in (
            (axes[0], "us_per_token", 0, "time per token"),
            (axes[1], memory_key, 1, "step memory")):
        paper = sorted((count / 24, values[index] / PAPER_TABLE1[24][index])
                       for count, values in PAPER_TABLE1.items())
        axis.plot(*zip(*paper), "s--", color="tab:orange",
                  label="paper, Table 1 (24 layers)")
        summary = _summaries(runs, key)
        if "all" in summary:
            points = sorted(
                (num_long_of(name, num_layers) / num_layers,
                 summary[name][0] / summary["all"][0])
                for name in summary if name in CONFIGS)
            axis.plot(*zip(*points), "o", color="black",
                      label=f"measured ({num_layers} layers)")
        axis.set_xlabel("share of layers with a long memory")
        axis.set_ylabel("relative to every layer long")
        axis.set_title(title)
        axis.set_ylim(0, 1.15)
        axis.legend(fontsize=7)
    figure.tight_layout()
    save_figure(figure, path)
    pyplot.close(figure)


def write_report(results, names, out, tag):
    """Writes the table into `<out>/study.md` (between the `tag`'s
    markers, added at the end when missing) and the two PNGs; returns
    their paths."""
    import matplotlib

    matplotlib.use("Agg")

    os.makedirs(out, exist_ok=True)
    markdown = os.path.join(out, "study.md")
    begin, end = markers(tag)
    png_bpc = os.path.join(out, f"study_{tag}_bpc.png")
    png_cost = os.path.join(out, f"study_{tag}_cost.png")
    section = "\n".join([begin] + table_lines(results, names) + [
        "", f"![validation per configuration]({os.path.basename(png_bpc)})",
        f"![cost against the long memories]({os.path.basename(png_cost)})",
        end])
    plot_bpc(results, names, png_bpc)
    plot_cost(results, names, png_cost)
    write_section(markdown, section, begin, end, append=True)
    return markdown, png_bpc, png_cost
