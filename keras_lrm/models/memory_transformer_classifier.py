"""A sequence classifier built from a `MemoryStack`."""

import keras
from keras import ops

from keras_lrm.arguments import check_positive
from keras_lrm.arguments import check_positive_number
from keras_lrm.arguments import check_rate
from keras_lrm.layers.memory_stack import MemoryStack
from keras_lrm.models.memory_transformer_lm import check_dimensions
from keras_lrm.placement import placement_from_config
from keras_lrm.token_checks import as_token_tensor
from keras_lrm.token_checks import check_token_ids

POOLINGS = ("mean", "last")


@keras.saving.register_keras_serializable(package="keras_lrm")
class MemoryTransformerClassifier(keras.Model):
    """Classifies a long sequence read by a Transformer-XL stack.

    Token embedding scaled by `sqrt(d_model)`, a causal `MemoryStack`, a
    pooling of the hidden states of the whole sequence, and a head
    (`Dense(d_model, relu)`, then `Dense(num_classes)`) to float32 logits.

    A sequence no longer than `segment_length` is read in one call. A
    longer one is read segment by segment (a Python loop unrolled in the
    graph, with static shapes, so it compiles with XLA): each segment
    attends to the memory the stack carried from the earlier ones, whose
    per-layer lengths follow `placement` or `memory_lengths`. With every
    memory as long as the start of the last segment (`L - 1` rounded
    down to a multiple of `segment_length`), that equals one pass.

    Padding goes at the end of each row. The model is causal, so a real
    token never attends to a later padded one; the mask only keeps padded
    positions out of the pooling. Padding at the start would be attended
    to: pad at the end.

    Args:
        vocab_size: number of token ids.
        num_classes: number of classes (>= 2).
        num_layers: number of memory blocks.
        d_model: model width; must be even and divisible by `num_heads`.
        num_heads: attention heads.
        d_ff: feed-forward width.
        segment_length: tokens read per call of the stack.
        placement: a `keras_lrm.Placement`; or give `memory_lengths`;
            neither: no memory (each segment reads itself alone).
        memory_lengths: per-layer memory lengths (bottom layer first).
        dropout: dropout on embeddings, block outputs and pooled states.
        attention_dropout: dropout on attention probabilities.
        pre_norm: pre-layer-norm blocks (default post-norm).
        pooling: `"mean"`, the mean of the hidden states of the real
            (not padded) positions; or `"last"`, the state of the last real
            position (which has read the whole sequence; end the
            sequences with a summary token, e.g. ListOps' `<eos>`).
        clamp_len, activation, layer_norm_epsilon: as in
            `MemoryTransformerLM`.
        decay_max, pool_size: LaS locality and smoothness of the attention
            (Zimerman & Wolf; see `MemoryAttention`), one value for every
            layer or a list with one per layer. The defaults (None, 1) give
            Transformer-XL's attention.
        decay_form, pool_order: LaS' forms (see `MemoryAttention`).
        **kwargs: base model arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `{"token_ids": (batch, L), "padding_mask": (batch, L)}`,
            `padding_mask` true (or 1) at real tokens; or `token_ids`
            alone, whose padding is the id 0. `L` must be static.
        training: whether dropout is active.

    Returns:
        float32 logits `(batch, num_classes)`.

    Example:

    >>> model = MemoryTransformerClassifier(
    ...     vocab_size=18, num_classes=10, num_layers=2, d_model=32,
    ...     num_heads=2, d_ff=64, segment_length=8, memory_lengths=[8, 8])
    >>> ids = keras.ops.ones((3, 24), "int32")
    >>> model({"token_ids": ids, "padding_mask": ids > 0}).shape
    (3, 10)

    Reference:
        Tay et al., "Long Range Arena", ICLR 2021; Dai et al.,
        "Transformer-XL", ACL 2019.
    """

    def __init__(self, vocab_size, num_classes, num_layers, d_model,
                 num_heads, d_ff, segment_length, placement=None,
                 memory_lengths=None, dropout=0.0, attention_dropout=0.0,
                 pre_norm=False, pooling="mean", clamp_len=None,
                 activation="relu", layer_norm_epsilon=1e-5,
                 decay_max=None, pool_size=1, decay_form="multiplicative",
                 pool_order="after_softmax", **kwargs):
        super().__init__(**kwargs)
        vocab_size = check_positive("vocab_size", vocab_size)
        num_classes = check_positive("num_classes", num_classes)
        if num_classes < 2:
            raise ValueError(
                "`num_classes` must be an integer >= 2. Received: "
                f"num_classes={num_classes}"
            )
        num_layers = check_positive("num_layers", num_layers)
        d_model = check_positive("d_model", d_model)
        num_heads = check_positive("num_heads", num_heads)
        d_ff = check_positive("d_ff", d_ff)
        segment_length = check_positive("segment_length", segment_length)
        dropout = check_rate("dropout", dropout)
        attention_dropout = check_rate("attention_dropout", attention_dropout)
        layer_norm_epsilon = check_positive_number("layer_norm_epsilon",
                                                   layer_norm_epsilon)
        if pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {POOLINGS}. Received: "
                f"pooling={pooling!r}"
            )
        check_dimensions(d_model, num_heads)
        if placement is None and memory_lengths is None:
            memory_lengths = [0] * num_layers
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.num_layers = num_layers
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_ff = d_ff
        self.segment_length = segment_length
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.pre_norm = pre_norm
        self.pooling = pooling
        self.clamp_len = clamp_len
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.embedding = keras.layers.Embedding(
            vocab_size, d_model, embeddings_initializer=initializer,
            dtype=self.dtype_policy, name="embedding")
        self.stack = MemoryStack(
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_dim=d_ff,
            placement=placement,
            memory_lengths=memory_lengths,
            dropout=dropout,
            attention_dropout=attention_dropout,
            activation=activation,
            pre_norm=pre_norm,
            layer_norm_epsilon=layer_norm_epsilon,
            clamp_len=clamp_len,
            kernel_initializer=initializer,
            decay_max=decay_max,
            pool_size=pool_size,
            decay_form=decay_form,
            pool_order=pool_order,
            dtype=self.dtype_policy,
            name="stack",
        )
        self.placement = self.stack.placement
        self.decay_max = self.stack.decay_max
        self.pool_size = self.stack.pool_size
        self.decay_form = decay_form
        self.pool_order = pool_order
        self.embedding_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="embedding_dropout")
        self.pooled_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="pooled_dropout")
        self.head = keras.layers.Dense(
            d_model, activation="relu", kernel_initializer=initializer,
            dtype=self.dtype_policy, name="head")
        self.classifier = keras.layers.Dense(
            num_classes, kernel_initializer=initializer,
            dtype=self.dtype_policy, name="classifier")
        self.build((None, None))

    @property
    def memory_lengths(self):
        """Per-layer memory lengths, bottom layer first."""
        return list(self.stack.memory_lengths)

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        hidden = (None, None, self.d_model)
        self.stack.build(hidden)
        self.embedding_dropout.build(hidden)
        self.pooled_dropout.build((None, self.d_model))
        self.head.build((None, self.d_model))
        self.classifier.build((None, self.d_model))
        self.built = True

    def _inputs(self, inputs):
        """`(token_ids, mask)`: int ids checked and a float mask, both
        `(batch, L)` with a static `L`."""
        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - {"token_ids", "padding_mask"})
            if unknown or "token_ids" not in inputs:
                raise ValueError(
                    "`inputs` must be token ids or a dict with the key "
                    "'token_ids' and optionally 'padding_mask'. Received: "
                    f"keys {sorted(inputs)}"
                )
            token_ids = as_token_tensor(inputs["token_ids"])
            mask = inputs.get("padding_mask")
        else:
            token_ids = as_token_tensor(inputs)
            mask = None
        shape = tuple(token_ids.shape)
        if len(shape) != 2 or shape[1] is None or shape[1] == 0:
            raise ValueError(
                "`token_ids` must have shape (batch, L) with a static "
                f"L >= 1 (pad to a fixed length). Received: shape={shape}"
            )
        token_ids = check_token_ids(token_ids, self.vocab_size)
        if mask is None:
            mask = ops.not_equal(token_ids, 0)
        else:
            if not hasattr(mask, "shape"):
                mask = ops.convert_to_tensor(mask)
            if tuple(mask.shape) != shape and None not in mask.shape:
                raise ValueError(
                    "`padding_mask` must have the shape of `token_ids` "
                    f"{shape}. Received: shape={tuple(mask.shape)}"
                )
        return token_ids, ops.cast(mask, "float32")

    def _weights(self, mask):
        """Pooling weight of each position `(batch, L)`; each row sums to 1
        (a row without a real token: all 0)."""
        if self.pooling == "mean":
            count = ops.sum(mask, axis=1, keepdims=True)
            return mask / ops.maximum(count, 1.0)
        # The last real position: the last 1 of the mask.
        positions = ops.arange(1, mask.shape[1] + 1, dtype="float32")
        last = ops.max(mask * positions[None, :], axis=1, keepdims=True)
        return ops.cast(ops.equal(positions[None, :], last), "float32") \
            * ops.cast(last > 0, "float32")

    def pooled(self, inputs, training=None):
        """The pooled hidden states `(batch, d_model)` before the head."""
        token_ids, mask = self._inputs(inputs)
        weights = self._weights(mask)
        hidden = self.embedding(token_ids) * ops.cast(
            self.d_model ** 0.5, self.compute_dtype)
        hidden = self.embedding_dropout(hidden, training=training)
        length = token_ids.shape[1]
        memory, pooled = None, 0.0
        for start in range(0, length, self.segment_length):
            stop = min(start + self.segment_length, length)
            # The first segment reads no memory: no rows to mask.
            outputs, memory = self.stack(
                hidden[:, start:stop], memory, training=training)
            pooled = pooled + ops.einsum(
                "bt,btd->bd", weights[:, start:stop],
                ops.cast(outputs, "float32"))
            if not any(self.memory_lengths):
                memory = None
        return ops.cast(pooled, self.compute_dtype)

    def call(self, inputs, training=None):
        pooled = self.pooled(inputs, training)
        pooled = self.pooled_dropout(pooled, training=training)
        logits = self.classifier(self.head(pooled))
        return ops.cast(logits, "float32")

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape["token_ids"]
        return (input_shape[0], self.num_classes)

    def compute_output_spec(self, inputs, training=None):
        token_ids = inputs["token_ids"] if isinstance(inputs, dict) \
            else inputs
        return keras.KerasTensor(
            (token_ids.shape[0], self.num_classes), "float32")

    def get_config(self):
        placement = self.placement
        if placement is not None:
            placement = keras.saving.serialize_keras_object(placement)
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "num_classes": self.num_classes,
            "num_layers": self.num_layers,
            "d_model": self.d_model,
            "num_heads": self.num_heads,
            "d_ff": self.d_ff,
            "segment_length": self.segment_length,
            "placement": placement,
            "memory_lengths": None if placement is not None
            else self.memory_lengths,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "pre_norm": self.pre_norm,
            "pooling": self.pooling,
            "clamp_len": self.clamp_len,
            "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "decay_max": self.decay_max,
            "pool_size": self.pool_size,
            "decay_form": self.decay_form,
            "pool_order": self.pool_order,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**placement_from_config(config))
