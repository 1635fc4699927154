"""Softmax attention over given scores, with a lean gradient.

`softmax_attention(scores, values)` is `softmax(scores) @ values` for
head-major `(heads, batch, T, K)` scores. Autodiff of that composition
makes XLA (on a CPU) write or re-read score-sized tensors several times in
the backward pass: the probabilities' gradient `p * (dp - sum(p * dp))` is
built from a separate score-sized product and reduction, and, fused into
the pad that undoes the relative shift, recomputed with broadcasts whose
index arithmetic is slow. Its gradient here follows the flash-attention
identities instead:

- `sum_s p_s dp_s = d_out . out` per query: a `(T, key_dim)`-sized
  reduction, not a score-sized one.
- The subtraction rides in the product: `dp - D` is one product of
  `[d_out / l, -D]` with `[values, 1]` (one more contraction column), so
  the score gradient `e * (dp - D)` is element-wise with no broadcast.
- The normalisation `1 / l` is applied to the `(T, key_dim)` output, not
  to the scores: the forward writes the exponentials once, and the
  backward reuses them.

Masked entries must be masked by a large negative *additive* bias (see
`MemoryAttention._scaled_scores`): their exponentials are then exactly 0,
so their gradient is 0 without a select.
"""

import keras
from keras import ops


def softmax_attention(scores, values):
    """`softmax(scores, axis=-1) @ values`, head-major.

    Args:
        scores: float32 `(heads, batch, T, K)`; every row has at least one
            entry that is not masked.
        values: `(heads, batch, K, key_dim)` in the compute dtype.

    Returns:
        `(heads, batch, T, key_dim)` in the dtype of `values`.
    """
    return _attention(scores, values)


def key_softmax(scores):
    """`softmax(scores, axis=-1)`: attention probabilities over the keys.

    With a single key (a one-token step of a layer without memory) every
    probability is exactly 1: returned as such, since `keras.ops.softmax`
    warns that a softmax over a size-1 axis is likely a mistake.
    """
    if scores.shape[-1] == 1:
        return ops.ones_like(scores)
    return ops.softmax(scores, axis=-1)


@keras.ops.custom_gradient
def _attention(scores, values):
    dtype = values.dtype
    top = ops.stop_gradient(ops.max(scores, axis=-1, keepdims=True))
    exps = ops.exp(scores - top)
    inverse = 1.0 / ops.sum(exps, axis=-1, keepdims=True)
    unscaled = ops.einsum("nbts,nbsh->nbth", ops.cast(exps, dtype), values)
    output = ops.cast(ops.cast(unscaled, "float32") * inverse, dtype)

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        scaled = ops.cast(upstream, "float32") * inverse
        d_values = ops.einsum("nbts,nbth->nbsh", ops.cast(exps, dtype),
                              ops.cast(scaled, dtype))
        # D = sum_s p_s dp_s = d_out . out, divided by l as `scaled` is.
        total = ops.sum(scaled * ops.cast(output, "float32"), axis=-1,
                        keepdims=True)
        ones = ops.ones(tuple(ops.shape(values)[:-1]) + (1,), dtype)
        shifted = ops.einsum(
            "nbth,nbsh->nbts",
            ops.cast(ops.concatenate([scaled, -total], axis=-1), dtype),
            ops.concatenate([values, ones], axis=-1))
        return exps * ops.cast(shifted, "float32"), d_values

    return output, grad
