"""Token id range checks (TensorFlow-specific: eager and graph asserts)."""

import numpy as np
import tensorflow as tf


def check_token_ids(token_ids, vocab_size, name="token_ids"):
    """Returns `token_ids` after checking they lie in `[0, vocab_size)`.

    Eager values raise `ValueError`; inside a `tf.function` the check is an
    assert that raises `InvalidArgumentError` with the same message when the
    graph runs. XLA drops asserts, so under `jit_compile=True` ids must be
    valid at the source (the data pipeline checks them when it writes).
    """
    dtype = getattr(token_ids, "dtype", None)
    if dtype is not None and not tf.as_dtype(dtype).is_integer:
        raise ValueError(
            f"`{name}` must be integer token ids. Received: dtype={dtype}"
        )
    message = f"`{name}` must lie in [0, vocab_size={vocab_size})"
    if isinstance(token_ids, np.ndarray) or (
            isinstance(token_ids, tf.Tensor) and tf.executing_eagerly()):
        values = np.asarray(token_ids)
        if values.size and (values.min() < 0 or values.max() >= vocab_size):
            raise ValueError(
                f"{message}. Received: min={values.min()}, "
                f"max={values.max()}"
            )
        return token_ids
    if not isinstance(token_ids, tf.Tensor):
        return token_ids
    in_range = tf.logical_and(
        tf.reduce_all(token_ids >= 0),
        tf.reduce_all(token_ids < vocab_size))
    check = tf.debugging.Assert(
        in_range, [message + ". Received min/max:",
                   tf.reduce_min(token_ids), tf.reduce_max(token_ids)])
    with tf.control_dependencies([check]):
        return tf.identity(token_ids)
