"""A stack of memory blocks with per-layer memory lengths."""

import keras
from keras import ops

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.layers.memory_block import MemoryBlock
from keras_lrm.layers.relative_position import sinusoid_table
from keras_lrm.placement import Placement

FILLED = "filled"


def memory_name(index):
    """Key of layer `index`'s memory in a memory state."""
    return f"memory_{index}"


def resolve_memory_lengths(placement, num_layers):
    """Per-layer lengths from a `Placement` or an explicit list of lengths."""
    if isinstance(placement, Placement):
        return placement.memory_lengths(num_layers)
    if isinstance(placement, (list, tuple)):
        if len(placement) != num_layers:
            raise ValueError(
                "`placement` as a list of memory lengths must have one entry "
                f"per layer ({num_layers}). Received: placement={placement!r}"
            )
        for length in placement:
            check_non_negative("placement", length)
        return list(placement)
    raise ValueError(
        "`placement` must be a keras_lrm.Placement or a list of per-layer "
        f"memory lengths. Received: placement={placement!r}"
    )


@keras.saving.register_keras_serializable(package="keras_lrm")
class MemoryStack(keras.layers.Layer):
    """`MemoryBlock`s whose memory lengths follow a placement policy.

    Layer `l` keeps and attends to `memory_lengths[l]` past states, e.g. a
    long-range memory in a few layers and a short one elsewhere
    (`Placement`). The sinusoid table is computed once per call for the
    largest key length; each layer reads the tail it needs, which is exact
    because the table ends at distance 0 for every layer.

    The memory state is a dict: `"memory_<l>"` of shape
    `(batch, memory_lengths[l], dim)` for every layer and `"filled"`, an
    int32 `(batch,)` count of real rows at the end of each memory (capped at
    the longest memory; layer `l` reads `min(filled, memory_lengths[l])`).
    Unfilled rows are masked, so the first segment of a stream is exact.

    Args:
        num_layers: number of blocks.
        num_heads: attention heads per block.
        intermediate_dim: feed-forward width (`d_ff`).
        placement: a `keras_lrm.Placement`, or a list of per-layer lengths.
        key_dim, dropout, attention_dropout, activation, pre_norm,
        layer_norm_epsilon, clamp_len, kernel_initializer: as in
            `MemoryBlock`. With `pre_norm=True` a final layer norm follows
            the last block.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(batch, T, dim)`.
        memory: a memory state (see above) or `None` for an empty one.
        training: whether dropout is active.

    Returns:
        `(outputs, new_memory)`: `(batch, T, dim)` and the next state.

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

    def __init__(self, num_layers, num_heads, intermediate_dim, placement,
                 key_dim=None, dropout=0.0, attention_dropout=0.0,
                 activation="relu", pre_norm=False, layer_norm_epsilon=1e-5,
                 clamp_len=None, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        check_positive("num_layers", num_layers)
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.placement = placement
        self.memory_lengths = resolve_memory_lengths(placement, num_layers)
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
        self.dim = inputs_shape[-1]
        for block in self.blocks:
            block.build(inputs_shape)
        if self.pre_norm:
            self.final_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
                name="final_norm")
            self.final_norm.build(inputs_shape)
        self.built = True

    def initial_memory(self, batch_size, dim=None, dtype=None):
        """An empty memory state for `batch_size` streams.

        Args:
            batch_size: number of streams (int or scalar tensor).
            dim: model width; defaults to the built width.
            dtype: memory dtype; defaults to the compute dtype.
        """
        dim = dim or getattr(self, "dim", None)
        if dim is None:
            raise ValueError(
                "`dim` is required before the stack is built. Received: "
                "dim=None"
            )
        dtype = dtype or self.compute_dtype
        state = {
            memory_name(index): ops.zeros((batch_size, length, dim), dtype)
            for index, length in enumerate(self.memory_lengths)
        }
        state[FILLED] = ops.zeros((batch_size,), "int32")
        return state

    def check_memory(self, memory, inputs_shape):
        """Raises `ValueError` naming the entry that does not fit."""
        if not isinstance(memory, dict):
            raise ValueError(
                "`memory` must be a dict from `initial_memory()`. "
                f"Received: memory of type {type(memory).__name__}"
            )
        expected = {memory_name(i) for i in range(self.num_layers)} | {FILLED}
        if set(memory) != expected:
            raise ValueError(
                f"`memory` must have the keys {sorted(expected)}. "
                f"Received: keys={sorted(memory)}"
            )
        batch, dim = inputs_shape[0], inputs_shape[-1]
        for index, length in enumerate(self.memory_lengths):
            name = memory_name(index)
            shape = tuple(memory[name].shape)
            if len(shape) != 3 or shape[1:] != (length, dim) or (
                    None not in (batch, shape[0]) and shape[0] != batch):
                raise ValueError(
                    f"`memory['{name}']` must have shape ({batch}, {length}, "
                    f"{dim}). Received: shape={shape}"
                )
        shape = tuple(memory[FILLED].shape)
        if len(shape) != 1 or (None not in (batch, shape[0])
                               and shape[0] != batch):
            raise ValueError(
                f"`memory['{FILLED}']` must have shape ({batch},). "
                f"Received: shape={shape}"
            )

    def call(self, inputs, memory=None, training=None):
        filled = None
        if memory is not None:
            self.check_memory(memory, tuple(inputs.shape))
            filled = memory[FILLED]
        num_queries = ops.shape(inputs)[1]
        # Without a memory every layer attends to the segment alone.
        rows = [0 if memory is None else length
                for length in self.memory_lengths]
        table = sinusoid_table(max(rows) + num_queries, self.dim,
                               self.clamp_len, self.compute_dtype)
        hidden = inputs
        new_memory = {}
        for index, block in enumerate(self.blocks):
            name = memory_name(index)
            hidden, new_memory[name] = block(
                hidden,
                None if memory is None else memory[name],
                filled=filled,
                position_encoding=table[max(rows) - rows[index]:],
                training=training,
            )
        if self.final_norm is not None:
            hidden = self.final_norm(hidden)
        previous = 0 if filled is None else ops.cast(filled, "int32")
        new_filled = ops.minimum(previous + num_queries,
                                 self.max_memory_length)
        new_memory[FILLED] = ops.cast(
            ops.broadcast_to(new_filled, (ops.shape(inputs)[0],)), "int32")
        return hidden, new_memory

    def compute_output_shape(self, inputs_shape, memory_shape=None):
        batch, dim = inputs_shape[0], inputs_shape[-1]
        state = {
            memory_name(index): (batch, length, dim)
            for index, length in enumerate(self.memory_lengths)
        }
        state[FILLED] = (batch,)
        return tuple(inputs_shape), state

    def get_config(self):
        placement = self.placement
        if isinstance(placement, Placement):
            placement = keras.saving.serialize_keras_object(placement)
        return {
            **super().get_config(),
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "placement": placement,
            "key_dim": self.key_dim,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "activation": keras.activations.serialize(self.activation),
            "pre_norm": self.pre_norm,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "clamp_len": self.clamp_len,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["placement"], dict):
            config["placement"] = keras.saving.deserialize_keras_object(
                config["placement"])
        return cls(**config)
