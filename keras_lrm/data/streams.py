"""Transformer-XL stream batching over prepared TFRecord shards.

The token stream of a split is cut into `batch_size` contiguous streams,
one per batch row, read as consecutive `segment_length` windows: row `b`
of batch `t + 1` continues row `b` of batch `t`, so a model that carries
its memory from batch to batch sees every stream in order. Shapes are
static (TPU). Under a `tf.distribute` strategy each replica gets a fixed
set of rows, so its per-replica memory continues its own streams.

Each element is one int32 tensor `(batch, T + 1)`: the `T` input tokens of
every row and the token after them, so inputs are `[:, :-1]` and targets
`[:, 1:]`. In evaluation, a target that is only padding (past the end of a
short row) is `-1`. One plain tensor per batch is what every strategy's
input pipeline takes: Keras 3 cannot build a model from a nested batch
under a multi-worker strategy (keras-team/keras#20585). A pass starts with
an empty memory: `StatefulLM.reset_memory` or the `ResetMemory` callback.
"""

import dataclasses
import math

import tensorflow as tf

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import is_int
from keras_lrm.data.tfrecords import TF_TYPES
from keras_lrm.data.tfrecords import decode_record
from keras_lrm.data.tfrecords import read_buffer_bytes




@dataclasses.dataclass(frozen=True)
class StreamSource:
    """Where the tokens of one split are: shards of fixed-size records.

    Attributes:
        files: shard paths in token order.
        num_tokens: tokens in the split.
        chunk_size: tokens per record (the last record may be shorter).
        dtype: stored integer dtype ("uint8", "uint16" or "int32").
    """

    files: tuple
    num_tokens: int
    chunk_size: int
    dtype: str

    def __post_init__(self):
        files = self.files
        if isinstance(files, (str, bytes)) or \
                not isinstance(files, (list, tuple)) or \
                not all(isinstance(f, str) and f for f in files):
            raise ValueError(
                "`files` must be a list or tuple of shard paths. "
                f"Received: files={files!r}"
            )
        object.__setattr__(self, "files", tuple(files))
        check_non_negative("num_tokens", self.num_tokens)
        check_positive("chunk_size", self.chunk_size)
        if self.dtype not in TF_TYPES:
            raise ValueError(
                f"`dtype` must be one of {tuple(TF_TYPES)}. "
                f"Received: dtype={self.dtype!r}"
            )
        if self.num_tokens and not self.files:
            raise ValueError(
                f"`files` is empty but `num_tokens` is {self.num_tokens}. "
                f"Received: files={files!r}"
            )

    @classmethod
    def from_manifest(cls, manifest, split):
        return cls(tuple(manifest.files(split)), manifest.num_tokens(split),
                   manifest.chunk_size, manifest.dtype)


@dataclasses.dataclass(frozen=True)
class StreamLayout:
    """How a split is cut into rows and windows.

    Attributes:
        batch_size: rows (parallel streams).
        segment_length: `T`, tokens per window.
        row_length: tokens each row starts apart.
        row_targets: predicted tokens per row, `[targets_b, ...]` (eval
            rows may hold fewer than `row_length`, the rest weighted 0).
        num_windows: windows per row in one pass.
    """

    batch_size: int
    segment_length: int
    row_length: int
    row_targets: tuple
    num_windows: int


def train_layout(num_tokens, batch_size, segment_length):
    """Transformer-XL training layout: equal rows, remainder dropped.

    Each of the `batch_size` rows is `num_tokens // batch_size` tokens;
    a row yields `(row_length - 1) // segment_length` full windows (each
    reads one token past its end for the last target).
    """
    check_non_negative("num_tokens", num_tokens)
    check_positive("batch_size", batch_size)
    check_positive("segment_length", segment_length)
    row_length = num_tokens // batch_size
    windows = (row_length - 1) // segment_length if row_length else 0
    if windows < 1:
        raise ValueError(
            f"The split ({num_tokens} tokens) is too short for "
            f"`batch_size` x `segment_length`: need more than "
            f"{batch_size * (segment_length + 1)} tokens. Received: "
            f"batch_size={batch_size}, segment_length={segment_length}"
        )
    return StreamLayout(batch_size, segment_length, row_length,
                        (windows * segment_length,) * batch_size, windows)


def eval_layout(num_tokens, batch_size, segment_length):
    """Evaluation layout: every token after the first predicted once.

    The `num_tokens - 1` targets are split into `batch_size` rows of
    `ceil((num_tokens - 1) / batch_size)`; the last windows of short rows
    are padded and weighted 0.
    """
    check_non_negative("num_tokens", num_tokens)
    check_positive("batch_size", batch_size)
    check_positive("segment_length", segment_length)
    predictions = num_tokens - 1
    if predictions < 1:
        raise ValueError(
            "Evaluation needs at least 2 tokens. Received: "
            f"num_tokens={num_tokens}"
        )
    row_length = math.ceil(predictions / batch_size)
    targets = tuple(max(0, min(row_length, predictions - b * row_length))
                    for b in range(batch_size))
    windows = math.ceil(row_length / segment_length)
    return StreamLayout(batch_size, segment_length, row_length, targets,
                        windows)


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
        past a row's real tokens are `-1` (see the module docstring).
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


def distribute_streams(strategy, source, layout, start_window=0):
    """`stream_dataset` split by rows over the replicas of `strategy`.

    Each input pipeline (one per worker) reads the rows of its replicas and
    hands its replicas their rows in turn, so replica `r` always receives
    the same rows and its memory continues them. With one replica this is
    `stream_dataset` itself. A distributed dataset has no length Keras can
    see, so with several replicas pass `steps_per_epoch` (`fit`),
    `validation_steps` and `steps` (`evaluate`): `layout.num_windows`, or
    fewer. Without them Keras averages its losses over one step too many.
    """
    replicas = strategy.num_replicas_in_sync
    if layout.batch_size % replicas:
        raise ValueError(
            f"`batch_size` must be divisible by the {replicas} replicas. "
            f"Received: batch_size={layout.batch_size}"
        )
    if replicas == 1:
        return stream_dataset(source, layout, start_window=start_window)

    def dataset_fn(context):
        pipelines = context.num_input_pipelines
        local = replicas // pipelines
        per_replica = context.get_per_replica_batch_size(layout.batch_size)
        first = context.input_pipeline_id * local * per_replica
        rows = range(first, first + local * per_replica)
        dataset = stream_dataset(source, layout, rows, start_window)
        return dataset.map(
            lambda batch: tf.reshape(
                batch, [local, per_replica, layout.segment_length + 1])
        ).unbatch()

    return strategy.distribute_datasets_from_function(dataset_fn)
