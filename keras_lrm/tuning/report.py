"""A memory search's trials as a CSV and as the paper's Figure 4.

Rae & Razavi's Figure 4 plots enwik8 BPC against the short-range memory
(SRM) length, from 32 to 2048 on a log axis, with the long memories fixed.
`write_figure` draws the same from a search's trials: the validation metric
against `short_length`, one series per placement (policy, number and
length of the long memories, memory tokens) with the best trial of each
length, and a horizontal line for each `"all"` trial (every layer long: no
short memory). `write_csv` lists every trial with
every hyperparameter, the validation metric and its bytes of state.

Both write through a temporary name renamed into place
(`keras_lrm.data.files.temporaries.atomic_write`), so a kill never leaves
half a file, and work on `gs://` paths alike.
"""

import csv
import io
import math

from keras_lrm.data.files.temporaries import atomic_write

# Columns after the hyperparameters.
TAIL = ("memory_lengths", "state_bytes")


def hyperparameter_names(trials):
    """Every hyperparameter of `trials`, in the order first met."""
    names = []
    for trial in trials:
        for name in trial["hyperparameters"]:
            if name not in names:
                names.append(name)
    return names


def _by_id(trials):
    def key(trial):
        text = str(trial["trial"])
        return (0, int(text), text) if text.isdigit() else (1, 0, text)

    return sorted(trials, key=key)


def csv_text(trials, metric):
    """The CSV of `trials` (records of `run_search`), in trial order: the
    trial's id, its hyperparameters (empty where inactive), `val_<metric>`
    (empty for a failed trial), its memory lengths (space-separated) and
    `state_bytes`."""
    names = hyperparameter_names(trials)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial", *names, f"val_{metric}", *TAIL])
    for trial in _by_id(trials):
        values = trial["hyperparameters"]
        score = trial[metric]
        writer.writerow([
            trial["trial"], *("" if values.get(name) is None else
                              values[name] for name in names),
            "" if score is None else repr(float(score)),
            " ".join(str(n) for n in trial["memory_lengths"]),
            trial["state_bytes"]])
    return out.getvalue()


def write_csv(path, trials, metric):
    """Writes `csv_text(trials, metric)` to `path` (atomically)."""
    atomic_write(path, csv_text(trials, metric))


def _series_name(values):
    policy = values["policy"]
    parts = [policy]
    if values.get("num_long") is not None:
        parts.append(f"{values['num_long']} long")
    if values.get("long_length") is not None and policy != "all":
        parts.append(f"L={values['long_length']}")
    if values.get("num_memory_tokens"):
        parts.append(f"{values['num_memory_tokens']} memory tokens")
    return ", ".join(parts)


def figure_png(trials, metric, title=None):
    """The PNG bytes of the metric against the short memory length.

    Uses matplotlib's object API with the Agg canvas (no `pyplot`), so it
    neither needs a display nor changes the backend of a notebook that
    calls it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter
    from matplotlib.ticker import ScalarFormatter

    scored = [t for t in trials if t[metric] is not None]
    series = {}
    flat = []
    for trial in scored:
        values = trial["hyperparameters"]
        if values.get("short_length") is None:
            flat.append(trial)
            continue
        points = series.setdefault(_series_name(values), {})
        # One point per length: the best trial of it (Hyperband trains a
        # configuration again for longer under another trial).
        length = values["short_length"]
        points[length] = min(trial[metric], points.get(length, math.inf))
    figure = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    markers = "osD^vP*X<>"
    for index, (name, points) in enumerate(sorted(series.items())):
        points = sorted(points.items())
        axis.plot([p[0] for p in points], [p[1] for p in points],
                  marker=markers[index % len(markers)], linestyle="-",
                  label=name)
    for trial in flat:
        values = trial["hyperparameters"]
        axis.axhline(trial[metric], linestyle="--", color="gray",
                     label=f"{_series_name(values)} (no short memory)")
    if series:
        axis.set_xscale("log", base=2)
        lengths = sorted({length for points in series.values()
                          for length in points})
        # Plain numbers (32, 64, ...), not powers of two.
        axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.xaxis.set_minor_formatter(NullFormatter())
        if len(lengths) <= 12:
            axis.set_xticks(lengths)
    axis.set_xlabel("short-range memory (SRM) length, tokens (log scale)")
    label = "BPC" if metric == "bpc" else metric
    axis.set_ylabel(f"validation {label}")
    axis.set_title(title or f"Validation {label} against SRM length "
                   "(Rae & Razavi, Figure 4)")
    if series or flat:
        axis.legend(fontsize=7)
    else:
        axis.text(0.5, 0.5, "no scored trial", ha="center",
                  transform=axis.transAxes)
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=110)
    return out.getvalue()


def write_figure(path, trials, metric, title=None):
    """Writes `figure_png(trials, metric)` to `path` (atomically)."""
    atomic_write(path, figure_png(trials, metric, title))
