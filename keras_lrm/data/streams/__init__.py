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

from keras_lrm.data.streams.batches import stream_dataset
from keras_lrm.data.streams.distribution import distribute_streams
from keras_lrm.data.streams.layouts import StreamLayout
from keras_lrm.data.streams.layouts import eval_layout
from keras_lrm.data.streams.layouts import train_layout
from keras_lrm.data.streams.source import StreamSource

__all__ = [
    "StreamLayout",
    "StreamSource",
    "distribute_streams",
    "eval_layout",
    "stream_dataset",
    "train_layout",
]
