"""The training loss against step, kept across resumed runs, and its plot.

`LossCurve` records the mean training loss over every `every` steps (and
over the last steps of each pass) as `[step, loss]` points. A run keeps
them in `results.json` (`curve`), written just before each checkpoint, so
a resumed run keeps the points up to the step it resumes from and makes
the later ones again: its curve is an uninterrupted run's.
`write_learning_curve` draws them, with the validation figures, as
`learning_curve.png`.
"""

import io
import math

import keras
import numpy as np

from keras_lrm.data.files.temporaries import atomic_write

PLOT = "learning_curve.png"


def curve_interval(train_steps, save_every, points=100):
    """Steps per point: about `train_steps / points`, and a divisor of
    `save_every`, so that every checkpoint ends a point."""
    target = max(1, train_steps // points)
    return max(d for d in range(1, min(target, save_every) + 1)
               if save_every % d == 0)


class LossCurve(keras.callbacks.Callback):
    """Mean training loss per `every` steps, resumable.

    Put it before the `StreamCheckpoint` in the callbacks: it calls
    `on_save(record)` just before that checkpoint saves (its points up to
    that step), so what `results.json` holds is never behind a checkpoint.

    Args:
        every: steps per point.
        checkpoint: the run's `StreamCheckpoint` (its `step`, `save_every`
            and `last_saved` say when it saves).
        points: earlier points to continue (a resumed run's, up to the
            step it resumes from).
        on_save: called with `record()` before each save, or None.
    """

    def __init__(self, every, checkpoint, points=(), on_save=None):
        super().__init__()
        self.every = every
        self.checkpoint = checkpoint
        self.points = [list(point) for point in points]
        self.on_save = on_save
        self._sum = 0.0
        self._point_sum = 0.0
        self._point_batches = 0

    def record(self):
        return {"every": self.every, "points": [list(p) for p in self.points]}

    def _add_point(self, step, batches):
        count = batches - self._point_batches
        if count <= 0:
            return
        loss = (self._sum - self._point_sum) / count
        if self.points and self.points[-1][0] >= step:
            return
        self.points.append(
            [step, round(loss, 6) if math.isfinite(loss) else None])
        self._point_sum, self._point_batches = self._sum, batches

    def _save_if_due(self, at_end):
        checkpoint = self.checkpoint
        step = checkpoint.step
        due = at_end or step - (checkpoint.last_saved or 0) >= \
            checkpoint.save_every
        if due and self.on_save is not None and step != checkpoint.last_saved:
            self.on_save(self.record())

    def on_train_begin(self, logs=None):
        # Keras' loss log is the mean since the `fit` (one pass) began.
        self._sum = self._point_sum = 0.0
        self._point_batches = 0
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        self._batches = batch + 1
        self._sum = float(np.mean(loss)) * self._batches
        step = self.checkpoint.step
        if step % self.every == 0:
            self._add_point(step, self._batches)
        self._save_if_due(at_end=False)

    def on_train_end(self, logs=None):
        self._add_point(self.checkpoint.step, self._batches)
        self._save_if_due(at_end=True)


def points_until(record, step):
    """The points of a `record()` (e.g. an earlier run's) up to `step`."""
    points = (record or {}).get("points", [])
    return [list(p) for p in points if p[0] <= step]


def _in_unit(loss_nats, unit):
    """A training loss (nats per token) in the validation's unit."""
    if loss_nats is None:
        return math.nan
    if unit == "bpc":
        return loss_nats / math.log(2.0)
    return math.exp(loss_nats) if loss_nats < 700 else math.inf


def write_learning_curve(path, results):
    """Draws `results`' training curve and validation points to `path`.

    The training loss is shown in the validation's unit (bits per token
    for "bpc", perplexity on a log scale for "perplexity"); validation is
    `before` (step 0), `after` (the last step). Written under a temporary
    name and renamed (local or `gs://`). Returns `path`, or None when
    there is nothing to draw.
    """
    points = (results.get("curve") or {}).get("points") or []
    after = results.get("after")
    before = results.get("before")
    unit = (after or before or {}).get("unit", "bpc")
    if not points and not (after or before):
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    axes = figure.add_subplot()
    every = (results.get("curve") or {}).get("every", 1)
    if points:
        steps = [p[0] for p in points]
        over = "each step" if every == 1 else f"mean over {every} steps"
        axes.plot(steps, [_in_unit(p[1], unit) for p in points],
                  label=f"training ({over}, dropout on)")
    validation = []
    if before:
        validation.append((0, before["value"]))
    if after:
        last = results.get("train", {}).get("steps") or (
            points[-1][0] if points else 0)
        validation.append((last, after["value"]))
    if validation:
        axes.plot([v[0] for v in validation], [v[1] for v in validation],
                  "o", label="validation (before and after)")
        for step, value in validation:
            axes.annotate(f"{value:.3f}", (step, value),
                          textcoords="offset points", xytext=(4, 4))
    name = {"bpc": "bits per token", "perplexity": "perplexity"}[unit]
    if unit == "perplexity":
        axes.set_yscale("log")
    axes.set_xlabel("training step")
    axes.set_ylabel(name)
    title = results.get("experiment", {}).get("name", "")
    axes.set_title(f"{title}: learning curve" if title else "learning curve")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write(path, buffer.getvalue())
    return path
