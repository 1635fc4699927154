"""Split names and the deterministic split rules shared by the corpora."""

import zlib

SPLITS = ("train", "valid", "test")

# Percentages of a corpus in each split, for the rules below.
TRAIN_PERCENT = 90
VALID_PERCENT = 5


def check_split(split):
    """Raises `ValueError` unless `split` is one of `SPLITS`."""
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be one of {SPLITS}. Received: split={split!r}"
        )


def split_of_path(relpath):
    """The split a file belongs to, from its relative path alone.

    `zlib.crc32` of the posix relative path, modulo 100: below 90 is
    `"train"`, 90 to 94 `"valid"`, 95 and above `"test"`. The rule needs no
    other file, so adding a file never moves another one to another split.
    """
    bucket = zlib.crc32(relpath.encode("utf-8")) % 100
    if bucket < TRAIN_PERCENT:
        return "train"
    if bucket < TRAIN_PERCENT + VALID_PERCENT:
        return "valid"
    return "test"


def split_bounds(length):
    """Byte ranges `{split: (start, end)}` of a text cut 90/5/5.

    As Transformer-XL's `prep_enwik8.py`: with `n = length // 20`, train is
    `[0, length - 2n)`, valid `[length - 2n, length - n)` and test
    `[length - n, length)`. For `length = 10**8`, `n` is 5,000,000.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(
            f"`length` must be an integer >= 0. Received: length={length!r}"
        )
    n = length // 20
    return {
        "train": (0, length - 2 * n),
        "valid": (length - 2 * n, length - n),
        "test": (length - n, length),
    }
