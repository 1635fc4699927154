"""The search space of a memory search: lists of choices or integer ranges,
checked before any trial runs.

Each searched value is given either as a list of choices (KerasTuner's
`hp.Choice`) or as an `IntRange` (KerasTuner's `hp.Int`). Memory lengths
are searched on a log scale by default, as Rae & Razavi swept the short
memory from 32 to 2048; counts (long memories, memory tokens) on a linear
one, which can include 0.
"""

import dataclasses

from keras_lrm.arguments import is_int
from keras_lrm.policies import POLICIES
from keras_lrm.training.experiment_config import Experiment

SAMPLINGS = ("linear", "log")
# The hypermodel's arguments, their hyperparameter names and the scale an
# `IntRange` without a `sampling` takes.
SEARCHED = {
    "num_long": ("num_long", "linear"),
    "long_lengths": ("long_length", "log"),
    "short_lengths": ("short_length", "log"),
    "num_memory_tokens": ("num_memory_tokens", "linear"),
}
# The hyperparameters whose values are integers (a grid over a log range
# gives them as floats: 64.0).
INTEGER_HPS = tuple(name for name, _ in SEARCHED.values())
# A grid's step for a range that names none: doubling on a log scale, every
# integer on a linear one.
GRID_STEPS = {"log": 2, "linear": 1}


@dataclasses.dataclass(frozen=True)
class IntRange:
    """An integer range to search, `min_value` to `max_value` inclusive:
    KerasTuner's `hp.Int`.

    Args:
        min_value: the smallest value (>= 1 on a log scale).
        max_value: the largest value (>= `min_value`).
        step: `None` (any integer in the range), or the distance between
            two values: added on a linear scale (>= 1), multiplied on a log
            scale (>= 2; `step=2` gives `min_value`, twice that, four
            times, ... up to `max_value`). `keras_tuner.GridSearch`
            enumerates a range by its step: without one it tries ten values
            spread over the range, so give one for a grid (`run_search`
            does: 2 on a log scale, 1 on a linear one).
        sampling: `"log"`, `"linear"`, or `None`: the scale of the value
            searched (`MemoryHyperModel`: log for memory lengths, linear
            for counts).

    Example:

    >>> IntRange(32, 2048)            # any length, on a log scale
    >>> IntRange(32, 2048, step=2)    # 32, 64, ..., 2048
    >>> IntRange(0, 16, step=4)       # 0, 4, 8, 12, 16 memory tokens
    """

    min_value: int
    max_value: int
    step: object = None
    sampling: object = None

    def __post_init__(self):
        for name in ("min_value", "max_value"):
            value = getattr(self, name)
            if not is_int(value) or value < 0:
                raise ValueError(
                    f"`{name}` must be an integer >= 0. Received: "
                    f"{name}={value!r}")
            object.__setattr__(self, name, int(value))
        if self.max_value < self.min_value:
            raise ValueError(
                f"`max_value` must be >= min_value={self.min_value}. "
                f"Received: max_value={self.max_value!r}")
        if self.sampling is not None and self.sampling not in SAMPLINGS:
            raise ValueError(
                f"`sampling` must be one of {SAMPLINGS} or None. Received: "
                f"sampling={self.sampling!r}")
        if self.step is not None:
            if not is_int(self.step) or self.step < 1:
                raise ValueError(
                    "`step` must be an integer >= 1 (>= 2 on a log scale) "
                    f"or None. Received: step={self.step!r}")
            object.__setattr__(self, "step", int(self.step))

    def scaled(self, default_sampling):
        """This range with its sampling filled in (`default_sampling` where
        it names none)."""
        return dataclasses.replace(
            self, sampling=self.sampling or default_sampling)

    def for_grid(self):
        """This range with a step a grid can enumerate (`GRID_STEPS` where
        it names none)."""
        if self.step is not None:
            return self
        return dataclasses.replace(self, step=GRID_STEPS[self.sampling])

    def values(self):
        """The values a grid tries (a range with a `step`), in order."""
        values, value = [], self.min_value
        while value <= self.max_value:
            values.append(value)
            value = value * self.step if self.sampling == "log" \
                else value + self.step
        return values

    def to_json(self):
        """A dict of the range (for a results file and the search hash)."""
        return dataclasses.asdict(self)


def _check_choices(name, given, allowed=None):
    """`given` as a list of plain values (ints >= 0, or names from
    `allowed`); raises `ValueError` naming `name` otherwise."""
    values = list(given) if isinstance(given, (list, tuple)) else []
    if allowed is None:
        bad = [v for v in values if not is_int(v) or v < 0]
        values = [int(v) for v in values if is_int(v)]
    else:
        bad = [v for v in values if v not in allowed]
    if not values or bad or len(set(values)) != len(values):
        wanted = f"values from {allowed}" if allowed is not None \
            else "integers >= 0, or a keras_lrm.tuning.IntRange"
        raise ValueError(
            f"`{name}` must be a non-empty list of distinct {wanted}. "
            f"Received: {name}={given!r}"
        )
    return values


def _check_values(name, given, default_sampling):
    """A list of choices, or an `IntRange` with its sampling set."""
    if not isinstance(given, IntRange):
        return _check_choices(name, given)
    given = given.scaled(default_sampling)
    if given.sampling == "log" and given.min_value < 1:
        raise ValueError(
            f"`{name}` must start at >= 1 on a log scale (give "
            "sampling='linear' to include 0). Received: "
            f"{name}={given!r}")
    if given.sampling == "log" and given.step is not None and \
            given.step < 2:
        raise ValueError(
            f"`{name}` must have a step >= 2 on a log scale (it multiplies)"
            f". Received: {name}={given!r}")
    return given


def largest(values):
    """The largest value of a list of choices or an `IntRange`."""
    return values.max_value if isinstance(values, IntRange) else max(values)


def check_search_space(experiment, policies, num_long, long_lengths,
                       short_lengths, num_memory_tokens=None, prefix=""):
    """The choices of a `MemoryHyperModel` for `experiment`, checked:
    returns them as a dict of lists of choices or `IntRange`s
    (`num_memory_tokens` stays `None` when not searched).

    Raises `ValueError` naming the argument (with `prefix`, e.g.
    `"search_"` for a recipe's `--search_policies`) and what it expected.
    """
    if not isinstance(experiment, Experiment):
        raise ValueError(
            "`experiment` must be a keras_lrm.training.Experiment. "
            f"Received: experiment={experiment!r}"
        )
    space = {"policies": _check_choices(prefix + "policies", policies,
                                        POLICIES)}
    given = {"num_long": num_long, "long_lengths": long_lengths,
             "short_lengths": short_lengths,
             "num_memory_tokens": num_memory_tokens}
    for argument, (_, sampling) in SEARCHED.items():
        if given[argument] is None and argument == "num_memory_tokens":
            space[argument] = None
            continue
        space[argument] = _check_values(prefix + argument, given[argument],
                                        sampling)
    num_layers = experiment.model.num_layers
    if largest(space["num_long"]) > num_layers:
        name = prefix + "num_long"
        raise ValueError(
            f"`{name}` must be <= num_layers={num_layers}. "
            f"Received: {name}={space['num_long']!r}"
        )
    return space


def space_json(values):
    """A searched value as JSON: the list, or the range's dict."""
    return values.to_json() if isinstance(values, IntRange) else values
