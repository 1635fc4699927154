"""Transformer-XL relative multi-head attention over memory and segment."""

import warnings

import keras
from keras import ops

from keras_lrm.arguments import check_batch_size
from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import check_rate
from keras_lrm.layers import call_checks
from keras_lrm.layers.attention_terms import attention_mask
from keras_lrm.layers.attention_terms import cache_read
from keras_lrm.layers.attention_terms import cache_rows
from keras_lrm.layers.attention_terms import cache_scores
from keras_lrm.layers.attention_terms import cheaper_from_queries
from keras_lrm.layers.attention_terms import last_rows
from keras_lrm.layers.attention_terms import memory_scores
from keras_lrm.layers.attention_terms import memory_values
from keras_lrm.layers.attention_terms import position_term
from keras_lrm.layers.fused_attention import check_flash_attention
from keras_lrm.layers.fused_attention import fused_relative_attention
from keras_lrm.layers.fused_attention import use_fused_kernel
from keras_lrm.layers.las import check_las_arguments
from keras_lrm.layers.las import decay_scores
from keras_lrm.layers.las import head_decays
from keras_lrm.layers.las import pool_probabilities
from keras_lrm.layers.las import pool_scores
from keras_lrm.layers.las import pooled_values
from keras_lrm.layers.relative_position import relative_shift
from keras_lrm.layers.relative_position import sinusoid_table
from keras_lrm.layers.softmax_attention import key_softmax
from keras_lrm.layers.softmax_attention import softmax_attention
from keras_lrm.token_checks import check_filled

_MASK_VALUE = -1e9
# (batch, rows, heads, key_dim) <-> (heads, batch, rows, key_dim)
_HEAD_MAJOR = (2, 0, 1, 3)
_BATCH_MAJOR = (1, 2, 0, 3)
# (batch, rows, heads, key_dim) <-> (batch, heads, rows, key_dim): the cache
_CACHE_ORDER = (0, 2, 1, 3)


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
        stop_memory_gradient: whether `call` stops the gradient at `memory`
            (no gradient flows into the memory). `False` for a caller that
            stops it earlier and wants what lies between to learn: a
            pre-norm `MemoryBlock` stops it before its layer norm, so the
            norm's weights learn from the memory rows too.
        decay_max: LaS locality (Zimerman & Wolf): `None` for none, or
            the largest per-head decay `alpha` (> 0; the paper takes it in
            (0, 1)). Head 0 keeps `alpha = 0`, the others spread
            exponentially up to `decay_max` (`las.head_decays`), and each
            head's scores are decayed with the causal distance `D` across
            the memory boundary.
        pool_size: LaS smoothness: the width `P` of an average pool along
            each attention row, kept causal (`las.pool_probabilities`); 1
            for none. With `decay_max=None` and `pool_size=1` the attention
            is Transformer-XL's, bit for bit.
        decay_form: `"multiplicative"` (`exp(-alpha D) * S`, the paper's)
            or `"additive"` (`S - alpha D`, ALiBi-like).
        pool_order: `"after_softmax"` (pool the probabilities, the paper's
            formula; re-masked and renormalised) or `"before_softmax"`
            (pool the scores of visible keys).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, T, dim)` segment.
        memory: the `M` rows before the segment, in either form of the
            state (see `keras_lrm.state_spec`): states `(batch, M, dim)`,
            or a key/value cache `(keys, values)`, each `(batch, num_heads,
            M, key_dim)`, the rows as this layer projects them
            (`project_memory`, `initial_cache`). `None`: no memory.
        filled: optional int `(batch,)`, filled memory rows (see
            `attention_mask`). `None`: all rows are filled.
        position_encoding: optional `(M + T + 1, dim)` table from
            `sinusoid_table(M + T, dim)`; computed here when omitted.
        training: whether dropout is active.
        return_cache: whether to return the next cache too (as
            `keras.layers.MultiHeadAttention`'s `return_attention_scores`).
        layout: optional bool `(T, M + T)` replacing the causal rule
            (`attention_terms.memory_token_layout`); keys it lets a query
            see ahead of itself get no position term.
        state_rows: optional `(start, stop)`: the rows of `inputs` the next
            cache keeps (memory tokens are not memory rows); default all.

    Returns:
        `(batch, T, dim)` attention output; with `return_cache=True`,
        `(output, (keys, values))`, the cache of the last `M` rows of
        `concat(memory, inputs)`, which is what projecting the next memory
        would give (from a cache: without projecting it again).

    One attention, several ways to compute it: memory rows projected to
    keys and values; for short segments (a one-token step) the memory's
    part taken through the queries instead (picked by multiply-add count,
    `reads_memory_through_queries`); a key/value cache read where it lies;
    and a fused kernel (`flash_attention`). Every way forms its scores in
    one place and calls the same two seams, `adjust_scores` and
    `adjust_probabilities`: a variant of the attention (a locality decay,
    a pooling of the probabilities) overrides them once and every path,
    and an exported SavedModel, computes it. The fused kernel forms no
    scores, so it runs only for the default seams.

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
                 kernel_initializer=None, flash_attention=None,
                 stop_memory_gradient=True, decay_max=None, pool_size=1,
                 decay_form="multiplicative", pool_order="after_softmax",
                 **kwargs):
        super().__init__(**kwargs)
        (self.decay_max, self.pool_size, self.decay_form,
         self.pool_order) = check_las_arguments(decay_max, pool_size,
                                                decay_form, pool_order)
        num_heads = check_positive("num_heads", num_heads)
        key_dim = check_positive("key_dim", key_dim)
        memory_length = check_non_negative("memory_length", memory_length)
        attention_dropout = check_rate("attention_dropout", attention_dropout)
        if clamp_len is not None:
            clamp_len = check_positive("clamp_len", clamp_len)
        for name, value in (("use_bias", use_bias),
                            ("stop_memory_gradient", stop_memory_gradient)):
            if not isinstance(value, bool):
                raise ValueError(
                    f"`{name}` must be True or False. Received: "
                    f"{name}={value!r}"
                )
        if hasattr(type(self), "attention_scores"):
            # The seam before `adjust_scores`: ignoring an override of it
            # would silently compute the plain attention.
            raise TypeError(
                f"{type(self).__name__} overrides `attention_scores`, the "
                "score seam of keras_lrm 0.1.0; override "
                "`adjust_scores(scores, distance)` (and "
                "`adjust_probabilities(probs, mask)`) instead, which every "
                "path calls."
            )
        check_flash_attention(flash_attention, attention_dropout,
                              self._plain_attention(), type(self).__name__)
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
        self.stop_memory_gradient = stop_memory_gradient

    def build(self, inputs_shape, memory_shape=None, filled_shape=None,
              position_encoding_shape=None):
        call_checks.check_inputs_shape(self.name, inputs_shape)
        dim = inputs_shape[-1]
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

    def check_call_shapes(self, inputs_shape, memory_shape=None,
                          filled_shape=None, position_encoding_shape=None,
                          memory_rows=None):
        """Raises `ValueError` naming the call argument whose static shape
        does not fit this layer (`call_checks.check_call_shapes`)."""
        # Before `build` (Keras may ask for shapes first): the inputs' width.
        dim = getattr(self, "dim", None) or tuple(inputs_shape)[-1]
        call_checks.check_call_shapes(
            self.name, self.memory_length, dim, inputs_shape, memory_shape,
            filled_shape, position_encoding_shape, memory_rows)

    def _checked_call(self, inputs, memory, filled, position_encoding,
                      memory_rows=None):
        """`filled` as a tensor, once every argument's shape is checked."""
        if filled is not None:
            filled = ops.convert_to_tensor(check_filled(
                filled, self.memory_length if memory_rows is None
                else memory_rows))
        self.check_call_shapes(*(
            None if value is None else tuple(value.shape)
            for value in (inputs, memory, filled, position_encoding)),
            memory_rows=memory_rows)
        return filled

    def adjust_scores(self, scores, distance):
        """The score seam: a variant that changes the scores overrides it.

        Every path that forms scores (memory projected, memory read
        through the queries, a key/value cache) calls it once, between
        scaling and masking; the fused kernel never forms scores, so it
        runs only when this and `adjust_probabilities` are the defaults
        (`flash_attention=True` with a variant is an error).

        Args:
            scores: float32 `(heads, batch, T, K)`: the scaled content plus
                position scores, before the causal and filled mask (the
                mask is added after, so a variant cannot unmask a key).
            distance: int32 `(T, K)`, query `i`'s distance to key `j`,
                `M + i - j` across the memory boundary (negative for
                future keys, which the mask then hides).

        Returns:
            float32 `(heads, batch, T, K)`. This class: LaS' decay with
            distance (`decay_max`), then its pooling where it comes before
            the softmax (`pool_order`); with neither, `scores` as given.
            A variant that keeps LaS calls `super().adjust_scores`.
        """
        if self.decay_max is not None:
            scores = decay_scores(scores, distance,
                                  head_decays(self.num_heads,
                                              self.decay_max),
                                  self.decay_form)
        if self.pool_size > 1 and self.pool_order == "before_softmax":
            scores = pool_scores(scores, distance, self.pool_size)
        return scores

    def adjust_probabilities(self, probs, mask):
        """The probability seam: a variant that changes the attention
        probabilities (e.g. pools along each row) overrides it.

        Called once on every path that forms probabilities, after the
        softmax and before the attention dropout.

        Args:
            probs: float32 `(heads, batch, T, K)`, each row summing to 1.
            mask: bool `(batch or 1, T, K)`, the keys each query may see.
                A variant must keep hidden keys at 0 (no future leak).

        Returns:
            float32 `(heads, batch, T, K)`. This class: LaS' causal pooling
            where it comes after the softmax (`pool_size`, `pool_order`),
            else `probs` as given.
        """
        if self.pool_size > 1 and self.pool_order == "after_softmax":
            probs = pool_probabilities(probs, mask, self.pool_size)
        return probs

    def _is_default(self, seam):
        """Whether the seam named `seam` is this class's (not a
        variant's)."""
        return getattr(type(self), seam) is getattr(MemoryAttention, seam)

    def _changes_scores(self):
        return not self._is_default("adjust_scores") or \
            self.decay_max is not None or \
            (self.pool_size > 1 and self.pool_order == "before_softmax")

    def _changes_probabilities(self):
        return not self._is_default("adjust_probabilities") or \
            (self.pool_size > 1 and self.pool_order == "after_softmax")

    def _pools_only_by_las(self):
        """Whether the only change of the probabilities is LaS' pool
        after the softmax (the default seam, not a variant's)."""
        return self._is_default("adjust_probabilities") and \
            self.pool_size > 1 and self.pool_order == "after_softmax"

    def _plain_attention(self):
        """Whether the attention is Transformer-XL's own: the fused kernel
        and the lean softmax gradient compute only that."""
        return not (self._changes_scores() or self._changes_probabilities())

    def _scores(self, content, position, mask, memory_rows):
        """The one place scores are made, from the content and position
        terms of any path: scaled, float32, the score seam, then the mask.
        """
        scores = (content + position) * (1.0 / self.key_dim ** 0.5)
        # Softmax in float32 whatever the compute dtype (mixed precision).
        scores = ops.cast(scores, "float32")
        if self._changes_scores():
            num_queries = ops.shape(content)[2]
            keys = ops.arange(memory_rows + num_queries, dtype="int32")
            queries = ops.arange(num_queries, dtype="int32") + memory_rows
            scores = self.adjust_scores(
                scores, queries[:, None] - keys[None, :])
        # Additive, not a select: a masked entry's exponential is exactly 0,
        # so `softmax_attention` needs no mask in its gradient, and the
        # gradient of an add adds no score-sized select.
        bias = ops.where(mask, 0.0, _MASK_VALUE)
        return scores + ops.stop_gradient(bias)[None]

    def _probabilities(self, scores, mask, training):
        """The one place probabilities are made: softmax, the probability
        seam, dropout; in the compute dtype."""
        probs = self.adjust_probabilities(key_softmax(scores), mask)
        return self.dropout_layer(ops.cast(probs, self.compute_dtype),
                                  training=training)

    def position_scores(self, query, table, memory_rows, batch_first):
        """Position term `(q_i + v) . W_r r(d)`, shifted to key order.

        Args:
            query: `(batch, T, heads, key_dim)` projected queries.
            table: `(M + T + 1, dim)` sinusoid table in the compute dtype.
            memory_rows: `M`.
            batch_first: `(batch, heads, T, K)` instead of
                `(heads, batch, T, K)`.

        `W_r` is linear, so the product can be taken two ways: project the
        table (`P = M + T + 1` rows) to the heads, or project the queries
        back to the table's width. The second costs `T` rows instead of `P`
        and wins when the segment is short against the head size: a
        one-token generation step then does not project the `M` memory
        distances again. Picked by FLOP count, at trace time where `T` is
        known, else by a `cond`.
        """
        offset = query + ops.cast(self.position_bias, query.dtype)
        kernel = ops.reshape(
            ops.cast(self.position_dense.kernel, offset.dtype),
            (self.dim, self.num_heads, self.key_dim))
        position = position_term(
            offset, table, kernel,
            lambda rows: self._heads(self.position_dense(rows)), batch_first)
        return relative_shift(position, memory_rows)

    def _use_fused(self, num_queries, memory_rows, training):
        if not self._allow_fused or not self._plain_attention():
            return False
        dropout_active = bool(training) and self.attention_dropout > 0
        return use_fused_kernel(self, num_queries, memory_rows) and \
            not dropout_active


    def _project(self, inputs, memory_rows, position_encoding):
        """Queries, keys, values `(batch, T, heads, key_dim)` and table."""
        if position_encoding is None:
            position_encoding = sinusoid_table(
                memory_rows + ops.shape(inputs)[1], self.dim, self.clamp_len)
        table = ops.cast(position_encoding, self.compute_dtype)
        return (self._heads(self.query_dense(inputs)),
                self._heads(self.key_dense(inputs)),
                self._heads(self.value_dense(inputs)), table)

    def _output(self, attended):
        shape = tuple(ops.shape(attended)[:2])
        return self.output_dense(ops.reshape(
            attended, shape + (self.num_heads * self.key_dim,)))

    def project_memory(self, states):
        """Keys and values of `states` as this layer projects them.

        Args:
            states: `(batch, rows, dim)`, e.g. a memory.

        Returns:
            `(keys, values)`, each `(batch, num_heads, rows, key_dim)`: the
            key/value cache form of those rows (see `call`).
        """
        states = ops.cast(states, self.compute_dtype)
        return tuple(ops.transpose(self._heads(dense(states)), _CACHE_ORDER)
                     for dense in (self.key_dense, self.value_dense))

    def reads_memory_through_queries(self, num_queries):
        """Whether a call of `num_queries` rows takes the memory's part of
        the attention through the queries rather than projecting every
        memory row: the cheaper way by multiply-add count (a Python bool
        for a known `T`, else a bool tensor)."""
        if isinstance(num_queries, int):
            return bool(cheaper_from_queries(num_queries, self.memory_length,
                                             self.dim, self.key_dim))
        # Float counts: the products overflow int32 on long inputs.
        return cheaper_from_queries(ops.cast(num_queries, "float32"),
                                    float(self.memory_length), self.dim,
                                    self.key_dim)

    def call(self, inputs, memory=None, filled=None, position_encoding=None,
             training=None, return_cache=False, layout=None,
             state_rows=None):
        cache = call_checks.as_cache(self.name, memory)
        # A cache may hold more rows than the memory (a stream between
        # memory tokens keeps its segment's rows behind the memory,
        # keras_lrm.models.memory_token_stream): every row is read, and the
        # next cache keeps as many.
        rows = self.memory_length if cache is None else cache_rows(cache)
        filled = self._checked_call(
            inputs, None if cache is not None else memory, filled,
            position_encoding, memory_rows=None if cache is None else rows)
        if cache is not None:
            call_checks.check_cache(
                self.name, cache, (self.num_heads, rows, self.key_dim),
                tuple(inputs.shape)[0])
        memory_rows = 0 if memory is None else rows
        num_queries = ops.shape(inputs)[1]
        query, keys, values, table = self._project(inputs, memory_rows,
                                                   position_encoding)
        fused = cache is None and self._use_fused(num_queries, memory_rows,
                                                  training)
        mask = attention_mask(num_queries, memory_rows, filled, layout)
        # The fused kernel's bias is laid out (batch, heads, T, K): a
        # heads-first term transposed into it (and its gradient, fused
        # with the shift's pad) cost more on an H100 than the kernel saved.
        position = self.position_scores(query, table, memory_rows,
                                        batch_first=fused)
        if layout is not None:
            # Keys a layout lets a query see ahead of it (memory tokens
            # among themselves) have no relative distance: content only.
            keys_at = ops.arange(memory_rows + num_queries, dtype="int32")
            ahead = keys_at[None, :] > ops.arange(
                num_queries, dtype="int32")[:, None] + memory_rows
            position = ops.where(ahead, ops.zeros_like(position), position)
        if cache is not None:
            cache = tuple(ops.cast(part, query.dtype) for part in cache)
            attended = self._attend_cache(query, keys, values, cache,
                                          position, mask, training)
        else:
            # A zero-row memory (memory_length 0) joins nothing.
            memory = ops.cast(memory, inputs.dtype) if memory_rows else None
            if memory is not None and self.stop_memory_gradient:
                memory = ops.stop_gradient(memory)
            attended = self._attend_memory(query, keys, values, memory,
                                           position, mask, training, fused,
                                           causal=layout is None)
        output = self._output(attended)
        if not return_cache:
            return output
        if state_rows is not None:
            start, stop = state_rows
            inputs, keys, values = (part[:, start:stop]
                                    for part in (inputs, keys, values))
        return output, self._next_cache(inputs, memory, cache, keys, values)

    def _next_cache(self, inputs, memory, cache, keys, values):
        """The cache of the last `M` rows of `concat(memory, inputs)`."""
        rows = self.memory_length if cache is None else cache_rows(cache)
        if cache is None:
            if memory is not None:
                inputs = ops.concatenate(
                    [ops.cast(memory, inputs.dtype), inputs], axis=1)
            return tuple(ops.stop_gradient(part) for part in
                         self.project_memory(last_rows(inputs, rows)))
        joined = (ops.concatenate([part, ops.transpose(new, _CACHE_ORDER)],
                                  axis=2)
                  for part, new in zip(cache, (keys, values)))
        return tuple(ops.stop_gradient(last_rows(part, rows, axis=2))
                     for part in joined)

    def _attend_memory(self, query, keys, values, memory, position, mask,
                       training, fused, causal=True):
        """Attention output `(batch, T, heads, key_dim)` with the memory
        as states: fused, projected, or through the queries."""
        if fused:
            keys, values = self._join_memory(keys, values, memory, None)
            return fused_relative_attention(
                query + self.content_bias, keys, values, position, mask,
                self.key_dim, self.compute_dtype)
        # The products here take keys and values head-major, each part
        # transposed as it is joined (one pass, where joining first and
        # transposing after is two).
        keys, values = (self._layout(part, _HEAD_MAJOR)
                        for part in (keys, values))
        memory_rows = 0 if memory is None else self.memory_length

        def projected():
            all_keys, all_values = self._join_memory(keys, values, memory,
                                                     _HEAD_MAJOR)
            content = ops.einsum(
                "nbth,nbsh->nbts",
                ops.transpose(query + self.content_bias, _HEAD_MAJOR),
                all_keys)
            scores = self._scores(content, position, mask, memory_rows)
            return self._attend(scores, all_values, mask, training, causal)

        def through_queries():
            return self._attend_through_queries(query, keys, values, memory,
                                                position, mask, training)

        if not memory_rows:
            return projected()
        by_queries = self.reads_memory_through_queries(ops.shape(query)[1])
        if isinstance(by_queries, bool):
            return through_queries() if by_queries else projected()
        return ops.cond(by_queries, through_queries, projected)

    def _join_memory(self, keys, values, memory, order):
        """Keys and values of `concat(memory, segment)`, laid out `order`.

        Memory rows are projected on their own: projecting
        `concat(memory, inputs)` makes the backward pass form the input
        gradient of every memory row, only to drop it.
        """
        if memory is None:
            return keys, values
        axis = 1 if order is None else 2
        return tuple(
            ops.concatenate([self._layout(self._heads(dense(memory)), order),
                             part], axis)
            for dense, part in ((self.key_dense, keys),
                                (self.value_dense, values)))

    def _attend_through_queries(self, query, keys, values, memory, position,
                                mask, training):
        """The attention output `(batch, T, heads, key_dim)` without the
        memory rows' keys and values.

        `W_k` and `W_v` are linear, so the memory's part of the scores and
        of the output can be taken through the queries
        (`attention_terms.memory_scores`, `memory_values`): for a short
        segment (a one-token step) that skips projecting every memory row
        at every call, `O(M dim^2)` per layer, and reads the memory state
        about as often as a key/value cache would be read. Keys and values
        of the segment come head-major.
        """
        offset = query + ops.cast(self.content_bias, query.dtype)
        key_kernel, key_bias = self._split_heads(self.key_dense)
        value_kernel, value_bias = self._split_heads(self.value_dense)
        content = ops.concatenate([
            memory_scores(offset, memory, key_kernel, key_bias),
            ops.einsum("btnh,nbsh->nbts", offset, keys)], axis=-1)
        rows = self.memory_length
        scores = self._scores(content, position, mask, rows)
        probs = self._probabilities(scores, mask, training)
        attended = memory_values(probs[..., :rows], memory, value_kernel,
                                 value_bias)
        return attended + ops.einsum("nbts,nbsh->btnh", probs[..., rows:],
                                     values)

    def _attend_cache(self, query, keys, values, cache, position, mask,
                      training):
        """The attention output `(batch, T, heads, key_dim)` on a key/value
        cache laid out `(batch, heads, M, key_dim)`.

        The products read the cache where it lies: joining it to the
        segment's keys first would copy every memory row into a head-major
        buffer at each call (most of a generation step's time on a CPU).
        """
        offset = query + ops.cast(self.content_bias, query.dtype)
        rows = cache_rows(cache)
        scores = self._scores(cache_scores(offset, cache[0], keys), position,
                              mask, rows)
        probs = self._probabilities(scores, mask, training)
        return cache_read(probs, cache[1], values, rows)

    def _split_heads(self, dense):
        """A projection's kernel `(dim, heads, key_dim)` and bias
        `(heads, key_dim)` (or None), in the compute dtype."""
        kernel = ops.reshape(ops.cast(dense.kernel, self.compute_dtype),
                             (self.dim, self.num_heads, self.key_dim))
        if not self.use_bias:
            return kernel, None
        bias = ops.cast(dense.bias, self.compute_dtype)
        return kernel, ops.reshape(bias, (self.num_heads, self.key_dim))

    @staticmethod
    def _layout(tensor, order):
        return tensor if order is None else ops.transpose(tensor, order)

    def _attend(self, scores, values, mask, training, causal=True):
        """Probabilities of `(heads, batch, T, K)` scores times head-major
        values.

        With the default probability seam and no active dropout,
        `softmax_attention`, whose gradient writes fewer score-sized
        tensors; LaS' pool after the softmax, under the causal mask, the
        same way on pooled values (`las.pooled_values`, exact); else the
        probabilities themselves (`_probabilities`).
        """
        dropout_active = bool(training) and self.attention_dropout > 0
        if not dropout_active and causal and self._pools_only_by_las():
            # sum_j pool(p)_j m_j v_j = sum_k p_k (sum of the m_j v_j of
            # the `P` keys up to k) / P, and the same for the norm: the
            # pool moves onto the values, O(K d), not the scores.
            extended = pooled_values(values, mask, self.pool_size)
            out = ops.cast(softmax_attention(scores, extended), "float32")
            attended = out[..., :-1] / out[..., -1:]
            return ops.transpose(ops.cast(attended, values.dtype),
                                 _BATCH_MAJOR)
        if dropout_active or self._changes_probabilities():
            probs = self._probabilities(scores, mask, training)
            return ops.einsum("nbts,nbsh->btnh", probs, values)
        return ops.transpose(softmax_attention(scores, values), _BATCH_MAJOR)

    def initial_cache(self, batch_size, dtype=None):
        """An empty key/value cache: `(keys, values)`, each
        `(batch_size, num_heads, memory_length, key_dim)`."""
        batch_size = check_batch_size(batch_size)
        shape = (batch_size, self.num_heads, self.memory_length,
                 self.key_dim)
        dtype = dtype or self.compute_dtype
        return ops.zeros(shape, dtype), ops.zeros(shape, dtype)

    def call_with_cache(self, inputs, cache, filled=None,
                        position_encoding=None, training=None):
        """Deprecated: `layer(inputs, cache, ..., return_cache=True)`."""
        warnings.warn(
            "`MemoryAttention.call_with_cache` is deprecated: call the "
            "layer with the (keys, values) cache as `memory` and "
            "`return_cache=True`.", DeprecationWarning, stacklevel=2)
        if not isinstance(cache, (tuple, list)) or len(cache) != 2:
            raise ValueError(
                f"`cache` of layer '{self.name}' must be a (keys, values) "
                f"pair. Received: {type(cache).__name__}"
            )
        return self(inputs, tuple(cache), filled=filled,
                    position_encoding=position_encoding, training=training,
                    return_cache=True)

    def compute_output_shape(self, inputs_shape, memory_shape=None,
                             filled_shape=None, position_encoding_shape=None):
        self.check_call_shapes(inputs_shape, memory_shape, filled_shape,
                               position_encoding_shape)
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
            "stop_memory_gradient": self.stop_memory_gradient,
            "decay_max": self.decay_max,
            "pool_size": self.pool_size,
            "decay_form": self.decay_form,
            "pool_order": self.pool_order,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
        }
