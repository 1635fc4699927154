"""Argument checks shared by the layers: each error names the argument."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive(name, value):
    """Raises `ValueError` unless `value` is an integer >= 1."""
    if not _is_int(value) or value < 1:
        raise ValueError(
            f"`{name}` must be an integer >= 1. Received: {name}={value!r}"
        )


def check_non_negative(name, value):
    """Raises `ValueError` unless `value` is an integer >= 0."""
    if not _is_int(value) or value < 0:
        raise ValueError(
            f"`{name}` must be an integer >= 0. Received: {name}={value!r}"
        )


def check_rate(name, value):
    """Raises `ValueError` unless `value` is a number in [0, 1)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) \
            or not 0.0 <= value < 1.0:
        raise ValueError(
            f"`{name}` must be a number in [0, 1). Received: {name}={value!r}"
        )
