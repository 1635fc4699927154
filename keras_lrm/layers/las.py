"""Locality and smoothness (LaS) for `MemoryAttention`'s two seams.

Zimerman & Wolf's LaS attention is
`LaS_c = AvgPool_P(softmax(exp(-alpha_c D) * S_c)) V` for head `c`, with
`S_c` the scaled scores and `D` the causal distance of each query to each
key. No parameters: `alpha` is fixed per head, 0 for head 0 and spread
exponentially up to `decay_max` for the others. Here `S_c` is the
Transformer-XL content plus position score and `D` is measured across the
memory boundary (`MemoryAttention.adjust_scores` receives it).

The functions work on head-major `(heads, batch, T, K)` tensors, the layout
of the seams.
"""

from keras import ops

from keras_lrm.arguments import check_choice
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import check_positive_number

DECAY_FORMS = ("multiplicative", "additive")
POOL_ORDERS = ("after_softmax", "before_softmax")


def head_decays(num_heads, decay_max):
    """Per-head `alpha`: 0 for head 0, then `decay_max * 2^-(H-1-c)` for
    heads `c = 1 .. H-1` (an exponential spread whose largest is
    `decay_max`, in the last head). A list of floats."""
    return [0.0] + [decay_max * 2.0 ** -(num_heads - 1 - head)
                    for head in range(1, num_heads)]


def decay_scores(scores, distance, decays, form):
    """Scores decayed with distance, per head.

    Args:
        scores: float32 `(heads, batch, T, K)`, before the mask.
        distance: int `(T, K)`, `M + i - j` (negative for future keys,
            masked later: taken as 0 here so nothing overflows).
        decays: per-head `alpha` (a list of `heads` floats).
        form: `"multiplicative"`: `exp(-alpha D) * S`, the paper's form,
            which takes far logits towards 0 (a uniform weight), not to
            minus infinity; `"additive"`: `S - alpha D` (ALiBi's form),
            which takes them to minus infinity.

    Returns:
        float32 `(heads, batch, T, K)`.
    """
    alpha = ops.convert_to_tensor(decays, "float32")[:, None, None, None]
    far = ops.cast(ops.maximum(distance, 0), "float32")[None, None]
    if form == "multiplicative":
        return scores * ops.exp(-alpha * far)
    return scores - alpha * far


def _window_sums(values, size):
    """`sum(values[..., j : j + size])` for every `j` (zeros past the end),
    by a cumulative sum: `O(K)` per row whatever `size`."""
    padded = ops.pad(values, [(0, 0)] * (len(values.shape) - 1)
                     + [(1, size - 1)])
    total = ops.cumsum(padded, axis=-1)
    # `total` has `K + size` entries: the windows are its differences.
    return total[..., size:] - total[..., :-size]


def pool_probabilities(probs, mask, size):
    """Average pool of width `size` along each row of probabilities, kept
    causal: key `j` takes the mean of keys `j .. j + size - 1` (towards
    the query, never past it: those are 0), is re-masked, and each row is
    renormalised.

    A centred pool would move weight onto the keys just after the query
    (a leak of the future), and a pool towards earlier keys would move
    weight onto hidden ones (future keys or unfilled memory rows); this
    one cannot reach a future key, and the mask removes what it moves onto
    an unfilled row.

    Args:
        probs: float32 `(heads, batch, T, K)`, each row summing to 1.
        mask: bool `(batch or 1, T, K)`.
        size: pool width `P >= 1`.

    Returns:
        float32 `(heads, batch, T, K)`, rows summing to 1.
    """
    pooled = _window_sums(probs, size) / size
    pooled = pooled * ops.cast(mask, pooled.dtype)[None]
    total = ops.sum(pooled, axis=-1, keepdims=True)
    return pooled / ops.maximum(total, 1e-30)


def pool_scores(scores, distance, size):
    """Average pool of width `size` along each row of scores before the
    softmax: key `j` takes the mean of the scores of the visible keys
    among `j .. j + size - 1` (a future key, `distance < 0`, never
    counts). Hidden keys are masked after, as without pooling.

    Args:
        scores: float32 `(heads, batch, T, K)`, before the mask.
        distance: int `(T, K)`, `M + i - j`.
        size: pool width `P >= 1`.
    """
    visible = ops.cast(ops.greater_equal(distance, 0), "float32")
    sums = _window_sums(scores * visible[None, None], size)
    counts = _window_sums(visible, size)[None, None]
    return sums / ops.maximum(counts, 1.0)


def check_las_arguments(decay_max, pool_size, decay_form, pool_order):
    """The four LaS arguments of one layer, checked: `decay_max` None or a
    number > 0, `pool_size` an integer >= 1, and the two forms."""
    if decay_max is not None:
        decay_max = check_positive_number("decay_max", decay_max)
    return (decay_max, check_positive("pool_size", pool_size),
            check_choice("decay_form", decay_form, DECAY_FORMS),
            check_choice("pool_order", pool_order, POOL_ORDERS))


def per_layer(name, value, num_layers):
    """`value` for each of `num_layers` layers: a scalar for all, or a
    list or tuple with one entry per layer."""
    if isinstance(value, (list, tuple)):
        if len(value) != num_layers:
            raise ValueError(
                f"`{name}` as a list must have one entry per layer "
                f"({num_layers}). Received: {name}={list(value)!r}"
            )
        return list(value)
    return [value] * num_layers


def _trailing_sums(values, size, axis):
    """`sum(values[k - size + 1 : k + 1])` along `axis` for every `k`
    (nothing before the start), by a cumulative sum."""
    pad = [(0, 0)] * len(values.shape)
    pad[axis] = (size, 0)
    total = ops.cumsum(ops.pad(values, pad), axis=axis)
    width = ops.shape(values)[axis]
    index = [slice(None)] * len(values.shape)
    upper, lower = list(index), list(index)
    upper[axis] = slice(size, None)
    lower[axis] = slice(0, width)
    return total[tuple(upper)] - total[tuple(lower)]


def pooled_values(values, mask, size):
    """Values whose product with the softmax equals `pool_probabilities`'
    attention, and the normaliser as one more column.

    `sum_j pool(p)_j m_j v_j = (1/P) sum_k p_k sum_{j=k-P+1..k} m_j v_j`,
    and the renormalising sum likewise with `v_j = 1`. The mask of a key
    that some query sees is its filled-memory part, the last query's row
    (keys after a query have `p = 0` and pool nothing), so under the
    causal mask the pool acts on `(heads, batch, K, key_dim)` values, not on
    `(heads, batch, T, K)` probabilities.

    Args:
        values: head-major `(heads, batch, K, key_dim)`.
        mask: bool `(batch or 1, T, K)`, causal (`attention_mask`).
        size: pool width `P`.

    Returns:
        `(heads, batch, K, key_dim + 1)`: the window sums of the visible
        values, and the count of visible keys in each window last.
    """
    keep = ops.cast(mask[:, -1, :], values.dtype)[None, :, :, None]
    ones = ops.broadcast_to(keep, tuple(ops.shape(values)[:-1]) + (1,))
    joined = ops.concatenate([values * keep, ones], axis=-1)
    return _trailing_sums(joined, size, axis=2)
