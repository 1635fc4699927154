"""Synthetic tasks as tf.data pipelines of the library's LM windows."""

import keras
import tensorflow as tf
from keras import ops

from keras_lrm.arguments import check_positive
from keras_lrm.data.synthetic.generation import generate


def dataset(task, num_examples, seed, segment_length=None,
            num_segments=None, batch_size=32, *, length=None, repeats=None,
            fill=False, shuffle=False, repeat=False):
    """Batches of a synthetic task as signed `(batch, K * S + 1)` windows.

    The examples are generated once, offline, from `seed` (see
    `generate`), and batched with `drop_remainder=True`, so every batch
    has the static shape `(batch_size, K * S + 1)` that `jit_compile` and
    TPUs need. Each entry is a token id, negated minus one where its
    target is not scored (see `SyntheticExamples.windows`): decode a
    batch with `split_windows`.

    Args:
        task: a preset name, a kind or a `SyntheticTask` (see `get_task`).
        num_examples: examples in one pass (>= `batch_size`; the last
            `num_examples % batch_size` are dropped).
        seed: integer >= 0: the examples, and the shuffle order.
        segment_length: `S` (None keeps the preset's).
        num_segments: `K` (None keeps the preset's).
        batch_size: rows per batch (global, before any strategy splits
            it).
        length, repeats, fill: override the preset's length or repeats,
            or fit the longest task in the segments (see `get_task`).
        shuffle: reshuffle the examples every pass (seeded).
        repeat: repeat the passes forever (for training by steps).

    Returns:
        A `tf.data.Dataset` of int32 `(batch_size, K * S + 1)` tensors.

    Example:

    >>> train = dataset("copy24", 10_000, seed=1, batch_size=32,
    ...                 shuffle=True, repeat=True)
    >>> token_ids, targets = split_windows(next(iter(train)))
    """
    batch_size = check_positive("batch_size", batch_size)
    num_examples = check_positive("num_examples", num_examples)
    if num_examples < batch_size:
        raise ValueError(
            f"`num_examples` must be >= `batch_size` ({batch_size}): "
            "batches drop the remainder, so fewer make no batch. Received: "
            f"num_examples={num_examples}"
        )
    examples = generate(task, num_examples, seed, length=length,
                        num_segments=num_segments,
                        segment_length=segment_length, repeats=repeats,
                        fill=fill)
    data = tf.data.Dataset.from_tensor_slices(examples.windows)
    if shuffle:
        data = data.shuffle(num_examples, seed=seed,
                            reshuffle_each_iteration=True)
    if repeat:
        data = data.repeat()
    data = data.batch(batch_size, drop_remainder=True)
    return data.prefetch(tf.data.AUTOTUNE)


def split_windows(windows):
    """`(token_ids, targets)` of signed windows (any backend's tensors).

    Args:
        windows: int `(batch, T + 1)` signed windows (see
            `SyntheticExamples.windows`).

    Returns:
        `token_ids`: int32 `(batch, T)`, the inputs; `targets`: int32
        `(batch, T)`, the next tokens, -1 where not scored. A window of
        plain ids with -1 padding decodes as `StatefulLM` reads it (inputs
        `max(w, 0)`, a -1 target not predicted).
    """
    windows = ops.convert_to_tensor(windows)
    dtype = keras.backend.standardize_dtype(windows.dtype)
    if len(windows.shape) != 2 or not keras.backend.is_int_dtype(dtype):
        raise ValueError(
            "`windows` must be an int tensor of shape (batch, T + 1). "
            f"Received: windows of shape {tuple(windows.shape)} and dtype "
            f"{dtype}"
        )
    windows = ops.cast(windows, "int32")
    ids = ops.where(windows < 0, -windows - 1, windows)
    following = windows[:, 1:]
    targets = ops.where(following >= 0, following, -1)
    return ids[:, :-1], targets
