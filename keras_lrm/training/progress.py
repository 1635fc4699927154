"""Progress of `fit` and `evaluate` that says when it is compiling.

Keras' own bar counts the first step, which includes XLA's compile, in its
estimate (`1/400 ... 2:11:10 20s/step`), and in a file writes every update
of the bar with backspaces and colour codes on one line. `RunProgress`
says "Compiling ..." before the first step, estimates from the second step
on, and writes plain lines where the output is not a terminal (see
`keras_lrm.progress`). Pass it to `fit`/`evaluate` with `verbose=0`.
"""

import keras
import numpy as np

from keras_lrm.progress import ProgressDisplay
from keras_lrm.progress import display_mode
from keras_lrm.progress import format_seconds


def _format_logs(logs):
    parts = []
    for key, value in (logs or {}).items():
        try:
            parts.append(f"{key} {float(np.mean(value)):.4f}")
        except (TypeError, ValueError):
            continue
    return " - ".join(parts)


class RunProgress(keras.callbacks.Callback):
    """Shows training steps and evaluation windows as they go.

    Training is counted in optimizer steps (`model.optimizer.iterations`),
    so a run resumed at step 200 of 400, or trained in several `fit` calls
    (one per pass), shows `step 201/400`.

    Args:
        verbose: 0 (nothing), 1 (a bar rewritten in place), 2 (a plain line
            every `total_steps / 20` steps and at least one a minute) or
            "auto" (1 in a terminal or notebook, else 2).
        total_steps: the run's last training step (default: the end of
            the current `fit`).
        tokens_per_step: tokens trained per step, to show tokens/s.
        stream: where to write (default stdout).
    """

    def __init__(self, verbose="auto", total_steps=None,
                 tokens_per_step=None, stream=None):
        super().__init__()
        self.mode = display_mode(verbose, stream)
        self.total_steps = total_steps
        self.tokens_per_step = tokens_per_step
        self.stream = stream
        self._compiled = {"train": False, "test": False}
        self._display = None
        self._first_batch = True

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def _begin(self, kind, label, total, every, message):
        self._display = ProgressDisplay(label, total, self.mode,
                                        every=every, stream=self.stream)
        self._first_batch = True
        if not self._compiled[kind]:
            self._display.print(message)

    def _batch_end(self, kind, current, extra):
        display = self._display
        if self._first_batch:
            self._first_batch = False
            display.start_rate(current)
            if not self._compiled[kind]:
                self._compiled[kind] = True
                unit = "step" if kind == "train" else "window"
                display.print(
                    f"Compiled: the first {unit} took "
                    f"{format_seconds(display.elapsed)}; estimates count "
                    "from the next one.")
        display.update(current, extra)

    # Training.
    def on_train_begin(self, logs=None):
        if self.mode is None:
            return
        first = self._step()
        total = self.total_steps or first + (self.params.get("steps") or 0)
        self._begin("train", "step", total or None,
                    max(1, (total or 0) // 20),
                    "Compiling the training step (first step only)...")

    def _train_extra(self, logs, step):
        extra = _format_logs(logs)
        rate = self._display.rate(step)
        if rate and self.tokens_per_step:
            extra += f" - {rate * self.tokens_per_step:,.0f} tokens/s"
        return extra

    def on_train_batch_end(self, batch, logs=None):
        if self.mode is None:
            return
        step = self._step()
        self._batch_end("train", step, self._train_extra(logs, step))

    def on_train_end(self, logs=None):
        if self.mode is None or self._display is None:
            return
        step = self._step()
        self._display.finish(step, self._train_extra(logs, step))
        self._display = None

    # Evaluation.
    def on_test_begin(self, logs=None):
        if self.mode is None:
            return
        total = self.params.get("steps")
        self._begin("test", "evaluating: window", total,
                    max(1, (total or 0) // 10),
                    "Compiling the evaluation step (first window only)...")

    def on_test_batch_end(self, batch, logs=None):
        if self.mode is None:
            return
        self._batch_end("test", batch + 1, _format_logs(logs))

    def on_test_end(self, logs=None):
        if self.mode is None or self._display is None:
            return
        self._display.finish(self._display.current or 0,
                             _format_logs(logs))
        self._display = None
