"""Transformer-XL relative positions: the sinusoid table and the shift.

A query at segment row `i` (key index `M + i` in `concat(memory, segment)`)
and a key at index `j` are `d = M + i - j` positions apart. The position
term of the score is `(q_i + v) . W_r r(d)`. It is computed as a dense
`[query, position]` product against a table of `K + 1` encodings for the
distances `K - 1, K - 2, ..., 0, -1` (`K = M + T` keys) and then shifted so
that column `j` holds distance `M + i - j`. The extra distance `-1` makes the
shift a pure reshape of a contiguous buffer (no padding copy); it only lands
on future positions, which the causal mask removes.
"""

from keras import ops


def sinusoid_table(key_length, depth, clamp_len=None, dtype="float32"):
    """Sinusoid encodings for distances `key_length - 1` down to `-1`.

    Args:
        key_length: int, number of keys `K` (memory + segment).
        depth: int, even encoding size (the model width).
        clamp_len: optional int; distances above it use its encoding.
        dtype: dtype of the result.

    Returns:
        Tensor of shape `(key_length + 1, depth)`: row `p` encodes distance
        `key_length - 1 - p` as `concat([sin(d * f), cos(d * f)])` with
        `f = 1 / 10000 ** (2k / depth)`.
    """
    if depth % 2:
        raise ValueError(
            f"`depth` of the relative encoding must be even. Received: "
            f"depth={depth}"
        )
    distances = ops.arange(key_length - 1, -2, -1, dtype="float32")
    if clamp_len is not None:
        distances = ops.minimum(distances, float(clamp_len))
    inv_freq = 1.0 / (
        10000.0 ** (ops.arange(0, depth, 2, dtype="float32") / depth)
    )
    angles = distances[:, None] * inv_freq[None, :]
    table = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)
    return ops.cast(table, dtype)


def relative_shift(position_scores, memory_length):
    """Aligns position scores from table order to key order.

    Args:
        position_scores: tensor `(..., T, K + 1)` where column `p` holds the
            score against distance `K - 1 - p` (see `sinusoid_table`).
        memory_length: int `M`, with `K = M + T`.

    Returns:
        Tensor `(..., T, K)` whose entry `[..., i, j]` is the score against
        distance `M + i - j`. Entries with `j > M + i` (future keys) hold
        scores of other distances and must be masked by the caller.
    """
    shape = ops.shape(position_scores)
    lead = tuple(shape[:-2])
    rows, width = shape[-2], shape[-1]
    if isinstance(rows, int) and isinstance(width, int) \
            and width != memory_length + rows + 1:
        raise ValueError(
            "`position_scores` must have M + T + 1 columns. Received: "
            f"shape={tuple(shape)} with memory_length={memory_length}"
        )
    keys = memory_length + rows
    # Row i starts at flat offset i * (K + 1); dropping the first T - 1
    # entries and re-reading with row stride K moves row i left by T - 1 - i.
    flat = ops.reshape(position_scores, lead + (-1,))
    flat = flat[..., rows - 1: rows - 1 + rows * keys]
    return ops.reshape(flat, lead + (rows, keys))
