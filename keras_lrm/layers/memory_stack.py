"""A stack of memory blocks with per-layer memory lengths."""

import warnings

import keras
from keras import ops

from keras_lrm.arguments import check_batch_size
from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import check_positive_number
from keras_lrm.layers.attention_terms import memory_token_layout
from keras_lrm.layers.call_checks import check_inputs_shape
from keras_lrm.layers.las import check_las_arguments
from keras_lrm.layers.las import per_layer
from keras_lrm.layers.memory_block import MemoryBlock
from keras_lrm.layers.relative_position import sinusoid_table
from keras_lrm.placement import placement_from_config
from keras_lrm.placement import resolve_lengths
from keras_lrm.state_spec import CACHE
from keras_lrm.state_spec import FILLED
from keras_lrm.state_spec import MEMORY
from keras_lrm.state_spec import cache_names
from keras_lrm.state_spec import cache_state_spec
from keras_lrm.state_spec import check_form
from keras_lrm.state_spec import memory_name
from keras_lrm.state_spec import memory_state_spec
from keras_lrm.state_spec import state_form
from keras_lrm.token_checks import check_filled


@keras.saving.register_keras_serializable(package="keras_lrm")
class MemoryStack(keras.layers.Layer):
    """`MemoryBlock`s whose memory lengths follow a placement policy.

    Layer `l` keeps and attends to `memory_lengths[l]` past states, e.g. a
    long-range memory in a few layers and a short one elsewhere
    (`Placement`). The sinusoid table is computed once per call for the
    largest key length; each layer reads the tail it needs, which is exact
    because the table ends at distance 0 for every layer.

    The state is a dict laid out by `state_spec(form)` (see
    `keras_lrm.state_spec`): in the `"memory"` form, `"memory_<l>"` of shape
    `(batch, memory_lengths[l], dim)` for every layer; in the `"cache"`
    form (inference), `"keys_<l>"` and `"values_<l>"` of shape `(batch,
    num_heads, memory_lengths[l], key_dim)`, the same rows as layer `l`'s
    attention projects them, so a call projects only its own rows. Both
    hold `"filled"`, an int32 `(batch,)` count of real rows at the end of
    each memory (capped at the longest memory; layer `l` reads
    `min(filled, memory_lengths[l])`). Unfilled rows are masked, so the
    first segment of a stream is exact. The cache depends on the weights:
    build it with the weights it is used with.

    Args:
        num_layers: number of blocks.
        num_heads: attention heads per block.
        intermediate_dim: feed-forward width (`d_ff`).
        placement: a `keras_lrm.Placement`; or give `memory_lengths`.
        key_dim, dropout, attention_dropout, activation, pre_norm,
        layer_norm_epsilon, clamp_len, kernel_initializer: as in
            `MemoryBlock`. With `pre_norm=True` a final layer norm follows
            the last block.
        memory_lengths: per-layer memory lengths (a list), instead of a
            `placement`.
        decay_max, pool_size: LaS locality and smoothness (see
            `MemoryAttention`), one value for every layer or a list with
            one per layer (e.g. LaS in the short-memory layers only).
        decay_form, pool_order: LaS' forms, for every layer.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(batch, T, dim)`.
        memory: a state of either form (see above), or `None`: no memory
            at all (every layer attends to the segment alone).
        training: whether dropout is active.
        cache: deprecated; pass a cache as `memory`.
        memory_tokens: `m`, the Recurrent Memory Transformer's tokens
            around the segment: `inputs` is `[read (m); segment (T);
            write (m)]`, attended as `attention_terms.memory_token_layout`
            lays out; only the segment's rows enter the memory (and
            `filled`). 0: `inputs` is the segment.

    Returns:
        `(outputs, new_memory)`: `(batch, T, dim)` and the next state, in
        the form it came in.

    Example:

    >>> stack = MemoryStack(4, num_heads=2, intermediate_dim=32,
    ...                     placement=Placement("last", 1, 16, 4))
    >>> x = keras.random.normal((2, 8, 16))
    >>> memory = stack.initial_memory(2, dim=16)
    >>> y, memory = stack(x, memory)
    >>> [memory[f"memory_{l}"].shape[1] for l in range(4)]
    [4, 4, 4, 16]

    Reference:
        Rae & Razavi, "Do Transformers Need Deep Long-Range Memory?",
        ACL 2020.
    """

    def __init__(self, num_layers, num_heads, intermediate_dim,
                 placement=None, key_dim=None, dropout=0.0,
                 attention_dropout=0.0, activation="relu", pre_norm=False,
                 layer_norm_epsilon=1e-5, clamp_len=None,
                 kernel_initializer=None, memory_lengths=None,
                 decay_max=None, pool_size=1, decay_form="multiplicative",
                 pool_order="after_softmax", **kwargs):
        super().__init__(**kwargs)
        num_layers = check_positive("num_layers", num_layers)
        layer_norm_epsilon = check_positive_number("layer_norm_epsilon",
                                                   layer_norm_epsilon)
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.placement, self.memory_lengths = resolve_lengths(
            placement, memory_lengths, num_layers)
        # LaS per layer: a scalar for every layer or one value per layer.
        las = [check_las_arguments(decay, pool, decay_form, pool_order)
               for decay, pool in zip(
                   per_layer("decay_max", decay_max, num_layers),
                   per_layer("pool_size", pool_size, num_layers))]
        self.decay_max = decay_max if not isinstance(
            decay_max, (list, tuple)) else [each[0] for each in las]
        self.pool_size = pool_size if not isinstance(
            pool_size, (list, tuple)) else [each[1] for each in las]
        self.decay_form, self.pool_order = decay_form, pool_order
        self.key_dim = key_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation = keras.activations.get(activation)
        self.pre_norm = pre_norm
        self.layer_norm_epsilon = layer_norm_epsilon
        self.clamp_len = clamp_len
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer
            or keras.initializers.RandomNormal(stddev=0.02)
        )
        self.blocks = [
            MemoryBlock(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                memory_length=length,
                key_dim=key_dim,
                dropout=dropout,
                attention_dropout=attention_dropout,
                activation=activation,
                pre_norm=pre_norm,
                layer_norm_epsilon=layer_norm_epsilon,
                clamp_len=clamp_len,
                kernel_initializer=self.kernel_initializer,
                decay_max=las[index][0],
                pool_size=las[index][1],
                decay_form=decay_form,
                pool_order=pool_order,
                dtype=self.dtype_policy,
                name=f"block_{index}",
            )
            for index, length in enumerate(self.memory_lengths)
        ]
        self.final_norm = None

    @property
    def max_memory_length(self):
        return max(self.memory_lengths)

    def build(self, inputs_shape, memory_shape=None):
        check_inputs_shape(self.name, inputs_shape)
        self.dim = inputs_shape[-1]
        for block in self.blocks:
            block.build(inputs_shape)
        if self.pre_norm:
            self.final_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
                name="final_norm")
            self.final_norm.build(inputs_shape)
        self.built = True

    def state_spec(self, form=MEMORY, dim=None, dtype=None):
        """The layout of this stack's state (`keras_lrm.state_spec`).

        Args:
            form: `"memory"` (the states each layer attends to) or
                `"cache"` (the same rows as each attention projects them).
            dim: model width; defaults to the built width.
            dtype: dtype of the rows; defaults to the compute dtype.
        """
        check_form(form)
        dtype = dtype or self.compute_dtype
        if form == CACHE:
            if not self.built:
                raise ValueError(
                    "The stack must be built before its cache spec: the "
                    "cache shapes depend on its attention layers."
                )
            attention = self.blocks[0].attention
            return cache_state_spec(self.memory_lengths, attention.num_heads,
                                    attention.key_dim, dtype)
        dim = dim or getattr(self, "dim", None)
        if dim is None:
            raise ValueError(
                "`dim` is required before the stack is built. Received: "
                "dim=None"
            )
        return memory_state_spec(self.memory_lengths, dim, dtype)

    def initial_memory(self, batch_size, dim=None, dtype=None, form=MEMORY):
        """An empty state of `form` for `batch_size` streams.

        Args:
            batch_size: number of streams (int or scalar tensor).
            dim: model width; defaults to the built width.
            dtype: memory dtype; defaults to the compute dtype.
            form: `"memory"` or `"cache"` (see `state_spec`).
        """
        batch_size = check_batch_size(batch_size)
        return self.state_spec(form, dim, dtype).empty(batch_size)

    def initial_cache(self, batch_size, dtype=None):
        """`initial_memory(batch_size, form="cache")`."""
        return self.initial_memory(batch_size, dtype=dtype, form=CACHE)

    def check_memory(self, memory, inputs_shape, name="memory",
                     cache=False):
        """Raises `ValueError` naming the entry that does not fit."""
        spec = self.state_spec(CACHE if cache else MEMORY,
                               dim=inputs_shape[-1])
        spec.check(memory, inputs_shape[0], name)

    def call(self, inputs, memory=None, training=None, cache=None,
             memory_tokens=0):
        if cache is not None:
            if memory is not None:
                raise ValueError(
                    "`MemoryStack` takes `memory` or `cache`, not both. "
                    "Received both."
                )
            warnings.warn(
                "`MemoryStack(...)(x, cache=)` is deprecated: pass the "
                "cache as `memory`.", DeprecationWarning, stacklevel=2)
            memory, name, form = cache, "cache", CACHE
        else:
            form = state_form(memory)
            name = "memory"
        filled = None
        if memory is not None:
            self.check_memory(memory, tuple(inputs.shape), name,
                              form == CACHE)
            filled = check_filled(memory[FILLED], self.max_memory_length)
        num_queries = ops.shape(inputs)[1]
        tokens = check_non_negative("memory_tokens", memory_tokens)
        # The segment: the rows between the read and the write tokens.
        segment = num_queries - 2 * tokens
        state_rows = None
        if tokens:
            # Both ints, or both tensors (a Keras call argument may not
            # mix them) when the length is known only at run time.
            start = tokens if isinstance(segment, int) \
                else ops.convert_to_tensor(tokens, "int32")
            state_rows = (start, start + segment)
        # Without a memory every layer attends to the segment alone.
        rows = [0 if memory is None else length
                for length in self.memory_lengths]
        table = sinusoid_table(max(rows) + num_queries, self.dim,
                               self.clamp_len, self.compute_dtype)
        hidden = inputs
        new_memory = {}
        for index, block in enumerate(self.blocks):
            position_encoding = table[max(rows) - rows[index]:]
            # Layer `l` reads min(filled, M_l) rows: its own count.
            layer_filled = None if filled is None else ops.minimum(
                ops.cast(filled, "int32"), rows[index])
            names = cache_names(index) if form == CACHE \
                else (memory_name(index),)
            if memory is None:
                layer_memory = None
            elif form == CACHE:
                layer_memory = tuple(memory[key] for key in names)
            else:
                layer_memory = memory[names[0]]
            layout = memory_token_layout(tokens, segment, rows[index]) \
                if tokens else None
            hidden, layer_state = block(
                hidden, layer_memory, filled=layer_filled,
                position_encoding=position_encoding, training=training,
                layout=layout, state_rows=state_rows)
            if form != CACHE:
                layer_state = (layer_state,)
            new_memory.update(zip(names, layer_state))
        if self.final_norm is not None:
            hidden = self.final_norm(hidden)
        previous = 0 if filled is None else ops.cast(filled, "int32")
        new_filled = ops.minimum(previous + segment, self.max_memory_length)
        new_memory[FILLED] = ops.cast(
            ops.broadcast_to(new_filled, (ops.shape(inputs)[0],)), "int32")
        return hidden, new_memory

    def compute_output_shape(self, inputs_shape, memory_shape=None,
                             cache_shape=None):
        batch, dim = inputs_shape[0], inputs_shape[-1]
        cached = cache_shape is not None or (
            isinstance(memory_shape, dict) and cache_names(0)[0] in
            memory_shape)
        spec = self.state_spec(CACHE if cached else MEMORY, dim=dim)
        return tuple(inputs_shape), spec.shapes(batch)

    def compute_output_spec(self, inputs, memory=None, training=None,
                            cache=None):
        """Symbolic outputs: the arguments checked as `call` checks them,
        and each state entry in its own dtype (`filled` is int32)."""
        check_inputs_shape(self.name, inputs.shape, self.dim)
        if cache is not None:
            memory = cache
        form = state_form(memory)
        if memory is not None:
            self.check_memory(memory, tuple(inputs.shape),
                              "cache" if cache is not None else "memory",
                              form == CACHE)
        spec = self.state_spec(form, dim=inputs.shape[-1])
        batch = tuple(inputs.shape)[0]
        state = {entry.name: keras.KerasTensor((batch,) + entry.shape,
                                               entry.dtype)
                 for entry in spec}
        return keras.KerasTensor(tuple(inputs.shape),
                                 self.compute_dtype), state

    def get_config(self):
        placement = self.placement
        if placement is not None:
            placement = keras.saving.serialize_keras_object(placement)
        return {
            **super().get_config(),
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "placement": placement,
            "memory_lengths": None if placement is not None
            else list(self.memory_lengths),
            "key_dim": self.key_dim,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "activation": keras.activations.serialize(self.activation),
            "pre_norm": self.pre_norm,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "clamp_len": self.clamp_len,
            "decay_max": self.decay_max,
            "pool_size": self.pool_size,
            "decay_form": self.decay_form,
            "pool_order": self.pool_order,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**placement_from_config(config))
