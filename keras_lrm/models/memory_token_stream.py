"""Token-by-token reading between memory tokens (Recurrent Memory Transformer
generation).

A `MemoryTransformerLM` with `num_memory_tokens=m` reads a segment of `S`
tokens as `[read M_t ; x_t ; write M_t]`: `call_with_memory` treats its
tokens as one segment, so a one-token call would write the memory tokens
after every token. `MemoryTokenStream` reads a stream a few tokens at a
time (one, in generation) with the attention of a whole segment: a token at
position `k` of its segment attends to the XL memory, the read tokens `M_t`
and the segment's tokens up to itself, and the memory tokens are written
once, when the segment fills, exactly as a full segment call writes them.
No call reruns the tokens of the segment read before it.

The state (`state_spec`, the `"cache"` form with three more entries):

- `"stream_keys_<l>"`, `"stream_values_<l>"`: `(batch, heads, M_l + m + S,
  key_dim)`, layer `l`'s keys and values of the rows a token may attend to,
  right-aligned: `[unused ; XL memory (M_l) ; read tokens (m) ; the segment
  so far (k)]`. Right-aligned, a token's call is a plain Transformer-XL
  cached step over `M_l + m + S` rows whose `filled` count hides the unused
  rows in front: the relative distances are those of the segment call.
- `"filled"`: the XL memory's count of real rows, as in the model's state.
- `"memory_tokens"`: `M_t`, `(batch, m, d_model)`, the tokens read in the
  current segment (zeros read as `M_0`, as in the model's state).
- `"segment_filled"`: int32 `(batch,)`, `k`, the tokens of the current
  segment read so far, in `[0, S)`.

A call reading tokens from `k = 0` first runs the read tokens through the
stack (they attend to each other only); the call that fills the segment
then runs the write tokens (the read tokens, the segment and each other),
takes `M_{t+1}` from the top of the stack, and moves the segment's rows
into the XL memory as a segment call does (the last `M_l` rows of
`concat(memory, segment)`), leaving the state at `k = 0`. At `k = 0` the
state holds what the model's cache state holds (`from_cache`, `to_cache`).
"""

from keras import ops

from keras_lrm.layers.relative_position import sinusoid_table
from keras_lrm.state_spec import CACHE
from keras_lrm.state_spec import FILLED
from keras_lrm.state_spec import MEMORY_TOKENS
from keras_lrm.state_spec import StateEntry
from keras_lrm.state_spec import StateSpec
from keras_lrm.token_checks import as_token_tensor
from keras_lrm.token_checks import check_token_ids

SEGMENT_FILLED = "segment_filled"


def stream_names(index):
    """Keys of layer `index`'s stream keys and values."""
    return f"stream_keys_{index}", f"stream_values_{index}"


def is_stream_state(state):
    """Whether `state` is a `MemoryTokenStream` state (not the model's)."""
    return isinstance(state, dict) and SEGMENT_FILLED in state


class MemoryTokenStream:
    """Reads a stream token by token for a `MemoryTransformerLM` with memory
    tokens, writing them only when a segment fills.

    Args:
        model: a `MemoryTransformerLM` with `num_memory_tokens > 0`.

    Example:

    >>> stream = MemoryTokenStream(model)
    >>> state = stream.initial_state(batch_size=2)
    >>> logits, state = stream.step(ids[:, :1], state)  # one token

    Reading a text in any pieces that do not cross a segment boundary
    gives the logits of `call_with_memory` on its whole segments.
    """

    def __init__(self, model):
        if not getattr(model, "num_memory_tokens", 0):
            raise ValueError(
                "`model` must be a MemoryTransformerLM with memory tokens "
                "(num_memory_tokens > 0). Received: num_memory_tokens="
                f"{getattr(model, 'num_memory_tokens', None)}")
        self.model = model
        self.num_tokens = model.num_memory_tokens
        self.segment_length = model.segment_length
        # Rows of each layer's stream beyond its XL memory.
        self.extra_rows = self.num_tokens + self.segment_length
        self.memory_lengths = list(model.memory_lengths)
        cache = model.state_spec(CACHE)
        self.cache_spec = cache
        entries = []
        for index in range(model.num_layers):
            for name, source in zip(stream_names(index),
                                    cache.layer_names(index)):
                entry = cache[source]
                heads, rows, depth = entry.shape
                entries.append(StateEntry(
                    name, (heads, rows + self.extra_rows, depth),
                    entry.dtype, index, entry.role))
        entries += [cache[FILLED], cache[MEMORY_TOKENS],
                    StateEntry(SEGMENT_FILLED, (), "int32", None,
                               SEGMENT_FILLED)]
        self.spec = StateSpec(entries, CACHE)

    def state_spec(self):
        """The `StateSpec` of the stream's state (see the module)."""
        return self.spec

    def initial_state(self, batch_size):
        """The state before any token: an empty XL memory and `M_0`."""
        return self.from_cache(self.model.initial_memory(batch_size, CACHE))

    def from_cache(self, cache):
        """The stream state at a segment boundary from the model's cache
        state (`initial_memory(b, "cache")` or a `call_with_memory` on
        it)."""
        self.cache_spec.check(cache, name="state")
        state = {}
        batch = ops.shape(cache[FILLED])[0]
        for index in range(self.model.num_layers):
            for name, source in zip(stream_names(index),
                                    self.cache_spec.layer_names(index)):
                part = cache[source]
                pad = ops.zeros((batch, part.shape[1], self.extra_rows,
                                 part.shape[3]), part.dtype)
                state[name] = ops.concatenate([pad, part], axis=2)
        state[FILLED] = ops.cast(cache[FILLED], "int32")
        state[MEMORY_TOKENS] = cache[MEMORY_TOKENS]
        state[SEGMENT_FILLED] = ops.zeros((batch,), "int32")
        return state

    def to_cache(self, state):
        """The model's cache state of a stream state at a segment boundary
        (`segment_filled` 0): the last `M_l` rows of each layer."""
        cache = {FILLED: state[FILLED], MEMORY_TOKENS: state[MEMORY_TOKENS]}
        for index, length in enumerate(self.memory_lengths):
            for name, source in zip(stream_names(index),
                                    self.cache_spec.layer_names(index)):
                part = state[name]
                cache[source] = part[:, :, part.shape[2] - length:]
        return cache

    def step(self, token_ids, state):
        """Reads `token_ids` after `state`; returns logits and next state.

        Args:
            token_ids: int `(batch, T)` with `segment_filled + T <=
                segment_length`: the tokens stay inside one segment.
            state: a state of `state_spec` (`initial_state`, `from_cache`
                or a previous step).

        Returns:
            `(logits, state)`: float32 `(batch, T, vocab_size)`, the logits
            `call_with_memory` gives these tokens in their segment, and the
            state after them (at `segment_filled` 0 with the memory tokens
            written when the segment filled).
        """
        model = self.model
        token_ids = check_token_ids(as_token_tensor(token_ids),
                                    model.vocab_size)
        length = tuple(token_ids.shape)[-1]
        if len(token_ids.shape) != 2 or (
                isinstance(length, int)
                and not 1 <= length <= self.segment_length):
            raise ValueError(
                "`token_ids` of a stream step must have shape (batch, T) "
                f"with 1 <= T <= segment_length={self.segment_length} "
                "(inside one segment). Received: shape="
                f"{tuple(token_ids.shape)}")
        self.spec.check(state, tuple(token_ids.shape)[0], name="state")
        count = ops.cast(state[SEGMENT_FILLED], "int32")
        filled = ops.cast(state[FILLED], "int32")
        tokens = self._read_tokens(state[MEMORY_TOKENS])
        caches = self._caches(state)
        # At a segment's start, the read tokens first (see each other).
        starting = ops.equal(count, 0)
        caches = ops.cond(
            ops.any(starting),
            lambda: self._where(starting, self._run(
                tokens, caches, [0] * len(caches), True)[1], caches),
            lambda: caches)
        hidden = model.embedding(token_ids)
        visible = [ops.minimum(filled, length) + self.num_tokens + count
                   for length in self.memory_lengths]
        hidden, caches = self._run(hidden, caches, visible, False)
        logits = model.embedding(hidden, reverse=True)
        count = count + ops.shape(token_ids)[1]
        full = ops.greater_equal(count, self.segment_length)
        written = ops.cond(
            ops.any(full),
            lambda: self._write(full, tokens, caches, filled),
            lambda: (caches, filled, ops.cast(tokens, tokens.dtype)))
        caches, filled, tokens = written
        count = ops.where(full, 0, count)
        new_state = {}
        for index, (keys, values) in enumerate(caches):
            new_state.update(zip(stream_names(index), (keys, values)))
        new_state[FILLED] = filled
        new_state[MEMORY_TOKENS] = ops.cast(
            tokens, self.spec[MEMORY_TOKENS].dtype)
        new_state[SEGMENT_FILLED] = count
        return logits, new_state

    def _read_tokens(self, tokens):
        """`M_t`; rows holding the empty value (zeros) read as `M_0`, as
        in the model's state."""
        dtype = self.model.compute_dtype
        tokens = ops.cast(tokens, dtype)
        start = ops.cast(self.model.memory_token_start, dtype)[None]
        empty = ops.all(ops.equal(tokens, 0), axis=(1, 2))
        return ops.where(empty[:, None, None], start, tokens)

    def _caches(self, state):
        return [tuple(state[name] for name in stream_names(index))
                for index in range(self.model.num_layers)]

    @staticmethod
    def _where(rows, new, old):
        """Per layer `(keys, values)`: `new` in the batch rows `rows`."""
        mask = rows[:, None, None, None]
        return [tuple(ops.where(mask, n, o) for n, o in zip(pair_new,
                                                             pair_old))
                for pair_new, pair_old in zip(new, old)]

    def _run(self, hidden, caches, visible, tokens_only):
        """The stack over `hidden` `(batch, T, d)` with each layer's
        stream rows as its cache, `visible[l]` of them real (the last
        ones). `tokens_only`: memory tokens, which see every real row and
        each other (the read or write tokens); else the causal rule.
        Returns the top hidden states and the caches shifted by `T`."""
        stack = self.model.stack
        rows = [keys.shape[2] for keys, _ in caches]
        length = ops.shape(hidden)[1]
        table = sinusoid_table(max(rows) + length, self.model.d_model,
                               stack.clamp_len, self.model.compute_dtype)
        batch = ops.shape(hidden)[0]
        new_caches = []
        for index, block in enumerate(stack.blocks):
            layout = None
            if tokens_only:
                layout = ops.ones((length, rows[index] + length), "bool")
            count = ops.broadcast_to(
                ops.cast(visible[index], "int32"), (batch,))
            hidden, cache = block(
                hidden, caches[index], filled=count,
                position_encoding=table[max(rows) - rows[index]:],
                training=False, layout=layout)
            # Static row counts again where `T` is known only at run time.
            new_caches.append(tuple(
                ops.reshape(new, (-1,) + tuple(old.shape[1:]))
                for new, old in zip(cache, caches[index])))
        if stack.final_norm is not None:
            hidden = stack.final_norm(hidden)
        return hidden, new_caches

    def _write(self, full, tokens, caches, filled):
        """The write tokens of a full segment: `M_{t+1}`, and the
        segment's rows moved into the XL memory (rows `full` only)."""
        m, size = self.num_tokens, self.segment_length
        # The write tokens see the read tokens and the segment (the last
        # m + S rows) and each other; the XL memory is hidden.
        top, _ = self._run(tokens, caches, [m + size] * len(caches), True)
        next_caches = []
        for (keys, values), length in zip(caches, self.memory_lengths):
            pair = []
            for part in (keys, values):
                # [XL memory (M) ; read (m) ; segment (S)] at a full
                # segment: the next XL memory is the last M rows of
                # concat(memory, segment), behind m + S unused rows.
                segment = part[:, :, length + m:]
                memory = ops.concatenate([part[:, :, :length], segment],
                                         axis=2)
                memory = memory[:, :, memory.shape[2] - length:]
                pad = ops.zeros_like(part[:, :, :m + size])
                pair.append(ops.concatenate([pad, memory], axis=2))
            next_caches.append(tuple(pair))
        next_filled = ops.minimum(filled + size, max(self.memory_lengths))
        return (self._where(full, next_caches, caches),
                ops.where(full, next_filled, filled),
                ops.where(full[:, None, None], ops.cast(top, tokens.dtype),
                          tokens))
