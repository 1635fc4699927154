"""`MemoryAttention`'s calls on a key/value cache (inference).

A mixin: the methods use the layer's projections, position term and
scores, and are part of `MemoryAttention`'s public API (see its docstring
and docs/design.md, "Key/value cache").
"""

from keras import ops

from keras_lrm.arguments import check_batch_size
from keras_lrm.layers.attention_terms import attention_mask
from keras_lrm.layers.attention_terms import last_rows
from keras_lrm.layers.softmax_attention import key_softmax


class CachedCalls:
    """`initial_cache` and `call_with_cache` for `MemoryAttention`."""

    def initial_cache(self, batch_size, dtype=None):
        """An empty `(keys, values)` cache of `memory_length` rows."""
        batch_size = check_batch_size(batch_size)
        shape = (batch_size, self.num_heads, self.memory_length,
                 self.key_dim)
        dtype = dtype or self.compute_dtype
        return ops.zeros(shape, dtype), ops.zeros(shape, dtype)

    def _check_cache(self, cache, batch=None):
        expected = (self.num_heads, self.memory_length, self.key_dim)
        if not isinstance(cache, (tuple, list)) or len(cache) != 2:
            raise ValueError(
                f"`cache` of layer '{self.name}' must be a (keys, values) "
                f"pair. Received: {type(cache).__name__}"
            )
        for name, tensor in zip(("keys", "values"), cache):
            shape = tuple(tensor.shape)
            if len(shape) != 4 or shape[1:] != expected or (
                    None not in (batch, shape[0]) and shape[0] != batch):
                same_batch = "" if batch is None else \
                    f", with the batch of `inputs` ({batch})"
                raise ValueError(
                    f"`cache` {name} of layer '{self.name}' must have shape "
                    f"(batch, {', '.join(map(str, expected))}){same_batch}. "
                    f"Received: shape={shape}"
                )

    def call_with_cache(self, inputs, cache, filled=None,
                        position_encoding=None, training=None):
        """`call` on a key/value cache instead of a memory.

        Args:
            inputs: `(batch, T, dim)` segment.
            cache: `(keys, values)`, each `(batch, num_heads, M, key_dim)`:
                the memory rows as this layer projects them (start from
                `initial_cache`). For inference: the projections depend on
                the weights, so a cache is stale after a weight update.
            filled, position_encoding, training: as in `call`.

        Returns:
            `(output, new_cache)`: the output of `call` with the memory the
            cache was projected from, and the keys and values of the last
            `M` rows of `concat(memory, inputs)`, which is what projecting
            the next memory would give, without projecting it again.

        The cache is laid out `(batch, heads, M, key_dim)`, so the products
        read it where it lies: joining it to the segment's keys first would
        copy every memory row into a head-major buffer at each call (most
        of a generation step's time on a CPU). Only the new cache, the last
        `M` rows, is written.
        """
        self._check_cache(cache, tuple(inputs.shape)[0])
        filled = self._checked_call(inputs, None, filled, position_encoding,
                                    memory_rows=self.memory_length)
        rows = self.memory_length
        query, keys, values, table = self._project(inputs, rows,
                                                   position_encoding)
        cache_keys, cache_values = (ops.cast(c, query.dtype) for c in cache)
        cache_order = (0, 2, 1, 3)
        all_keys = ops.concatenate(
            [cache_keys, ops.transpose(keys, cache_order)], axis=2)
        all_values = ops.concatenate(
            [cache_values, ops.transpose(values, cache_order)], axis=2)
        new_cache = (ops.stop_gradient(last_rows(all_keys, rows, axis=2)),
                     ops.stop_gradient(last_rows(all_values, rows, axis=2)))
        mask = attention_mask(ops.shape(inputs)[1], rows, filled)
        position = self.position_scores(query, table, rows,
                                        batch_first=False)
        if self._plain_scores():
            offset = query + ops.cast(self.content_bias, query.dtype)
            content = ops.concatenate([
                ops.einsum("btnh,bnsh->nbts", offset, cache_keys),
                ops.einsum("btnh,bsnh->nbts", offset, keys)], axis=-1)
            scores = self._scaled_scores(content, position, mask)
        else:
            scores = self.attention_scores(
                query, ops.transpose(all_keys, (1, 0, 2, 3)), position,
                mask)
        probs = self.dropout_layer(
            ops.cast(key_softmax(scores), self.compute_dtype),
            training=training)
        attended = ops.einsum("nbts,bnsh->btnh", probs[..., :rows],
                              cache_values)
        attended += ops.einsum("nbts,bsnh->btnh", probs[..., rows:], values)
        return self._output(attended), new_cache
