"""Progress that reads well in a terminal, a notebook, a file and a CI log.

A terminal or a notebook gets one line rewritten in place (a carriage
return, no backspaces nor colour codes). Anything else, such as a run
redirected to a file, gets plain lines, one every `every` units and at
least one a minute, each complete and short.
"""

import math
import sys
import time

MODES = ("bar", "lines")
VERBOSE = ("auto", 0, 1, 2)
_BAR_WIDTH = 24
_BAR_INTERVAL = 0.2
_LINE_INTERVAL = 60.0


def dynamic_display(stream=None):
    """Whether `stream` (default stdout) shows a line rewritten in place:
    a terminal, or a Jupyter/Colab notebook."""
    stream = stream or sys.stdout
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return True
    return "ipykernel" in sys.modules


def resolve_verbose(verbose, stream=None):
    """Keras' `verbose` for "auto": 1 (a bar) where the display is dynamic,
    else 2 (plain lines); 0, 1 and 2 stay as they are."""
    if verbose == "auto":
        return 1 if dynamic_display(stream) else 2
    return verbose


def display_mode(verbose, stream=None):
    """"bar", "lines" or None (quiet) for a Keras-style `verbose`."""
    verbose = resolve_verbose(verbose, stream)
    return {0: None, 1: "bar", 2: "lines"}[verbose]


def format_seconds(seconds):
    """`1:02:03`, `2:03` or `4.5s`."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours \
        else f"{minutes}:{secs:02d}"


class ProgressDisplay:
    """Shows `label current/total unit - extra - ETA` as a bar or as lines.

    Args:
        label: what is progressing, e.g. "step" or "Tokenizing train".
        total: the end value, or None when unknown (no ETA then).
        mode: "bar" or "lines" (see `display_mode`).
        every: in "lines" mode, a line each time `current` passes a
            multiple of `every` (default: a twentieth of `total`).
        unit: shown after the counts, e.g. "bytes".
        stream: where to write (default stdout).
    """

    def __init__(self, label, total, mode, every=None, unit="",
                 stream=None):
        if mode not in MODES:
            raise ValueError(
                f"`mode` must be one of {MODES}. Received: mode={mode!r}")
        self.label = label
        self.total = total
        self.mode = mode
        self.every = every or (max(1, total // 20) if total else None)
        self.unit = unit
        self.stream = stream or sys.stdout
        self._started = time.perf_counter()
        self._rate_from = None
        self.current = None
        self._printed = None
        self._last_time = self._started
        self._width = 0

    def start_rate(self, current):
        """Measures speed (and the ETA) from `current` on, e.g. after a
        first step that included compiling."""
        self._rate_from = (current, time.perf_counter())

    def rate(self, current):
        """Units per second since `start_rate` (or since the start)."""
        first, since = self._rate_from or (0, self._started)
        seconds = time.perf_counter() - since
        if current <= first or seconds <= 0:
            return None
        return (current - first) / seconds

    def text(self, current, extra=""):
        total = f"/{self.total}" if self.total else ""
        parts = [f"{self.label} {current}{total}"
                 + (f" {self.unit}" if self.unit else "")]
        if self.mode == "bar" and self.total:
            done = min(_BAR_WIDTH, int(_BAR_WIDTH * current / self.total))
            parts[0] += " [" + "=" * done + "." * (_BAR_WIDTH - done) + "]"
        if extra:
            parts.append(extra)
        parts.append(f"elapsed {format_seconds(self.elapsed)}")
        rate = self.rate(current)
        if self.total and current < self.total:
            eta = (self.total - current) / rate if rate else None
            parts.append(f"ETA {format_seconds(eta)}")
        return " - ".join(parts)

    @property
    def elapsed(self):
        return time.perf_counter() - self._started

    def update(self, current, extra="", force=False):
        """Shows `current` if it is time to (or `force`)."""
        now = time.perf_counter()
        if self.mode == "bar":
            if force or now - self._last_time >= _BAR_INTERVAL or (
                    self.total and current >= self.total):
                self._rewrite(self.text(current, extra))
                self._last_time = now
        else:
            before = current - 1 if self.current is None else self.current
            due = self.every and (
                current // self.every > before // self.every)
            if force or due or now - self._last_time >= _LINE_INTERVAL:
                self.print(self.text(current, extra))
                self._printed = current
        self.current = current

    def _rewrite(self, line):
        padding = " " * max(0, self._width - len(line))
        self.stream.write("\r" + line + padding)
        self.stream.flush()
        self._width = len(line)

    def print(self, line):
        """Writes `line` on a line of its own (ending a bar in progress)."""
        if self._width:
            self.stream.write("\n")
            self._width = 0
        self.stream.write(line + "\n")
        self.stream.flush()
        self._last_time = time.perf_counter()

    def finish(self, current, extra=""):
        """Shows the final state and ends the line."""
        if self.mode == "bar":
            self._rewrite(self.text(current, extra))
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
        elif self._printed != current:
            self.print(self.text(current, extra))
            self._printed = current
        self.current = current
