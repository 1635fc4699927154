"""Batches of consecutive windows, one stream per batch row (see
`keras_lrm.data.streams` for the layout of a batch)."""

import math

import tensorflow as tf

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import is_int
from keras_lrm.data.shards.records import decode_record
from keras_lrm.data.shards.records import read_buffer_bytes
from keras_lrm.data.streams.layouts import StreamLayout
from keras_lrm.data.streams.source import StreamSource


def _row_windows(source, layout, row, start_window):
    """Windows `(inputs [T], targets [T])` of one row, from a window on."""
    length = layout.segment_length
    first = row * layout.row_length + start_window * length
    needed = (layout.num_windows - start_window) * length + 1
    skip_records, offset = divmod(first, source.chunk_size)
    num_records = math.ceil((offset + needed) / source.chunk_size)
    records = tf.data.TFRecordDataset(
        list(source.files), buffer_size=read_buffer_bytes(source.files))
    records = records.skip(skip_records).take(num_records)
    dtype = source.dtype

    def trim_first(index, record):
        tokens = decode_record(record, dtype)
        start = tf.where(index == 0, offset, 0)
        return tokens[tf.cast(start, tf.int32):]

    tokens = records.enumerate().map(trim_first)
    # Rows of an evaluation pass may run past the split: pad with zeros
    # (weighted 0, and only ever after the row's real tokens).
    tokens = tokens.concatenate(
        tf.data.Dataset.from_tensors(tf.zeros([needed], tf.int32)))
    segments = tokens.rebatch(length, drop_remainder=False)

    def pair(previous, current):
        window = (tf.concat([previous[0], current[:1]], axis=0), previous[1])
        return (current, tf.constant(True)), window

    initial = (tf.zeros([length], tf.int32), tf.constant(False))
    windows = segments.scan(initial, pair)
    windows = windows.filter(lambda window, valid: valid)
    windows = windows.map(lambda window, valid: window)
    return windows.take(layout.num_windows - start_window)


def stream_dataset(source, layout, rows=None, start_window=0):
    """Batches of consecutive windows for the given rows.

    Args:
        source: `StreamSource` of the split.
        layout: `train_layout(...)` or `eval_layout(...)`.
        rows: batch rows to read (default all), e.g. one replica's rows.
        start_window: first window (resuming a pass mid-way).

    Returns:
        A `tf.data.Dataset` of int32 `(len(rows), T + 1)` windows; targets
        past a row's real tokens are `-1` (see `keras_lrm.data.streams`).
    """
    if not isinstance(source, StreamSource):
        raise ValueError(
            "`source` must be a `StreamSource` (e.g. "
            "`StreamSource.from_manifest(manifest, split)`). "
            f"Received: source={source!r}"
        )
    if not isinstance(layout, StreamLayout):
        raise ValueError(
            "`layout` must be a `StreamLayout` from `train_layout` or "
            f"`eval_layout`. Received: layout={layout!r}"
        )
    check_non_negative("start_window", start_window)
    if start_window >= layout.num_windows:
        raise ValueError(
            f"`start_window` must be < {layout.num_windows} windows per "
            f"pass. Received: start_window={start_window}"
        )
    rows = list(range(layout.batch_size)) if rows is None else list(rows)
    if not rows or any(not is_int(r) or not 0 <= r < layout.batch_size
                       for r in rows):
        raise ValueError(
            f"`rows` must be batch rows in [0, {layout.batch_size}). "
            f"Received: rows={rows!r}"
        )
    per_row = tuple(_row_windows(source, layout, row, start_window)
                    for row in rows)
    length = layout.segment_length
    real = tf.constant([layout.row_targets[row] for row in rows], tf.int32)
    # Target j of window w is the row's target number w * T + j.
    targets = tf.range(-1, length, dtype=tf.int32)

    def stack(index, windows):
        batch = tf.stack(windows)
        batch.set_shape([len(rows), length + 1])
        number = (tf.cast(index, tf.int32) + start_window) * length + targets
        predicted = number[None, :] < real[:, None]
        return tf.where(predicted, batch, -tf.ones_like(batch))

    dataset = tf.data.Dataset.zip(per_row).enumerate().map(
        lambda index, windows: stack(index, windows))
    # Known length (the filter hides it): Keras averages `fit`/`evaluate`
    # metrics over the right number of steps and shows a bar with a total.
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(
        layout.num_windows - start_window))
    return dataset.prefetch(tf.data.AUTOTUNE)
