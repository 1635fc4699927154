"""Argument checks shared by the layers: each error names the argument.

Each check returns the value as a plain Python `int` or `float`, so NumPy
scalars (`np.int64(4)`, `np.float32(0.1)`) are accepted and what a layer
stores in its config stays JSON-serializable.
"""

import math
import numbers


def is_int(value):
    """An integer, Python or NumPy, and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(value)


def check_positive(name, value):
    """Returns `int(value)`; raises `ValueError` unless an integer >= 1."""
    if not is_int(value) or value < 1:
        raise ValueError(
            f"`{name}` must be an integer >= 1. Received: {name}={value!r}"
        )
    return int(value)


def check_non_negative(name, value):
    """Returns `int(value)`; raises `ValueError` unless an integer >= 0."""
    if not is_int(value) or value < 0:
        raise ValueError(
            f"`{name}` must be an integer >= 0. Received: {name}={value!r}"
        )
    return int(value)


def check_rate(name, value):
    """Returns `float(value)`; raises `ValueError` unless a number in
    [0, 1)."""
    if not _is_real(value) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"`{name}` must be a number in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def check_positive_number(name, value):
    """Returns `float(value)`; raises `ValueError` unless a finite number
    > 0."""
    if not _is_real(value) or value <= 0:
        raise ValueError(
            f"`{name}` must be a finite number > 0. Received: "
            f"{name}={value!r}"
        )
    return float(value)


def check_batch_size(value, name="batch_size"):
    """`value` after checking it is a count of streams: an integer >= 1,
    or a scalar tensor (checked where it is used, e.g. in an export)."""
    if hasattr(value, "shape") and hasattr(value, "dtype") and \
            not isinstance(value, numbers.Number):
        return value
    return check_positive(name, value)


def check_choice(name, value, choices):
    """Returns `value`; raises `ValueError` unless one of `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"`{name}` must be one of {tuple(choices)}. Received: "
            f"{name}={value!r}"
        )
    return value
