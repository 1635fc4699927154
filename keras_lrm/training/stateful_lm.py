"""Memory carried from batch to batch during `fit` and `evaluate`."""

import keras
import tensorflow as tf
from keras import ops

from keras_lrm.arguments import check_positive
from keras_lrm.metrics import BitsPerToken
from keras_lrm.metrics import Perplexity
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.state_spec import CACHE
from keras_lrm.state_spec import MEMORY

MODES = ("train", "eval")
# The state's form each memory keeps: training changes the weights every
# step, so it carries the states; evaluation keeps the weights fixed, so
# it carries them projected (keras_lrm.state_spec).
FORMS = {"train": MEMORY, "eval": CACHE}
METRICS = {"bpc": BitsPerToken, "perplexity": Perplexity}


@keras.saving.register_keras_serializable(package="keras_lrm")
class StatefulLM(keras.Model):
    """Trains and evaluates a `MemoryTransformerLM` over token streams.

    Like a stateful RNN: row `b` of every batch continues the stream of row
    `b` of the batch before (see `keras_lrm.data.streams`), and the memory
    the model wrote for that row is read back: every entry of the model's
    state spec, the XL memory of each layer and, with memory tokens, the
    `"memory_tokens"` written at the end of the row's last segment (their
    start, `M_0`, is a trainable weight of the model; an emptied memory
    reads it again). The memory lives in non-trainable per-replica
    variables (`synchronization="on_read"`,
    `aggregation="only_first_replica"`), so under a `tf.distribute` strategy
    every replica keeps the memory of its own rows (`StreamCheckpoint`
    saves each replica's). Training and evaluation
    keep separate memories: an evaluation never disturbs the training
    streams. The training memory is the memory state (the weights change
    every step); the evaluation memory is the key/value cache
    (the state spec's `"cache"` form, `FORMS`: the same losses, without
    projecting the memory rows again), which is exact while the weights
    stay fixed, so empty it before each evaluation (`ResetMemory` does).
    Empty a memory where its streams start (a new pass) with
    `reset_memory()` or the `ResetMemory` callback.

    A batch is one int tensor of `T + 1` consecutive tokens per row: inputs
    `[:, :-1]`, targets `[:, 1:]`, and a negative entry `w` is the token
    `-w - 1` read but not predicted (`-1`: padding, token 0; the synthetic
    tasks hide their questions from the loss this way). The model adds the
    mean cross-entropy in nats over the predicted tokens as its loss and
    keeps an exact bits-per-token or perplexity metric, so `compile` needs
    only an optimizer. (One plain tensor per batch, rather than `(x, y)`,
    is what Keras 3 can train from under `MultiWorkerMirroredStrategy`:
    keras-team/keras#20585.)

    The memory is written inside `call`, as `BatchNormalization` updates its
    statistics, so Keras' own `train_step`, loss scaling and distribution
    apply unchanged.

    Args:
        lm: the `MemoryTransformerLM` to run.
        batch_size: global batch size (rows); each replica keeps
            `batch_size / num_replicas` rows. Build it inside the strategy's
            scope.
        metric: "bpc" (bits per token, for bytes) or "perplexity".
        bptt_segments: `K`: a training window holds `K` segments of the
            model's `segment_length` (`T = K * segment_length`), read in
            order with gradients through the memory tokens
            (`MemoryTransformerLM.call_segments`).
        gradient_segments: truncated backpropagation: the gradient stops
            at the start of the last `k` segments of a window; `None`: all.
        carry_memory: whether each batch continues the rows of the batch
            before (text streams); `False` starts every batch from an empty
            memory (independent examples, such as the synthetic tasks).
        **kwargs: base model arguments.

    Call arguments:
        windows: int `(rows, T + 1)` tokens as above.
        training: picks the training or the evaluation memory.

    Returns:
        Float32 logits `(rows, T, vocab_size)`.

    Example:

    >>> model = StatefulLM(lm, batch_size=8)
    >>> model.compile(optimizer="adam")
    >>> model.fit(stream_dataset(source, train_layout(n, 8, 128)),
    ...           callbacks=[ResetMemory()])
    """

    def __init__(self, lm, batch_size, metric="bpc", bptt_segments=1,
                 gradient_segments=None, carry_memory=True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(lm, MemoryTransformerLM):
            raise ValueError(
                "`lm` must be a keras_lrm MemoryTransformerLM. Received: "
                f"lm={lm!r}"
            )
        check_positive("batch_size", batch_size)
        self.bptt_segments = check_positive("bptt_segments", bptt_segments)
        if gradient_segments is not None:
            gradient_segments = check_positive("gradient_segments",
                                               gradient_segments)
            if gradient_segments > self.bptt_segments:
                raise ValueError(
                    "`gradient_segments` must be at most `bptt_segments` "
                    f"({self.bptt_segments}). Received: gradient_segments="
                    f"{gradient_segments}"
                )
        self.gradient_segments = gradient_segments
        if not isinstance(carry_memory, bool):
            raise ValueError(
                "`carry_memory` must be True or False. Received: "
                f"carry_memory={carry_memory!r}"
            )
        self.carry_memory = carry_memory
        if metric not in METRICS:
            raise ValueError(
                f"`metric` must be one of {tuple(METRICS)}. Received: "
                f"metric={metric!r}"
            )
        strategy = tf.distribute.get_strategy()
        replicas = strategy.num_replicas_in_sync
        if batch_size % replicas:
            raise ValueError(
                f"`batch_size` must be divisible by the {replicas} replicas "
                f"of the current strategy. Received: batch_size={batch_size}"
            )
        self.lm = lm
        self.batch_size = batch_size
        self.metric = metric
        self.replica_batch_size = batch_size // replicas
        self.token_metric = METRICS[metric]()
        self.multi_worker = isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.build()

    def build(self, input_shape=None):
        memories = {}
        for mode, form in FORMS.items():
            spec = self.lm.state_spec(form)
            memories[mode] = {
                entry.name: keras.Variable(
                    ops.zeros((self.replica_batch_size,) + entry.shape,
                              entry.dtype),
                    trainable=False,
                    dtype=entry.dtype,
                    synchronization="on_read",
                    aggregation="only_first_replica",
                    name=f"{mode}_{entry.name}",
                )
                for entry in spec
            }
        self.memories = memories
        self.built = True

    def compile(self, *args, **kwargs):
        """Keras' `compile`, then the optimizer's variables are made at
        once. Without a strategy Keras makes them inside the first traced
        training step, and a `tf.function` that creates variables is traced
        twice: every `fit` would compile its step twice. Only for an
        optimizer given: a model compiled for evaluation (Keras' default
        optimizer) gets no slots."""
        super().compile(*args, **kwargs)
        given = bool(args) or kwargs.get("optimizer") is not None
        optimizer = getattr(self, "optimizer", None)
        if given and optimizer is not None and not optimizer.built:
            with self.distribute_strategy.scope():
                optimizer.build(self.trainable_variables)

    def reset_memory(self, mode=None):
        """Empties the memory of `mode` ("train"/"eval"), or both."""
        for name in MODES if mode is None else (mode,):
            for variable in self.memories[name].values():
                variable.assign(ops.zeros(variable.shape, variable.dtype))

    def replica_memory(self, mode="train"):
        """The memory of every local replica: a list of state dicts.

        Memory states for "train", key/value caches for "eval".
        """
        strategy = self.distribute_strategy
        per_key = {
            key: strategy.experimental_local_results(variable.value)
            for key, variable in self.memories[mode].items()
        }
        count = len(next(iter(per_key.values())))
        return [{key: values[index] for key, values in per_key.items()}
                for index in range(count)]

    def call(self, windows, training=False):
        # Keras builds a model under a strategy by averaging the first
        # distributed batch, which turns ids into floats.
        if not windows.dtype.is_integer:
            windows = ops.cast(ops.round(windows), "int32")
        rows = windows.shape[0]
        if len(windows.shape) != 2 or (
                rows is not None and rows != self.replica_batch_size):
            raise ValueError(
                f"Each replica reads windows of shape "
                f"({self.replica_batch_size}, T + 1) (`batch_size`="
                f"{self.batch_size}). Received: shape={tuple(windows.shape)}"
            )
        inputs = windows[:, :-1]
        token_ids = ops.where(inputs >= 0, inputs, -inputs - 1)
        targets = windows[:, 1:]
        variables = self.memories["train" if training else "eval"]
        if self.carry_memory:
            memory = {key: ops.convert_to_tensor(v)
                      for key, v in variables.items()}
        else:
            memory = self.lm.state_spec(
                FORMS["train" if training else "eval"]).empty(
                    ops.shape(token_ids)[0])
        length = token_ids.shape[1]
        size = self.lm.segment_length
        if training and self.bptt_segments > 1 and length is not None and \
                length != self.bptt_segments * size:
            raise ValueError(
                f"With bptt_segments={self.bptt_segments}, training windows "
                f"must hold bptt_segments * segment_length + 1 = "
                f"{self.bptt_segments * size + 1} tokens per row. Received: "
                f"shape={tuple(windows.shape)}"
            )
        if (self.bptt_segments > 1 or self.lm.num_memory_tokens) and \
                length and length % self.lm.segment_length == 0:
            # Segment by segment (memory tokens are written at the end of
            # each), in training and evaluation alike.
            logits, new_memory = self.lm.call_segments(
                token_ids, memory,
                self.gradient_segments if training else None,
                training=bool(training))
        else:
            logits, new_memory = self.lm.call_with_memory(
                token_ids, memory, training=bool(training))
        for key, variable in variables.items():
            variable.assign(new_memory[key])
        weights = ops.cast(ops.greater_equal(targets, 0), "float32")
        labels = ops.maximum(targets, 0)
        nll = keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True)
        self.add_loss(ops.divide_no_nan(ops.sum(nll * weights),
                                        ops.sum(weights)))
        self.token_metric.update_state(labels, logits, weights)
        return logits

    def _with_worker_axis(self, logs):
        # Keras 3 averages step logs across workers along axis 0, which a
        # scalar lacks (keras-team/keras#20585): give each log that axis.
        if not self.multi_worker:
            return logs
        return {key: ops.reshape(value, (1,)) for key, value in logs.items()}

    def train_step(self, data):
        return self._with_worker_axis(super().train_step(data))

    def test_step(self, data):
        return self._with_worker_axis(super().test_step(data))

    def get_config(self):
        return {
            **super().get_config(),
            "lm": keras.saving.serialize_keras_object(self.lm),
            "batch_size": self.batch_size,
            "metric": self.metric,
            "bptt_segments": self.bptt_segments,
            "gradient_segments": self.gradient_segments,
            "carry_memory": self.carry_memory,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["lm"] = keras.saving.deserialize_keras_object(config["lm"])
        return cls(**config)


class ResetMemory(keras.callbacks.Callback):
    """Empties a `StatefulLM`'s memories where streams start again.

    The training memory at the start of every epoch (a pass over the
    streams) and the evaluation memory at the start of every evaluation
    and every `predict` (which reads with the evaluation memory).
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_memory("train")

    def on_test_begin(self, logs=None):
        self.model.reset_memory("eval")

    def on_predict_begin(self, logs=None):
        self.model.reset_memory("eval")
