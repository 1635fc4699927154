"""Transformer-XL relative multi-head attention over memory and segment."""

import keras
from keras import ops

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import check_rate
from keras_lrm.layers.fused_attention import fused_attention_available
from keras_lrm.layers.fused_attention import requirements
from keras_lrm.layers.relative_position import relative_shift
from keras_lrm.layers.relative_position import sinusoid_table

_MASK_VALUE = -1e9


def attention_mask(num_queries, memory_length, filled=None):
    """Which keys each query may attend to.

    Args:
        num_queries: `T`, rows of the segment.
        memory_length: `M`, rows of the memory in front of the segment.
        filled: optional int tensor `(batch,)`: how many of the most recent
            memory rows hold real states. `None` means all `M` rows do.

    Returns:
        Bool tensor `(batch or 1, T, M + T)`: key `j` is visible to query
        `i` when `j <= M + i` (causal) and `j >= M - filled` (filled memory).
    """
    keys = ops.arange(memory_length + num_queries, dtype="int32")
    queries = ops.arange(num_queries, dtype="int32")
    mask = keys[None, :] <= queries[:, None] + memory_length
    mask = mask[None]
    if filled is not None and memory_length:
        start = memory_length - ops.cast(filled, "int32")
        visible = keys[None, :] >= start[:, None]
        mask = ops.logical_and(mask, visible[:, None, :])
    return mask


@keras.saving.register_keras_serializable(package="keras_lrm")
class MemoryAttention(keras.layers.Layer):
    """Relative multi-head attention of a segment over memory and itself.

    Transformer-XL attention: keys and values come from
    `concat(memory, inputs)`, queries from `inputs` only. The score of query
    `i` against key `j` at distance `d` is
    `((q_i + u) . k_j + (q_i + v) . W_r r(d)) / sqrt(key_dim)`, with `r` a
    sinusoid encoding of `d`, `u`, `v` learned per-head biases and a causal
    mask. The layer's window is its memory length `M`: a query sees the `M`
    memory rows and the segment up to itself. Memory rows that are not yet
    filled are masked, not attended as zeros.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head.
        memory_length: `M`, memory rows the layer attends to (>= 0).
        attention_dropout: dropout rate on the attention probabilities.
        clamp_len: optional; distances above it share its encoding.
        use_bias: whether the projections have biases (Transformer-XL: no).
        kernel_initializer: initializer of projections and of `u`, `v`.
        flash_attention: whether to run the attention as one fused kernel
            (`keras.ops.dot_product_attention` with the position term and
            the mask as its `bias`; cuDNN flash attention under JAX on a
            CUDA GPU, see `keras_lrm.layers.fused_attention`). `None`: where
            it can run and the attention dropout is inactive, unless
            `keras.config.disable_flash_attention()` was called before the
            layer was created. `True`: always, and an error where it cannot
            run. `False`: never. Either path computes the same attention.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, T, dim)` segment.
        memory: `(batch, M, dim)` states before the segment, or `None` for an
            empty memory.
        filled: optional int `(batch,)`, filled memory rows (see
            `attention_mask`). `None`: all rows are filled.
        position_encoding: optional `(M + T + 1, dim)` table from
            `sinusoid_table(M + T, dim)`; computed here when omitted.
        training: whether dropout is active.

    Returns:
        `(batch, T, dim)` attention output.

    Example:

    >>> attention = MemoryAttention(num_heads=2, key_dim=8, memory_length=4)
    >>> x = keras.random.normal((3, 5, 16))
    >>> attention(x, keras.random.normal((3, 4, 16))).shape
    (3, 5, 16)

    Reference:
        Dai et al., "Transformer-XL: Attentive Language Models Beyond a
        Fixed-Length Context", ACL 2019.
    """

    def __init__(self, num_heads, key_dim, memory_length=0,
                 attention_dropout=0.0, clamp_len=None, use_bias=False,
                 kernel_initializer=None, flash_attention=None, **kwargs):
        super().__init__(**kwargs)
        check_positive("num_heads", num_heads)
        check_positive("key_dim", key_dim)
        check_non_negative("memory_length", memory_length)
        check_rate("attention_dropout", attention_dropout)
        if clamp_len is not None:
            check_positive("clamp_len", clamp_len)
        if flash_attention is not None and \
                not isinstance(flash_attention, bool):
            raise ValueError(
                "`flash_attention` must be None, True or False. Received: "
                f"flash_attention={flash_attention!r}"
            )
        if flash_attention and attention_dropout > 0:
            raise ValueError(
                "`flash_attention` cannot be True with attention dropout "
                "(the fused kernel has none); use attention_dropout=0 or "
                "flash_attention=None. Received: flash_attention=True, "
                f"attention_dropout={attention_dropout}"
            )
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.memory_length = memory_length
        self.attention_dropout = attention_dropout
        self.clamp_len = clamp_len
        self.use_bias = use_bias
        self.flash_attention = flash_attention
        # As keras.layers.MultiHeadAttention: the global switch is read once.
        self._allow_fused = flash_attention is not False and (
            flash_attention or
            keras.config.is_flash_attention_enabled() is not False)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer
            or keras.initializers.RandomNormal(stddev=0.02)
        )
        self.supports_masking = False

    def build(self, inputs_shape, memory_shape=None, filled_shape=None,
              position_encoding_shape=None):
        dim = inputs_shape[-1]
        if dim is None:
            raise ValueError(
                "The last dimension of `inputs` must be known. "
                f"Received: inputs_shape={inputs_shape}"
            )
        self.dim = dim
        heads, depth = self.num_heads, self.key_dim

        # Plain Dense projections to heads x key_dim, split by a reshape:
        # one 2-D GEMM each way, where an einsum's weight gradient becomes
        # one product per batch row and a reduction.
        width = heads * depth
        self.query_dense = self._projection(width, self.use_bias, "query")
        self.query_dense.build(inputs_shape)
        self.key_dense = self._projection(width, self.use_bias, "key")
        self.key_dense.build(inputs_shape)
        self.value_dense = self._projection(width, self.use_bias, "value")
        self.value_dense.build(inputs_shape)
        self.position_dense = self._projection(width, False, "position")
        self.position_dense.build((None, dim))
        self.output_dense = self._projection(dim, self.use_bias,
                                             "attention_output")
        self.output_dense.build((None, None, width))
        self.content_bias = self.add_weight(
            name="content_bias", shape=(heads, depth),
            initializer=self.kernel_initializer)
        self.position_bias = self.add_weight(
            name="position_bias", shape=(heads, depth),
            initializer=self.kernel_initializer)
        self.dropout_layer = keras.layers.Dropout(
            self.attention_dropout, dtype=self.dtype_policy)
        self.built = True

    def _projection(self, units, use_bias, name):
        return keras.layers.Dense(
            units,
            use_bias=use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _heads(self, projected):
        """`(..., heads * key_dim)` -> `(..., heads, key_dim)`."""
        shape = tuple(ops.shape(projected)[:-1])
        return ops.reshape(projected, shape + (self.num_heads,
                                               self.key_dim))

    def _memory_rows(self, memory):
        if memory is None:
            return 0
        shape = tuple(memory.shape)
        if len(shape) != 3 or shape[1] != self.memory_length or \
                shape[2] not in (None, self.dim):
            raise ValueError(
                f"`memory` of layer '{self.name}' must have shape (batch, "
                f"{self.memory_length}, {self.dim}). Received: "
                f"memory.shape={shape}"
            )
        return self.memory_length

    def attention_scores(self, query, keys, positions, memory_rows, mask):
        """Scaled, masked float32 scores `(heads, batch, T, K)`.

        Heads lead: the position product (shared by the batch) comes out of
        XLA's batched dot in this order, and so does the content product, so
        no score-sized tensor is transposed forward or backward. A seam for
        variants that change the scores (e.g. a locality decay).
        """
        content = ops.einsum("btnh,bsnh->nbts",
                             query + self.content_bias, keys)
        position = ops.einsum("btnh,pnh->nbtp",
                              query + self.position_bias, positions)
        position = relative_shift(position, memory_rows)
        scores = (content + position) * (1.0 / self.key_dim ** 0.5)
        # Softmax in float32 whatever the compute dtype (mixed precision).
        scores = ops.cast(scores, "float32")
        return ops.where(mask[None], scores, _MASK_VALUE)

    def _use_fused(self, num_queries, memory_rows, training):
        if not self._allow_fused:
            return False
        available = fused_attention_available(
            self.compute_dtype, self.key_dim, num_queries, memory_rows)
        if self.flash_attention and not available:
            raise ValueError(
                f"`flash_attention=True` in layer '{self.name}' needs "
                f"{requirements()}. Received: backend="
                f"{keras.backend.backend()}, compute dtype="
                f"{self.compute_dtype}, key_dim={self.key_dim}, segment "
                f"length={num_queries}, memory_length={memory_rows}"
            )
        dropout_active = bool(training) and self.attention_dropout > 0
        # A subclass that changes the scores needs them materialised.
        plain_scores = type(self).attention_scores is \
            MemoryAttention.attention_scores
        return available and not dropout_active and plain_scores

    def _fused_attention(self, query, keys, values, positions, memory_rows,
                         mask):
        """Attention output `(batch, T, heads, key_dim)` from one fused op.

        The same scores as `attention_scores`: the content product is the
        kernel's `q . k` (queries offset by `u`), the shifted position
        product and the mask its additive `bias` `(batch, heads, T, K)`.
        """
        scale = 1.0 / self.key_dim ** 0.5
        # The bias must be laid out (batch, heads, T, K). A product against
        # the shared table batches over heads only and comes out
        # (heads, batch, ...); transposing it, and its gradient fused with
        # the shift's pad, cost more on an H100 than the fused kernel saved.
        # Broadcasting the table over the batch makes (batch, heads) the
        # product's batch dimensions: same FLOPs, no score-sized transpose.
        shape = (ops.shape(query)[0],) + tuple(ops.shape(positions))
        table = ops.broadcast_to(positions[None], shape)
        position = ops.einsum("btnh,bpnh->bntp",
                              query + self.position_bias, table)
        position = relative_shift(position, memory_rows) * scale
        # The bias stays in the compute dtype: -1e9 would be -inf in float16.
        masked = -3e4 if self.compute_dtype == "float16" else _MASK_VALUE
        bias = ops.where(mask[:, None], position, masked)
        return ops.dot_product_attention(
            query + self.content_bias, keys, values, bias=bias, scale=scale,
            flash_attention=True)

    def call(self, inputs, memory=None, filled=None, position_encoding=None,
             training=None):
        memory_rows = self._memory_rows(memory)
        num_queries = ops.shape(inputs)[1]
        if position_encoding is None:
            position_encoding = sinusoid_table(
                memory_rows + num_queries, self.dim, self.clamp_len)
        positions = self._heads(self.position_dense(
            ops.cast(position_encoding, self.compute_dtype)))
        query = self._heads(self.query_dense(inputs))
        keys = self._heads(self.key_dense(inputs))
        values = self._heads(self.value_dense(inputs))
        if memory_rows:
            # Memory rows are projected on their own: projecting
            # concat(memory, inputs) makes the backward pass form the input
            # gradient of every memory row, only to drop it.
            memory = ops.stop_gradient(ops.cast(memory, inputs.dtype))
            keys = ops.concatenate(
                [self._heads(self.key_dense(memory)), keys], axis=1)
            values = ops.concatenate(
                [self._heads(self.value_dense(memory)), values], axis=1)
        mask = attention_mask(num_queries, memory_rows, filled)
        if self._use_fused(num_queries, memory_rows, training):
            attended = self._fused_attention(
                query, keys, values, positions, memory_rows, mask)
        else:
            scores = self.attention_scores(
                query, keys, positions, memory_rows, mask)
            probs = ops.softmax(scores, axis=-1)
            probs = self.dropout_layer(
                ops.cast(probs, self.compute_dtype), training=training)
            attended = ops.einsum("nbts,bsnh->btnh", probs, values)
        shape = tuple(ops.shape(attended)[:2])
        return self.output_dense(ops.reshape(
            attended, shape + (self.num_heads * self.key_dim,)))

    def compute_output_shape(self, inputs_shape, *args, **kwargs):
        return tuple(inputs_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "memory_length": self.memory_length,
            "attention_dropout": self.attention_dropout,
            "clamp_len": self.clamp_len,
            "use_bias": self.use_bias,
            "flash_attention": self.flash_attention,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
        }
