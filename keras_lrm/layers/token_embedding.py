"""Scaled token embedding whose matrix can also project to logits."""

import keras
from keras import ops

from keras_lrm.arguments import check_positive


@keras.saving.register_keras_serializable(package="keras_lrm")
class TokenEmbedding(keras.layers.Layer):
    """Token embedding scaled by `sqrt(dim)`, with an optional tied output.

    `layer(token_ids)` returns `embeddings[token_ids] * sqrt(dim)` as
    Transformer-XL does. `layer(hidden, reverse=True)` returns float32 logits
    `hidden @ W^T + b`, where `W` is the embedding matrix when
    `tie_weights=True` and a separate `(vocab_size, dim)` matrix otherwise.

    Args:
        vocab_size: number of token ids.
        dim: embedding width.
        tie_weights: share the embedding with the output projection.
        embeddings_initializer: initializer of the matrices.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: int `(batch, T)` ids, or `(batch, T, dim)` with
            `reverse=True`.
        reverse: project hidden states to logits instead of embedding ids.

    Returns:
        `(batch, T, dim)` embeddings, or float32 `(batch, T, vocab_size)`.
    """

    def __init__(self, vocab_size, dim, tie_weights=True,
                 embeddings_initializer=None, **kwargs):
        super().__init__(**kwargs)
        vocab_size = check_positive("vocab_size", vocab_size)
        dim = check_positive("dim", dim)
        self.vocab_size = vocab_size
        self.dim = dim
        self.tie_weights = tie_weights
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
            or keras.initializers.RandomNormal(stddev=0.02)
        )

    def build(self, inputs_shape=None):
        shape = (self.vocab_size, self.dim)
        self.embeddings = self.add_weight(
            name="embeddings", shape=shape,
            initializer=self.embeddings_initializer)
        self.output_kernel = None
        if not self.tie_weights:
            self.output_kernel = self.add_weight(
                name="output_kernel", shape=shape,
                initializer=self.embeddings_initializer)
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.vocab_size,),
            initializer="zeros")
        self.built = True

    def call(self, inputs, reverse=False):
        if reverse:
            kernel = self.embeddings if self.output_kernel is None \
                else self.output_kernel
            logits = ops.einsum("btd,vd->btv", inputs,
                                ops.cast(kernel, inputs.dtype))
            return ops.cast(logits, "float32") + ops.cast(
                self.output_bias, "float32")
        ids = ops.cast(inputs, "int32")
        embedded = ops.take(self.embeddings, ids, axis=0)
        return ops.cast(embedded, self.compute_dtype) * (self.dim ** 0.5)

    def compute_output_shape(self, inputs_shape, reverse=False):
        if reverse:
            return tuple(inputs_shape[:-1]) + (self.vocab_size,)
        return tuple(inputs_shape) + (self.dim,)

    def compute_output_spec(self, inputs, reverse=False):
        shape = self.compute_output_shape(inputs.shape, reverse)
        dtype = "float32" if reverse else self.compute_dtype
        return keras.KerasTensor(shape, dtype=dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "dim": self.dim,
            "tie_weights": self.tie_weights,
            "embeddings_initializer": keras.initializers.serialize(
                self.embeddings_initializer),
        }
