"""One Transformer-XL layer: memory attention and feed-forward."""

import functools
import warnings

import keras
from keras import ops

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import check_positive_number
from keras_lrm.arguments import check_rate
from keras_lrm.layers.call_checks import check_inputs_shape
from keras_lrm.layers.las import check_las_arguments
from keras_lrm.layers.memory_attention import MemoryAttention


def next_memory(memory, inputs, memory_length):
    """`stop_gradient(concat(memory, inputs)[:, -memory_length:])`.

    An absent memory counts as `memory_length` rows of zeros (the caller's
    `filled` count says they are empty). Shapes stay static.
    """
    batch = ops.shape(inputs)[0]
    if not memory_length:
        return ops.zeros((batch, 0, inputs.shape[-1]), inputs.dtype)
    if memory is None:
        memory = ops.zeros((batch, memory_length, inputs.shape[-1]),
                           inputs.dtype)
    context = ops.concatenate([ops.cast(memory, inputs.dtype), inputs], 1)
    return ops.stop_gradient(context[:, -memory_length:])


@keras.saving.register_keras_serializable(package="keras_lrm")
class MemoryBlock(keras.layers.Layer):
    """A Transformer-XL layer that reads and writes its own memory.

    `MemoryAttention` over `concat(memory, inputs)` and a position-wise
    feed-forward network, each with dropout, a residual connection and layer
    normalization: after the residual (post-norm, Transformer-XL's default)
    or before the sublayer (`pre_norm=True`; then the memory is normalized
    with the segment, as Transformer-XL's `pre_lnorm` does). The memory holds
    the block's *inputs*: the new memory is the last `memory_length` rows of
    `concat(memory, inputs)`, with no gradient.

    Args:
        num_heads: number of attention heads.
        intermediate_dim: width of the feed-forward hidden layer (`d_ff`).
        memory_length: `M`, rows of memory this layer keeps and attends to.
        key_dim: size of each head; default `dim // num_heads`, which then
            must divide evenly.
        dropout: dropout on the attention and feed-forward outputs and
            inside the feed-forward network.
        attention_dropout: dropout on the attention probabilities.
        activation: feed-forward activation.
        pre_norm: layer norm before each sublayer instead of after.
        layer_norm_epsilon: epsilon of the layer norms.
        clamp_len: optional clamp of relative distances.
        kernel_initializer: initializer of every kernel.
        decay_max, pool_size, decay_form, pool_order: LaS locality and
            smoothness of the attention (see `MemoryAttention`); the
            defaults give Transformer-XL's attention.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(batch, T, dim)`.
        memory: `(batch, M, dim)` states, or the key/value cache form
            `(keys, values)` of the attention (`MemoryAttention`; for
            inference), or `None` (empty memory).
        filled: optional int `(batch,)`, how many recent memory rows are
            real; `None` means all `M`.
        position_encoding: optional `(M + T + 1, dim)` sinusoid table.
        training: whether dropout is active.
        cache: deprecated; pass the `(keys, values)` pair as `memory`.
        layout, state_rows: as in `MemoryAttention` (memory tokens): the
            attention's layout, and the rows that enter the next memory.

    Returns:
        `(outputs, new_memory)`: `(batch, T, dim)` and the next memory in
        the form it came: `(batch, M, dim)`, or `(keys, values)`.

    Example:

    >>> block = MemoryBlock(num_heads=2, intermediate_dim=32, memory_length=4)
    >>> x = keras.random.normal((2, 3, 16))
    >>> y, memory = block(x, None)
    >>> y, memory = block(x, memory, filled=keras.ops.array([3, 3]))
    >>> memory.shape
    (2, 4, 16)
    """

    def __init__(self, num_heads, intermediate_dim, memory_length=0,
                 key_dim=None, dropout=0.0, attention_dropout=0.0,
                 activation="relu", pre_norm=False, layer_norm_epsilon=1e-5,
                 clamp_len=None, kernel_initializer=None, decay_max=None,
                 pool_size=1, decay_form="multiplicative",
                 pool_order="after_softmax", **kwargs):
        super().__init__(**kwargs)
        (self.decay_max, self.pool_size, self.decay_form,
         self.pool_order) = check_las_arguments(decay_max, pool_size,
                                                decay_form, pool_order)
        num_heads = check_positive("num_heads", num_heads)
        intermediate_dim = check_positive("intermediate_dim",
                                          intermediate_dim)
        memory_length = check_non_negative("memory_length", memory_length)
        if key_dim is not None:
            key_dim = check_positive("key_dim", key_dim)
        dropout = check_rate("dropout", dropout)
        attention_dropout = check_rate("attention_dropout", attention_dropout)
        layer_norm_epsilon = check_positive_number("layer_norm_epsilon",
                                                   layer_norm_epsilon)
        if clamp_len is not None:
            clamp_len = check_positive("clamp_len", clamp_len)
        if not isinstance(pre_norm, bool):
            raise ValueError(
                f"`pre_norm` must be True or False. Received: "
                f"pre_norm={pre_norm!r}"
            )
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.memory_length = memory_length
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

    def build(self, inputs_shape, memory_shape=None, filled_shape=None,
              position_encoding_shape=None):
        check_inputs_shape(self.name, inputs_shape)
        dim = inputs_shape[-1]
        key_dim = self.key_dim
        if key_dim is None:
            if dim % self.num_heads:
                raise ValueError(
                    "The model width must be divisible by `num_heads` when "
                    f"`key_dim` is not given. Received: dim={dim}, "
                    f"num_heads={self.num_heads}"
                )
            key_dim = dim // self.num_heads
        self.attention = MemoryAttention(
            num_heads=self.num_heads,
            key_dim=key_dim,
            memory_length=self.memory_length,
            attention_dropout=self.attention_dropout,
            clamp_len=self.clamp_len,
            kernel_initializer=self.kernel_initializer,
            # Pre-norm: the memory is a constant before the norm, not after
            # it (as in Transformer-XL's `pre_lnorm`), so the norm's weights
            # get the gradient of the memory rows' keys and values too.
            stop_memory_gradient=not self.pre_norm,
            decay_max=self.decay_max,
            pool_size=self.pool_size,
            decay_form=self.decay_form,
            pool_order=self.pool_order,
            dtype=self.dtype_policy,
            name="attention",
        )
        self.attention.build(inputs_shape)

        def layer_norm(name):
            norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
                name=name)
            norm.build(inputs_shape)
            return norm

        def dense(units, activation, name, input_dim):
            layer = keras.layers.Dense(
                units, activation=activation,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy, name=name)
            layer.build((None, None, input_dim))
            return layer

        self.attention_norm = layer_norm("attention_norm")
        self.feedforward_norm = layer_norm("feedforward_norm")
        self.feedforward_inner = dense(
            self.intermediate_dim, self.activation, "feedforward_inner", dim)
        self.feedforward_output = dense(
            dim, None, "feedforward_output", self.intermediate_dim)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy)
        self.built = True

    def initial_cache(self, batch_size, dtype=None):
        """An empty `(keys, values)` cache (the attention's)."""
        return self.attention.initial_cache(batch_size, dtype)

    def call(self, inputs, memory=None, filled=None, position_encoding=None,
             training=None, cache=None, layout=None, state_rows=None):
        if cache is not None:
            if memory is not None:
                raise ValueError(
                    f"Layer '{self.name}' takes `memory` or `cache`, not "
                    "both. Received: a memory and a cache"
                )
            warnings.warn(
                "`MemoryBlock(..., cache=)` is deprecated: pass the "
                "(keys, values) cache as `memory`.", DeprecationWarning,
                stacklevel=2)
            memory = cache
        cached = isinstance(memory, (tuple, list))
        if memory is not None and not cached:
            # Checked before the pre-norm's layer norm reads it.
            self.attention.check_call_shapes(tuple(inputs.shape),
                                             tuple(memory.shape))
            memory = ops.cast(memory, self.compute_dtype)
        drop = self.dropout_layer
        attend = functools.partial(
            self.attention, filled=filled,
            position_encoding=position_encoding, training=training,
            return_cache=cached, layout=layout, state_rows=state_rows)
        if self.pre_norm:
            normed = self.attention_norm(inputs)
            normed_memory = memory if memory is None or cached \
                else self.attention_norm(ops.stop_gradient(memory))
            attended = attend(normed, normed_memory)
        else:
            attended = attend(inputs, memory)
        if cached:
            attended, new_cache = attended
        hidden = inputs + drop(attended, training=training)
        if self.pre_norm:
            inner = self.feedforward_inner(self.feedforward_norm(hidden))
            outputs = hidden + drop(
                self.feedforward_output(drop(inner, training=training)),
                training=training)
        else:
            hidden = self.attention_norm(hidden)
            inner = self.feedforward_inner(hidden)
            outputs = self.feedforward_norm(hidden + drop(
                self.feedforward_output(drop(inner, training=training)),
                training=training))
        if cached:
            return outputs, new_cache
        if state_rows is not None:
            inputs = inputs[:, state_rows[0]:state_rows[1]]
        return outputs, next_memory(memory, inputs, self.memory_length)

    def compute_output_shape(self, inputs_shape, memory_shape=None,
                             filled_shape=None, position_encoding_shape=None,
                             cache_shape=None):
        if memory_shape is not None and memory_shape and \
                isinstance(memory_shape[0], (tuple, list)):
            cache_shape, memory_shape = memory_shape, None
        if self.built:  # Keras may ask for shapes before `build`
            self.attention.check_call_shapes(
                inputs_shape, memory_shape, filled_shape,
                position_encoding_shape,
                memory_rows=None if cache_shape is None
                else self.memory_length)
        if cache_shape is not None:
            return tuple(inputs_shape), tuple(cache_shape)
        return (tuple(inputs_shape),
                (inputs_shape[0], self.memory_length, inputs_shape[-1]))

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "memory_length": self.memory_length,
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
