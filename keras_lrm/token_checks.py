"""Range checks of token ids and of a memory state's `filled` counts.

Concrete values (NumPy arrays, eager tensors of any backend) are checked at
once and raise `ValueError`. Symbolic TensorFlow tensors (inside a
`tf.function`) get a graph assert with the same message, except where
the function compiles with XLA, which would drop it. TensorFlow is
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
    graph runs. XLA drops asserts (so none is added when compiling for
    XLA), and traced JAX values cannot be checked, so under
    `jit_compile=True` ids must be valid at the source (the data pipeline
    checks them when it writes).
    """
    dtype = getattr(token_ids, "dtype", None)
    if dtype is not None and not _is_integer(dtype):
        raise ValueError(
            f"`{name}` must be integer token ids. Received: dtype={dtype}"
        )
    message = f"`{name}` must lie in [0, vocab_size={vocab_size})"
    return _check_range(token_ids, vocab_size, message)


def as_token_tensor(token_ids, name="token_ids"):
    """`token_ids` as a tensor: nested lists and NumPy arrays of integers
    are converted, as Keras converts NumPy inputs; tensors pass as they
    are. Raises `ValueError` naming `name` for anything else."""
    if hasattr(token_ids, "shape") and hasattr(token_ids, "dtype"):
        return token_ids
    if isinstance(token_ids, (list, tuple)):
        try:
            array = np.asarray(token_ids)
        except ValueError:  # rows of different lengths
            array = None
        if array is None or array.dtype == object:
            lengths = [len(row) if hasattr(row, "__len__") else 1
                       for row in token_ids]
            raise ValueError(
                f"`{name}` must be a rectangular (batch, time) array of "
                "integer ids: every row the same length. Received: rows "
                f"of lengths {lengths[:8]}"
            )
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"`{name}` must be integer token ids. Received: a "
                f"{type(token_ids).__name__} of {array.dtype}"
            )
        return keras.ops.convert_to_tensor(array.astype("int32"))
    raise ValueError(
        f"`{name}` must be an int tensor or array of shape (batch, time). "
        f"Received: {name} of type {type(token_ids).__name__}"
    )


def check_filled(filled, memory_length):
    """Returns a memory state's `filled` after checking its counts.

    `filled` counts the real rows at the end of a memory of
    `memory_length` rows: integers in `[0, memory_length]`. A float count
    would be truncated and a larger one clamped without a word, so both are
    refused. Checked as `check_token_ids` checks ids: at once for eager
    values, by a graph assert inside a `tf.function`, not under XLA or a
    JAX trace.
    """
    dtype = getattr(filled, "dtype", None)
    if dtype is None and isinstance(filled, (list, tuple, np.ndarray)):
        dtype = np.asarray(filled).dtype
    if isinstance(filled, float) or (dtype is not None
                                     and not _is_integer(dtype)):
        raise ValueError(
            "`filled` must hold integer counts of real memory rows. "
            f"Received: filled of dtype {dtype or type(filled).__name__}"
        )
    return _check_range(
        filled, memory_length + 1,
        f"`filled` must lie in [0, {memory_length}] (a count of real rows "
        f"of a memory of {memory_length} rows)")


def _check_range(value, high, message):
    """`value` after checking it lies in `[0, high)` (`high` None: no
    upper bound); see `check_token_ids` for when and how."""
    if isinstance(value, keras.Variable):  # a state kept in variables
        value = value.value
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(value, tf.Variable):
        value = tf.convert_to_tensor(value)
    values = _concrete_values(value)
    if values is not None:
        if values.size and (values.min() < 0 or (
                high is not None and values.max() >= high)):
            raise ValueError(
                f"{message}. Received: min={values.min()}, "
                f"max={values.max()}"
            )
        return value
    if _is_tf_tensor(value):
        return _graph_check(value, high, message)
    return value


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


def _graph_check(value, high, message):
    import tensorflow as tf
    if _compiling_for_xla(tf):
        # XLA drops asserts, with a warning per assert at compile time.
        return value
    in_range = tf.reduce_all(value >= 0)
    if high is not None:
        in_range = tf.logical_and(in_range, tf.reduce_all(value < high))
    check = tf.debugging.Assert(
        in_range, [message + ". Received min/max:",
                   tf.reduce_min(value), tf.reduce_max(value)])
    with tf.control_dependencies([check]):
        return tf.identity(value)


def _compiling_for_xla(tf):
    """Whether the graph being traced compiles with XLA (a `tf.function`
    with `jit_compile=True`, e.g. Keras' train step, or a function it
    calls)."""
    enclosing = getattr(tf.__internal__, "get_enclosing_xla_context", None)
    return enclosing is not None and enclosing() is not None
