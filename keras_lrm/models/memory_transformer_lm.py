"""A causal language model built from a `MemoryStack`."""

import keras
from keras import ops

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import check_positive_number
from keras_lrm.arguments import check_rate
from keras_lrm.layers.memory_stack import MemoryStack
from keras_lrm.layers.token_embedding import TokenEmbedding
from keras_lrm.models import generation_loop
from keras_lrm.placement import Placement
from keras_lrm.placement import placement_from_config
from keras_lrm.state_spec import CACHE
from keras_lrm.state_spec import MEMORY
from keras_lrm.state_spec import MEMORY_TOKENS
from keras_lrm.state_spec import StateEntry
from keras_lrm.state_spec import StateSpec
from keras_lrm.state_spec import state_form
from keras_lrm.token_checks import as_token_tensor
from keras_lrm.token_checks import check_token_ids


def check_dimensions(d_model, num_heads):
    """Raises `ValueError` unless `d_model` splits into `num_heads` heads
    and is even (sinusoid encodings); what the model checks, for checks
    of a configuration made before any model is built."""
    if d_model % num_heads:
        raise ValueError(
            "`d_model` must be divisible by `num_heads`. Received: "
            f"d_model={d_model}, num_heads={num_heads}"
        )
    if d_model % 2:
        raise ValueError(
            "`d_model` must be even (sinusoid encodings). Received: "
            f"d_model={d_model}"
        )


def width_scaled_initializer(d_model):
    """Normal with std `0.64 / sqrt(d_model)`: Transformer-XL's 0.02 at
    d_model 1024, growing as `1/sqrt(d_model)` at smaller widths (0.057 at
    128, 0.113 at 32): what memory tokens need to learn algorithmic tasks
    at small widths (docs/rmt.md, "Initialisation")."""
    return keras.initializers.RandomNormal(stddev=0.64 / d_model ** 0.5)


@keras.saving.register_keras_serializable(package="keras_lrm")
class MemoryTransformerLM(keras.Model):
    """Transformer-XL language model with per-layer memory lengths.

    Token embedding scaled by `sqrt(d_model)`, a `MemoryStack` whose memory
    lengths follow `placement`, and an output projection (tied to the
    embedding by default) to float32 logits.

    `call_with_memory(token_ids, memory)` is the one code path for training,
    evaluation, export and generation: it reads any number of tokens with
    the memory of the previous call and returns the logits and the next
    memory. `model(token_ids)` is the same call from an empty memory (no
    memory returned), for plain Keras use.

    Args:
        vocab_size: number of token ids.
        num_layers: number of memory blocks.
        d_model: model width; must be divisible by `num_heads`.
        num_heads: attention heads.
        d_ff: feed-forward width.
        segment_length: tokens per training segment (the `T` of
            Transformer-XL); recipes and export read it. Calls accept any
            length.
        placement: a `keras_lrm.Placement`: which layers keep a long
            memory. Or give `memory_lengths`.
        dropout: dropout on embeddings, block outputs and final hidden
            states.
        attention_dropout: dropout on attention probabilities.
        pre_norm: pre-layer-norm blocks (default post-norm).
        tie_embeddings: share embedding and output matrices.
        clamp_len: optional clamp of relative distances.
        activation: feed-forward activation.
        layer_norm_epsilon: epsilon of the layer norms.
        memory_lengths: per-layer memory lengths (a list, bottom layer
            first), instead of a `placement`.
        decay_max, pool_size: LaS locality and smoothness of the attention
            (Zimerman & Wolf; see `MemoryAttention`), one value for every
            layer or a list with one per layer. The defaults (None, 1) give
            Transformer-XL's attention.
        decay_form, pool_order: LaS' forms (see `MemoryAttention`).
        num_memory_tokens: `m`, the Recurrent Memory Transformer's memory
            tokens (Bulatov et al. 2022): each segment is read as
            `[read M_t ; x_t ; write]` and the top of the stack at the
            write positions is `M_{t+1}`, carried in the state as
            `"memory_tokens"` (docs/rmt.md). 0 (default): none.
        kernel_initializer: initializer of every kernel of the stack.
            Default: normal with std 0.02 (Transformer-XL's). On
            algorithmic tasks at small widths, memory tokens learn from
            `width_scaled_initializer(d_model)` (std `0.64 /
            sqrt(d_model)`) where std 0.02 leaves them on a plateau; on
            text it trained worse (docs/rmt.md, "Initialisation").
        **kwargs: base model arguments (`name`, `dtype`, ...).

    Example:

    >>> model = MemoryTransformerLM(
    ...     vocab_size=256, num_layers=2, d_model=32, num_heads=2, d_ff=64,
    ...     segment_length=8, placement=Placement("last", 1, 16, 8))
    >>> memory = model.initial_memory(batch_size=3)
    >>> ids = keras.ops.ones((3, 8), "int32")
    >>> logits, memory = model.call_with_memory(ids, memory)
    >>> logits.shape
    (3, 8, 256)

    Reference:
        Rae & Razavi, "Do Transformers Need Deep Long-Range Memory?",
        ACL 2020; Dai et al., "Transformer-XL", ACL 2019.
    """

    def __init__(self, vocab_size, num_layers, d_model, num_heads, d_ff,
                 segment_length, placement=None, dropout=0.0,
                 attention_dropout=0.0, pre_norm=False, tie_embeddings=True,
                 clamp_len=None, activation="relu", layer_norm_epsilon=1e-5,
                 memory_lengths=None, decay_max=None, pool_size=1,
                 decay_form="multiplicative", pool_order="after_softmax",
                 num_memory_tokens=0, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_memory_tokens = check_non_negative("num_memory_tokens",
                                                    num_memory_tokens)
        vocab_size = check_positive("vocab_size", vocab_size)
        num_layers = check_positive("num_layers", num_layers)
        d_model = check_positive("d_model", d_model)
        num_heads = check_positive("num_heads", num_heads)
        d_ff = check_positive("d_ff", d_ff)
        segment_length = check_positive("segment_length", segment_length)
        dropout = check_rate("dropout", dropout)
        attention_dropout = check_rate("attention_dropout", attention_dropout)
        layer_norm_epsilon = check_positive_number("layer_norm_epsilon",
                                                   layer_norm_epsilon)
        check_dimensions(d_model, num_heads)
        self.vocab_size = vocab_size
        self.num_layers = num_layers
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_ff = d_ff
        self.segment_length = segment_length
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.pre_norm = pre_norm
        self.tie_embeddings = tie_embeddings
        self.clamp_len = clamp_len
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.embedding = TokenEmbedding(
            vocab_size, d_model, tie_weights=tie_embeddings,
            dtype=self.dtype_policy, name="embedding")
        self.stack = MemoryStack(
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_dim=d_ff,
            placement=placement,
            memory_lengths=memory_lengths,
            decay_max=decay_max,
            pool_size=pool_size,
            decay_form=decay_form,
            pool_order=pool_order,
            dropout=dropout,
            attention_dropout=attention_dropout,
            activation=activation,
            pre_norm=pre_norm,
            layer_norm_epsilon=layer_norm_epsilon,
            clamp_len=clamp_len,
            kernel_initializer=kernel_initializer,
            dtype=self.dtype_policy,
            name="stack",
        )
        self.placement = self.stack.placement
        self.kernel_initializer = kernel_initializer
        self.decay_max = self.stack.decay_max
        self.pool_size = self.stack.pool_size
        self.decay_form = decay_form
        self.pool_order = pool_order
        self.embedding_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="embedding_dropout")
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="output_dropout")
        self.build((None, None))

    @property
    def memory_lengths(self):
        """Per-layer memory lengths, bottom layer first."""
        return list(self.stack.memory_lengths)

    def build(self, input_shape=None):
        if self.built:  # built in __init__; a user's build() is a no-op
            return
        if self.num_memory_tokens:
            # M_0: each row drawn on its own (the reference repeats one
            # row, so every slot would start identical), at the scale of
            # the scaled token embeddings.
            self.memory_token_start = self.add_weight(
                name="memory_tokens",
                shape=(self.num_memory_tokens, self.d_model),
                initializer=keras.initializers.RandomNormal(
                    stddev=0.02 * self.d_model ** 0.5))
        self.embedding.build(input_shape)
        hidden = (None, None, self.d_model)
        self.stack.build(hidden)
        self.embedding_dropout.build(hidden)
        self.output_dropout.build(hidden)
        self.built = True

    def state_spec(self, form=MEMORY):
        """The layout of this model's state: a `keras_lrm.state_spec.
        StateSpec` of names, shapes, dtypes and empty values.

        Args:
            form: `"memory"`: `"memory_<l>"` `(batch, memory_lengths[l],
                d_model)` per layer, the states each layer attends to; or
                `"cache"`: `"keys_<l>"` and `"values_<l>"` `(batch,
                num_heads, memory_lengths[l], d_model // num_heads)`, the
                same rows as each attention projects them (inference: it
                depends on the weights). Both hold `"filled"`, int32
                `(batch,)`, the count of real rows (0: empty, all masked).
        """
        spec = self.stack.state_spec(form, self.d_model)
        if not self.num_memory_tokens:
            return spec
        tokens = StateEntry(MEMORY_TOKENS, (self.num_memory_tokens,
                                            self.d_model),
                            self.compute_dtype, None, MEMORY_TOKENS)
        return StateSpec(spec.entries + (tokens,), spec.form)

    def initial_memory(self, batch_size, form=MEMORY):
        """An empty state of `form` (see `state_spec`) for `batch_size`
        streams; with memory tokens, `"memory_tokens"` holds `M_0` in every
        row."""
        state = self.state_spec(form).empty(batch_size)
        if self.num_memory_tokens:
            state[MEMORY_TOKENS] = self._start_tokens(batch_size)
        return state

    def _start_tokens(self, batch_size):
        start = ops.cast(self.memory_token_start, self.compute_dtype)
        return ops.broadcast_to(start[None], (batch_size,) + tuple(
            start.shape))

    def initial_cache(self, batch_size):
        """`initial_memory(batch_size, form="cache")`."""
        return self.initial_memory(batch_size, CACHE)

    def call_with_memory(self, token_ids, memory, training=None):
        """Reads `token_ids` after `memory`; returns logits and new memory.

        Args:
            token_ids: int `(batch, T)`, any `T >= 1`, values in
                `[0, vocab_size)`.
            memory: a state of either form (see `state_spec`) from
                `initial_memory` or a previous call, or `None` for an
                empty memory. The `"cache"` form projects only the new
                tokens: `O(M d)` per layer and token instead of the
                `O(M d^2)` of projecting `M` memory rows again (short calls
                on the `"memory"` form avoid that too, reading the memory
                through the queries; docs/generation.md times both). Logits
                are the same either way (up to rounding).
            training: whether dropout is active.

        Returns:
            `(logits, new_memory)`: float32 `(batch, T, vocab_size)` and the
            state after these tokens, in the form `memory` came in.
        """
        return self._run(token_ids, memory, training)

    def call_with_cache(self, token_ids, cache):
        """`call_with_memory` on a state of the `"cache"` form (from
        `initial_cache`), for inference."""
        self.state_spec(CACHE).check(
            cache, as_token_tensor(token_ids).shape[0], name="cache")
        return self._run(token_ids, cache, False)

    def _run(self, token_ids, memory, training):
        token_ids = as_token_tensor(token_ids)
        if len(token_ids.shape) != 2 or token_ids.shape[1] == 0:
            raise ValueError(
                "`token_ids` must have shape (batch, time) with time >= 1. "
                f"Received: shape={tuple(token_ids.shape)}"
            )
        token_ids = check_token_ids(token_ids, self.vocab_size)
        hidden = self.embedding(token_ids)
        hidden = self.embedding_dropout(hidden, training=training)
        m = self.num_memory_tokens
        if not m:
            hidden, new_state = self.stack(hidden, memory, training=training)
            hidden = self.output_dropout(hidden, training=training)
            return self.embedding(hidden, reverse=True), new_state
        tokens = self._read_tokens(memory, ops.shape(hidden)[0])
        if memory is not None:
            memory = {k: v for k, v in memory.items() if k != MEMORY_TOKENS}
        # [read M_t ; x_t ; write M_t]: the decoder-only RMT layout.
        joined = ops.concatenate([tokens, hidden, tokens], axis=1)
        joined, new_state = self.stack(joined, memory, training=training,
                                       memory_tokens=m)
        length = ops.shape(hidden)[1]
        new_state[MEMORY_TOKENS] = joined[:, m + length:]
        hidden = self.output_dropout(joined[:, m:m + length],
                                     training=training)
        return self.embedding(hidden, reverse=True), new_state

    def _read_tokens(self, memory, batch_size):
        """`M_t` from the state; `M_0` (the weight, with its gradient) for
        no state and for rows still holding the empty value (zeros: a
        stream's start, as `StatefulLM` resets it)."""
        start = self._start_tokens(batch_size)
        if memory is None:
            return start
        spec = self.state_spec(state_form(memory))
        spec.check(memory, tuple(memory[MEMORY_TOKENS].shape)[0]
                   if MEMORY_TOKENS in memory else None)
        tokens = ops.cast(memory[MEMORY_TOKENS], self.compute_dtype)
        empty = ops.all(ops.equal(tokens, 0), axis=(1, 2))
        return ops.where(empty[:, None, None], start, tokens)

    def call_segments(self, token_ids, state, gradient_segments=None,
                      training=None):
        """Reads `K` segments in order, carrying the state between them.

        The Recurrent Memory Transformer's training step: gradients flow
        from segment to segment through the memory tokens (the XL memory
        never carries one). Equal to `K` calls of `call_with_memory`.

        Args:
            token_ids: int `(batch, K * segment_length)`.
            state: a state from `initial_memory` or a previous call, or
                `None` (an empty memory and `M_0`).
            gradient_segments: `k` in `[1, K]`: the gradient through the
                memory tokens stops at the start of the last `k` segments
                (truncated backpropagation through time). `None`: all `K`.
            training: whether dropout is active.

        Returns:
            `(logits, state)`: float32 `(batch, K * segment_length,
            vocab_size)` and the state after the last segment.
        """
        token_ids = as_token_tensor(token_ids)
        length = tuple(token_ids.shape)[-1]
        size = self.segment_length
        if len(token_ids.shape) != 2 or length is None or not length or \
                length % size:
            raise ValueError(
                "`token_ids` of `call_segments` must have shape (batch, "
                f"K * segment_length) with segment_length={size} and a "
                f"known K >= 1. Received: shape={tuple(token_ids.shape)}"
            )
        count = length // size
        if gradient_segments is not None:
            gradient_segments = check_positive("gradient_segments",
                                               gradient_segments)
            if gradient_segments > count:
                raise ValueError(
                    "`gradient_segments` must be at most the number of "
                    f"segments ({count}). Received: gradient_segments="
                    f"{gradient_segments}"
                )
        cut = count - (gradient_segments or count)
        logits = []
        for index in range(count):
            if index == cut and index and MEMORY_TOKENS in state:
                state = dict(state, **{MEMORY_TOKENS: ops.stop_gradient(
                    state[MEMORY_TOKENS])})
            piece, state = self.call_with_memory(
                token_ids[:, index * size:(index + 1) * size], state,
                training=training)
            logits.append(piece)
        return ops.concatenate(logits, axis=1), state

    def call(self, token_ids, training=None):
        logits, _ = self._run(token_ids, None, training)
        return logits

    def with_memory_lengths(self, placement):
        """A copy of this model with other memory lengths, same weights.

        Memory lengths do not change the weights, so a model trained with
        one placement can be evaluated with longer memories (the paper
        trains with 2304 and evaluates with 6000):
        `model.with_memory_lengths(model.placement.with_lengths(6000))`.

        Args:
            placement: a `Placement`, or a list of per-layer lengths.
        """
        if not isinstance(placement, (Placement, list, tuple)):
            raise ValueError(
                "`placement` must be a keras_lrm.Placement or a list of "
                f"per-layer memory lengths. Received: placement={placement!r}"
            )
        config = self.get_config()
        lengths = isinstance(placement, (list, tuple))
        config["placement"] = None if lengths else placement
        config["memory_lengths"] = list(placement) if lengths else None
        other = self.__class__.from_config(config)
        other.set_weights(self.get_weights())
        return other

    def generate(self, inputs, max_new_tokens, sampler="top_k", seed=None,
                 segment_length=None, return_state=False):
        """Generates `max_new_tokens` tokens after `inputs`, on device.

        The prompt is read segment by segment into a key/value cache, then
        the tokens come from one compiled while loop (XLA on TensorFlow):
        `sampler` draws each token on device from the last logits and the
        token is fed back as a `time = 1` step. There is no host round
        trip per token, and the cost of a token does not grow with the
        text (the state is fixed-size). The compiled functions are kept on
        the model, per batch size, `max_new_tokens` and sampler settings.

        Args:
            inputs: int token ids `(time,)` or `(batch, time)`, `time >= 1`;
                or a dict `{"token_ids": ids, "state": cache}` to continue
                from a key/value cache returned with `return_state=True`.
            max_new_tokens: int >= 1, tokens to generate.
            sampler: a `keras_lrm.samplers.Sampler`, its name (`"greedy"`,
                `"random"`, `"top_k"`, `"top_p"`) or its serialized dict.
            seed: int in `[0, 2**31)`, overriding the sampler's seed; with
                neither, a fresh seed per call. A seed gives the same
                tokens on every call.
            segment_length: prompt tokens per call (default: the training
                segment). With memory tokens it must be the model's
                `segment_length`: the tokens are written once per segment.
            return_state: also return the cache after the new tokens (with
                memory tokens, a `keras_lrm.models.memory_token_stream`
                state: the partial segment's rows with the memory tokens;
                docs/generation.md, "Memory tokens").

        Returns:
            int32 `(batch, max_new_tokens)` new token ids, and with
            `return_state` the cache after them: `(token_ids, state)`.

        Example:

        >>> model.generate(prompt_ids, 64, sampler="greedy")
        """
        return generation_loop.generate(
            self, inputs, max_new_tokens, sampler=sampler, seed=seed,
            segment_length=segment_length, return_state=return_state)

    def get_config(self):
        placement = self.placement
        if placement is not None:
            placement = keras.saving.serialize_keras_object(placement)
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
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
            "tie_embeddings": self.tie_embeddings,
            "clamp_len": self.clamp_len,
            "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "decay_max": self.decay_max,
            "pool_size": self.pool_size,
            "decay_form": self.decay_form,
            "pool_order": self.pool_order,
            "num_memory_tokens": self.num_memory_tokens,
            "kernel_initializer": None if self.kernel_initializer is None
            else keras.initializers.serialize(
                self.stack.kernel_initializer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**placement_from_config(config))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.vocab_size,)

    def compute_output_spec(self, token_ids, training=None):
        # Logits are float32 whatever the compute dtype (see `call`).
        return keras.KerasTensor(
            self.compute_output_shape(tuple(token_ids.shape)), "float32")
