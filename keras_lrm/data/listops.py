"""ListOps (Long Range Arena): nested list operations to classify.

An expression is a tree of operators on digits, written in prefix order
with space-separated tokens, e.g. `[MAX 2 9 [MIN 4 7 ] 0 ]`, whose value
(a digit, so 10 classes) is the label:

- `[MAX` and `[MIN`: the largest and smallest argument;
- `[MED`: the median, `int(np.median(args))` (rounded down);
- `[SM`: the sum modulo 10;
- `]` closes the innermost open operator.

`generate` draws trees with the rules of Long Range Arena's `listops.py`
(Tay et al., 2021): a node above `max_depth` is an operator with
probability 1/4 (else a digit), an operator has 2 to `max_args` arguments
drawn alike, and trees are drawn until one's length in tokens falls in
`[min_length, max_length]` (LRA compares strictly; here both ends are
allowed). Expressions are distinct within a call, as LRA's set of trees.
LRA's files write the binary tree it builds with extra `(` and `)`, which
its pipeline strips; `encode` drops them too, so those files can be read.

The vocabulary keeps the brackets, as S4 did (LRA's tokenizer dropped
them, a bug fixed upstream later): 18 ids, `<pad>` = 0, `<unk>` = 1,
`<eos>` = 2 (an optional end token, e.g. for `pooling="last"`), the
operators `[MAX [MIN [MED [SM` = 3 to 6, `]` = 7, and the digits 0-9 =
8 to 17.

>>> expressions, labels = generate(100, seed=0, min_length=20,
...                                max_length=100)
>>> data = dataset(expressions, labels, batch_size=8, max_length=100)
>>> features, labels = next(iter(data))
>>> features["token_ids"].shape, features["padding_mask"].shape
(TensorShape([8, 100]), TensorShape([8, 100]))
"""

import random

import numpy as np

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import is_int

MAX = "[MAX"
MIN = "[MIN"
MED = "[MED"
SUM_MOD = "[SM"
END = "]"
OPERATORS = (MAX, MIN, MED, SUM_MOD)
DIGITS = tuple(str(value) for value in range(10))

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
VOCABULARY = (PAD, UNK, EOS) + OPERATORS + (END,) + DIGITS
PAD_ID, UNK_ID, EOS_ID = 0, 1, 2
VOCAB_SIZE = len(VOCABULARY)  # 18
NUM_CLASSES = 10
# LRA's split sizes.
SPLIT_SIZES = {"train": 96_000, "valid": 2_000, "test": 2_000}

# A node above the maximum depth is an operator with this probability.
OPERATOR_PROBABILITY = 0.25
# Tokens of LRA's files that only group its binary tree.
GROUPING = ("(", ")")
# Draws in a row that may yield nothing new before `generate` gives up.
MAX_FRUITLESS_DRAWS = 1_000_000

_IDS = {token: index for index, token in enumerate(VOCABULARY)}


class _TooLong(Exception):
    """A tree being drawn passed `max_length`: it would be rejected."""


def _apply(operator, args):
    if operator == MAX:
        return max(args)
    if operator == MIN:
        return min(args)
    if operator == SUM_MOD:
        return sum(args) % 10
    ordered = sorted(args)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    # int(np.median(...)) of non-negative values rounds down.
    return (ordered[middle - 1] + ordered[middle]) // 2


def _draw(rng, max_depth, max_args, max_length):
    """One tree as `(tokens, value)`; raises `_TooLong` as soon as it
    passes `max_length` tokens (a tree LRA would draw whole and reject:
    stopping early keeps the distribution of the trees kept)."""
    tokens = []

    def node(depth):
        if depth < max_depth and rng.random() <= OPERATOR_PROBABILITY:
            operator = OPERATORS[rng.randrange(len(OPERATORS))]
            tokens.append(operator)
            args = [node(depth + 1)
                    for _ in range(rng.randint(2, max_args))]
            tokens.append(END)
            value = _apply(operator, args)
        else:
            value = rng.randrange(10)
            tokens.append(DIGITS[value])
        if len(tokens) > max_length:
            raise _TooLong
        return value

    value = node(1)
    return tokens, value


def longest(max_depth, max_args):
    """The most tokens a tree of `max_depth` and `max_args` can have."""
    length = 1
    for _ in range(max_depth - 1):
        length = 2 + max_args * length
    return length


def check_options(min_length, max_length, max_depth, max_args):
    """The options of `generate` checked: `ValueError` names the first bad
    one."""
    min_length = check_positive("min_length", min_length)
    max_length = check_positive("max_length", max_length)
    if min_length > max_length:
        raise ValueError(
            "`min_length` must be <= `max_length`. Received: "
            f"min_length={min_length}, max_length={max_length}"
        )
    max_depth = check_positive("max_depth", max_depth)
    if not is_int(max_args) or max_args < 2:
        raise ValueError(
            "`max_args` must be an integer >= 2 (an operator takes at "
            f"least 2 arguments). Received: max_args={max_args!r}"
        )
    most = longest(max_depth, int(max_args))
    if min_length > most:
        raise ValueError(
            f"`min_length` must be <= {most}, the longest tree of "
            f"max_depth={max_depth} and max_args={max_args}. Received: "
            f"min_length={min_length}"
        )
    return min_length, max_length, max_depth, int(max_args)


def generate(num_examples, seed, min_length=500, max_length=2000,
             max_depth=10, max_args=10, exclude=()):
    """`num_examples` distinct ListOps expressions and their values.

    Args:
        num_examples: number of examples (>= 0).
        seed: an int or str; the same seed and options give the same
            examples.
        min_length, max_length: bounds (both allowed) of an expression's
            length in tokens.
        max_depth: most nested levels (1: a lone digit).
        max_args: most arguments of an operator (>= 2).
        exclude: expressions not to return (e.g. another split's).

    Returns:
        `(expressions, labels)`: a list of `num_examples` strings and an
        int32 array `(num_examples,)` of their values in `[0, 10)`.
    """
    num_examples = check_non_negative("num_examples", num_examples)
    min_length, max_length, max_depth, max_args = check_options(
        min_length, max_length, max_depth, max_args)
    if isinstance(seed, bool) or not isinstance(seed, (int, str)):
        raise ValueError(
            f"`seed` must be an int or a str. Received: seed={seed!r}"
        )
    rng = random.Random(f"listops/{seed}")
    excluded = set(exclude)
    seen = set()
    expressions, labels = [], []
    fruitless = 0
    while len(expressions) < num_examples:
        try:
            tokens, value = _draw(rng, max_depth, max_args, max_length)
        except _TooLong:
            tokens = ()
        expression = " ".join(tokens)
        if len(tokens) < min_length or expression in seen or \
                expression in excluded:
            fruitless += 1
            if fruitless > MAX_FRUITLESS_DRAWS:
                raise ValueError(
                    f"No new expression in {MAX_FRUITLESS_DRAWS} draws: "
                    "too few trees fit the options for `num_examples`. "
                    f"Received: num_examples={num_examples}, min_length="
                    f"{min_length}, max_length={max_length}, max_depth="
                    f"{max_depth}, max_args={max_args}"
                )
            continue
        fruitless = 0
        seen.add(expression)
        expressions.append(expression)
        labels.append(value)
    return expressions, np.asarray(labels, "int32")


def splits(seed=0, train_size=SPLIT_SIZES["train"],
           valid_size=SPLIT_SIZES["valid"], test_size=SPLIT_SIZES["test"],
           **options):
    """The three splits, with LRA's sizes by default (96k / 2k / 2k).

    Each split has its own seed (derived from `seed` and its name). Test
    is drawn first, then valid without test's expressions, then train
    without either, so no expression is in two splits and the evaluation
    splits do not depend on `train_size`.

    Args:
        seed: an int or str.
        train_size, valid_size, test_size: examples per split.
        **options: `generate`'s `min_length`, `max_length`, `max_depth`,
            `max_args`.

    Returns:
        `{"train": (expressions, labels), "valid": ..., "test": ...}`.
    """
    sizes = {"test": test_size, "valid": valid_size, "train": train_size}
    result, drawn = {}, []
    for name, size in sizes.items():
        if isinstance(size, bool) or not is_int(size) or size < 0:
            raise ValueError(
                f"`{name}_size` must be an integer >= 0. Received: "
                f"{name}_size={size!r}"
            )
        result[name] = generate(size, f"{seed}/{name}", exclude=drawn,
                                **options)
        drawn = drawn + result[name][0]
    return {name: result[name] for name in ("train", "valid", "test")}


def encode(expressions, append_eos=False):
    """Token ids of each expression (a list of int32 arrays).

    `(` and `)` (the grouping of LRA's files) are dropped; any other
    token outside the vocabulary is `<unk>` (1). With `append_eos`,
    `<eos>` (2) ends each expression.
    """
    if isinstance(expressions, str):
        raise ValueError(
            "`expressions` must be a list of strings, not one string. "
            f"Received: expressions={expressions[:40]!r}"
        )
    tail = [EOS_ID] if append_eos else []
    return [np.asarray([_IDS.get(token, UNK_ID)
                        for token in expression.split()
                        if token not in GROUPING] + tail, "int32")
            for expression in expressions]


def decode(token_ids):
    """The expression of a sequence of ids (padding dropped); a list of
    them for a batch `(batch, time)`."""
    ids = np.asarray(token_ids)
    if ids.ndim == 2:
        return [decode(row) for row in ids]
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or (
            ids.size and (ids.min() < 0 or ids.max() >= VOCAB_SIZE)):
        raise ValueError(
            f"`token_ids` must be integer ids in [0, {VOCAB_SIZE}) of "
            "shape (time,) or (batch, time). Received: token_ids of shape "
            f"{ids.shape} and dtype {ids.dtype}"
        )
    return " ".join(VOCABULARY[i] for i in ids if i != PAD_ID)


def pad(expressions, max_length, append_eos=False, dtype="int32"):
    """`(token_ids, padding_mask)`: `dtype` (int32; uint8 holds the 18
    ids in a quarter of the memory) and bool `(n, max_length)`, each
    expression's ids then `<pad>` (0) to `max_length`."""
    max_length = check_positive("max_length", max_length)
    encoded = encode(expressions, append_eos)
    longest_found = max((len(ids) for ids in encoded), default=0)
    if longest_found > max_length:
        raise ValueError(
            f"`max_length` must be >= the longest expression "
            f"({longest_found} tokens). Received: max_length={max_length}"
        )
    token_ids = np.zeros((len(encoded), max_length), dtype)
    for row, ids in enumerate(encoded):
        token_ids[row, :len(ids)] = ids
    return token_ids, token_ids != PAD_ID


def dataset(expressions, labels, batch_size, max_length, shuffle=False,
            seed=None, drop_remainder=True, append_eos=False):
    """A `tf.data.Dataset` of `({"token_ids", "padding_mask"}, labels)`.

    Every batch has static shapes (for XLA and TPUs): `token_ids` int32
    and `padding_mask` bool `(batch_size, max_length)`, padding at the
    end; `labels` int32 `(batch_size,)`. With `drop_remainder=False` the
    last batch may be smaller (a batch dimension of `None`).

    Args:
        expressions: strings (from `generate`, or LRA's files).
        labels: their values, ints in `[0, 10)`.
        batch_size: examples per batch.
        max_length: padded length; at least the longest expression.
        shuffle: reshuffle the examples on every pass.
        seed: seed of the shuffle.
        drop_remainder: drop a last, incomplete batch.
        append_eos: end each expression with `<eos>`.
    """
    import tensorflow as tf

    batch_size = check_positive("batch_size", batch_size)
    labels = np.asarray(labels)
    if len(labels) != len(expressions) or not np.issubdtype(
            labels.dtype, np.integer) or (labels.size and (
            labels.min() < 0 or labels.max() >= NUM_CLASSES)):
        raise ValueError(
            f"`labels` must be one int in [0, {NUM_CLASSES}) per "
            f"expression ({len(expressions)}). Received: labels of shape "
            f"{labels.shape} and dtype {labels.dtype}"
        )
    # uint8 ids keep the table in memory 4x smaller (LRA: 96k x 2000).
    token_ids, _ = pad(expressions, max_length, append_eos, "uint8")
    data = tf.data.Dataset.from_tensor_slices(
        (token_ids, labels.astype("int32")))
    if shuffle:
        data = data.shuffle(len(labels), seed=seed,
                            reshuffle_each_iteration=True)
    data = data.batch(batch_size, drop_remainder=drop_remainder)

    def features(ids, label):
        ids = tf.cast(ids, tf.int32)
        return {"token_ids": ids, "padding_mask": ids != PAD_ID}, label

    return data.map(features, num_parallel_calls=tf.data.AUTOTUNE) \
        .prefetch(tf.data.AUTOTUNE)
