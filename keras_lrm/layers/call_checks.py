"""Shape checks of the attention's call arguments, on static shapes.

The same checks serve eager calls, traced calls and symbolic calls (Keras
calls `compute_output_shape` on `keras.Input`s instead of `call`), so a
functional model that could not run fails when it is built. Dimensions
unknown until run time (`None`) are not checked. Each error names the
argument and ends with what was received.
"""


def _known_differ(a, b):
    return a is not None and b is not None and a != b


def _batch_of(inputs_shape):
    """`, with the batch of `inputs` (n)`, when that batch is known."""
    batch = tuple(inputs_shape)[0]
    return "" if batch is None else f", with the batch of `inputs` ({batch})"


def check_inputs_shape(layer, inputs_shape, dim=None):
    """`(batch, T, dim)` with a known, even `dim` (equal to `dim` if given)."""
    inputs_shape = tuple(inputs_shape)
    if len(inputs_shape) != 3 or inputs_shape[-1] is None:
        raise ValueError(
            f"`inputs` of layer '{layer}' must have shape (batch, T, dim) "
            f"with a known dim. Received: inputs.shape={inputs_shape}"
        )
    if inputs_shape[1] == 0:
        raise ValueError(
            f"`inputs` of layer '{layer}' must hold at least one time step "
            f"(T >= 1). Received: inputs.shape={inputs_shape}"
        )
    width = inputs_shape[-1]
    if dim is not None and width != dim:
        raise ValueError(
            f"`inputs` of layer '{layer}' must have shape (batch, T, {dim}),"
            f" the width it was built with. Received: "
            f"inputs.shape={inputs_shape}"
        )
    if width % 2:
        raise ValueError(
            f"The last dimension of `inputs` of layer '{layer}' must be "
            "even: the relative position encodings are sinusoids of that "
            f"width. Received: inputs.shape={inputs_shape}"
        )


def check_memory_shape(layer, memory_shape, memory_length, dim,
                       inputs_shape):
    """`(batch, memory_length, dim)`, the batch of `inputs`."""
    shape = tuple(memory_shape)
    batch = tuple(inputs_shape)[0]
    if len(shape) != 3 or shape[1] != memory_length or \
            _known_differ(shape[2], dim) or _known_differ(shape[0], batch):
        raise ValueError(
            f"`memory` of layer '{layer}' must have shape (batch, "
            f"{memory_length}, {dim}){_batch_of(inputs_shape)}. "
            f"Received: memory.shape={shape}"
        )


def check_filled_shape(layer, filled_shape, inputs_shape):
    """`(batch,)`, the batch of `inputs`."""
    shape = tuple(filled_shape)
    batch = tuple(inputs_shape)[0]
    if len(shape) != 1 or _known_differ(shape[0], batch):
        raise ValueError(
            f"`filled` of layer '{layer}' must have shape (batch,), one "
            f"count per stream{_batch_of(inputs_shape)}. "
            f"Received: filled.shape={shape}"
        )


def check_position_encoding_shape(layer, table_shape, memory_rows, dim,
                                  inputs_shape):
    """`(M + T + 1, dim)`, from `sinusoid_table(M + T, dim)`; `M` is
    `memory_rows`, the rows in front of the segment (0 without memory)."""
    shape = tuple(table_shape)
    rows = tuple(inputs_shape)[1]
    expected = None if rows is None else memory_rows + rows + 1
    if len(shape) != 2 or _known_differ(shape[1], dim) or \
            _known_differ(shape[0], expected):
        expected_rows = f"{memory_rows} + T + 1" if expected is None \
            else str(expected)
        raise ValueError(
            f"`position_encoding` of layer '{layer}' must have shape "
            f"({expected_rows}, {dim}): memory rows + T + 1 rows, from "
            f"`sinusoid_table(memory rows + T, dim)`. Received: "
            f"position_encoding.shape={shape}"
        )


def check_call_shapes(layer, memory_length, dim, inputs_shape,
                      memory_shape=None, filled_shape=None,
                      position_encoding_shape=None, memory_rows=None):
    """Every check above for one call of a `MemoryAttention` named `layer`.

    Shapes of absent arguments are `None`. `memory_rows`: the rows in front
    of the segment, by default `memory_length` with a memory and 0 without
    (a cache passes `memory_length`).
    """
    if memory_rows is None:
        memory_rows = 0 if memory_shape is None else memory_length
    check_inputs_shape(layer, inputs_shape, dim)
    if memory_shape is not None:
        check_memory_shape(layer, memory_shape, memory_length, dim,
                           inputs_shape)
    if filled_shape is not None:
        check_filled_shape(layer, filled_shape, inputs_shape)
    if position_encoding_shape is not None:
        check_position_encoding_shape(layer, position_encoding_shape,
                                      memory_rows, dim, inputs_shape)


def as_cache(layer, memory):
    """`memory` as a `(keys, values)` pair when it is the cache form (a
    tuple or list), else `None` (a tensor, or no memory)."""
    if not isinstance(memory, (tuple, list)):
        return None
    if len(memory) != 2:
        raise ValueError(
            f"`memory` of layer '{layer}' as a key/value cache must be a "
            f"(keys, values) pair. Received: a {type(memory).__name__} of "
            f"{len(memory)} items"
        )
    return tuple(memory)


def check_cache(layer, cache, expected, batch=None):
    """Each of `cache`'s keys and values is `(batch,) + expected`."""
    for name, tensor in zip(("keys", "values"), cache):
        shape = tuple(tensor.shape)
        if len(shape) != 4 or shape[1:] != tuple(expected) or \
                _known_differ(shape[0], batch):
            same_batch = "" if batch is None else \
                f", with the batch of `inputs` ({batch})"
            raise ValueError(
                f"`cache` {name} of layer '{layer}' must have shape "
                f"(batch, {', '.join(map(str, expected))}){same_batch}. "
                f"Received: shape={shape}"
            )
