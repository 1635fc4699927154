"""Token id range checks.

Concrete values (NumPy arrays, eager tensors of any backend) are checked at
once and raise `ValueError`. Symbolic TensorFlow tensors (inside a
`tf.function`) get a graph assert with the same message. TensorFlow is
imported only when the value is a TensorFlow tensor, so the layers and
models run on the JAX backend without it.
"""

import sys

import keras
import numpy as np


def check_token_ids(token_ids, vocab_size, name="token_ids"):
    """Returns `token_ids` after checking they lie in `[0, vocab_size)`.

    Eager values raise `ValueError`; inside a `tf.function` the check is an
    assert that raises `InvalidArgumentError` with the same message when the
    graph runs. XLA drops asserts, and traced JAX values cannot be checked,
    so under `jit_compile=True` ids must be valid at the source (the data
    pipeline checks them when it writes).
    """
    dtype = getattr(token_ids, "dtype", None)
    if dtype is not None and not _is_integer(dtype):
        raise ValueError(
            f"`{name}` must be integer token ids. Received: dtype={dtype}"
        )
    message = f"`{name}` must lie in [0, vocab_size={vocab_size})"
    values = _concrete_values(token_ids)
    if values is not None:
        if values.size and (values.min() < 0 or values.max() >= vocab_size):
            raise ValueError(
                f"{message}. Received: min={values.min()}, "
                f"max={values.max()}"
            )
        return token_ids
    if _is_tf_tensor(token_ids):
        return _graph_check(token_ids, vocab_size, message)
    return token_ids


def _is_integer(dtype):
    try:
        dtype = keras.backend.standardize_dtype(dtype)
    except ValueError:
        return False
    return "int" in dtype


def _is_tf_tensor(value):
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, tf.Tensor)


def _concrete_values(value):
    """The values as NumPy, or None for a symbolic or traced tensor."""
    if isinstance(value, (np.ndarray, list, tuple, int)):
        return np.asarray(value)
    if _is_tf_tensor(value):
        import tensorflow as tf
        return np.asarray(value) if tf.executing_eagerly() else None
    if keras.backend.is_keras_tensor(value):
        return None
    try:
        return np.asarray(keras.ops.convert_to_numpy(value))
    except TypeError:  # a traced (jit) value has no concrete contents
        return None


def _graph_check(token_ids, vocab_size, message):
    import tensorflow as tf
    in_range = tf.logical_and(
        tf.reduce_all(token_ids >= 0),
        tf.reduce_all(token_ids < vocab_size))
    check = tf.debugging.Assert(
        in_range, [message + ". Received min/max:",
                   tf.reduce_min(token_ids), tf.reduce_max(token_ids)])
    with tf.control_dependencies([check]):
        return tf.identity(token_ids)
