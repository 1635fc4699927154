"""Sampling maths shared by the samplers and the exported `generate`.

Everything is `keras.ops`, so it runs on device inside a compiled loop.
The randomness is a counter-based hash of `(seed, step, row, token)`, not a
stateful generator: a token drawn at `step` depends only on the logits and
those four numbers. So a seed gives the same tokens in a Keras model, in a
reloaded SavedModel and on every backend, and a compiled loop needs no
random state carried from step to step.
"""

import keras
import numpy as np
from keras import ops

# Multipliers of a 32-bit integer hash ("lowbias32", C. Wellons).
_MULTIPLIERS = (0x7FEB352D, 0x846CA68B)
_STEP_SALT = 0x9E3779B9


def _uint32(value):
    if isinstance(value, int):  # JAX reads a Python int as int32
        return ops.convert_to_tensor(np.uint32(value % (1 << 32)))
    return ops.cast(value, "uint32")


def _hash(x):
    """A bijective avalanche hash of uint32 values."""
    sixteen, fifteen = _uint32(16), _uint32(15)
    x = ops.bitwise_xor(x, ops.right_shift(x, sixteen))
    x = ops.multiply(x, _uint32(_MULTIPLIERS[0]))
    x = ops.bitwise_xor(x, ops.right_shift(x, fifteen))
    x = ops.multiply(x, _uint32(_MULTIPLIERS[1]))
    return ops.bitwise_xor(x, ops.right_shift(x, sixteen))


def uniform_noise(shape, seed, step):
    """Uniform floats in (0, 1) of `shape` `(batch, vocab)`, a function of
    `seed` and `step` (integers or integer scalar tensors) alone."""
    batch, vocab = shape
    key = _hash(ops.add(_hash(_uint32(seed)),
                        _hash(ops.add(_uint32(step), _uint32(_STEP_SALT)))))
    rows = ops.expand_dims(ops.cast(ops.arange(batch), "uint32"), 1)
    columns = ops.expand_dims(ops.cast(ops.arange(vocab), "uint32"), 0)
    counter = ops.add(ops.multiply(rows, _uint32(vocab)), columns)
    bits = _hash(ops.add(_hash(ops.bitwise_xor(counter, key)), key))
    # The top 24 bits, centred in their interval: never 0, never 1.
    top = ops.cast(ops.right_shift(bits, _uint32(8)), "float32")
    return (top + 0.5) * (1.0 / (1 << 24))


def sample_from_logits(logits, seed, step):
    """One token id per row, drawn with probabilities `softmax(logits)`.

    Gumbel-max: `argmax(logits + g)` with `g = -log(-log(u))` is a draw of
    the softmax distribution; rows masked to `-inf` are never drawn.

    Args:
        logits: float `(batch, vocab)`.
        seed: integer, or int scalar tensor.
        step: integer, or int scalar tensor: the index of the token drawn.

    Returns:
        int32 `(batch,)`.
    """
    logits = ops.cast(logits, "float32")
    noise = uniform_noise(ops.shape(logits), seed, step)
    gumbel = -ops.log(-ops.log(noise))
    return ops.cast(ops.argmax(logits + gumbel, axis=-1), "int32")


def top_k_mask(logits, k):
    """`logits` with every entry below the `k`-th largest of its row set
    to `-inf`. `k` is an int (or an int scalar tensor); `k <= 0` or at
    least the vocabulary keeps every token."""
    vocab = logits.shape[-1]
    if isinstance(k, int) and vocab is not None:
        if k <= 0 or k >= vocab:
            return logits
        threshold = ops.top_k(logits, k, sorted=True)[0][:, -1:]
    else:
        vocab = ops.shape(logits)[-1]
        k = ops.cast(k, "int32")
        k = ops.where(ops.logical_or(k <= 0, k > vocab), vocab, k)
        descending = ops.flip(ops.sort(logits, axis=-1), axis=-1)
        threshold = ops.take_along_axis(
            descending, ops.reshape(k - 1, (1, 1)) * ops.ones_like(
                descending[:, :1], "int32"), axis=-1)
    return ops.where(logits >= threshold, logits,
                     ops.full_like(logits, float("-inf")))


def top_p_mask(logits, p):
    """`logits` keeping, per row, the fewest most likely tokens whose
    probabilities sum to at least `p` (the nucleus), the others `-inf`.
    `p` is a float in (0, 1] or a float scalar tensor; `p >= 1` keeps
    every token."""
    if isinstance(p, (int, float)) and p >= 1:
        return logits
    descending = ops.flip(ops.sort(logits, axis=-1), axis=-1)
    probabilities = ops.softmax(descending, axis=-1)
    before = ops.cumsum(probabilities, axis=-1) - probabilities
    # A token is kept while the tokens more likely than it hold < p; the
    # most likely is always kept.
    keep = ops.cast(before < p, "int32")
    count = ops.maximum(ops.sum(keep, axis=-1, keepdims=True), 1)
    threshold = ops.take_along_axis(descending, count - 1, axis=-1)
    masked = ops.where(logits >= threshold, logits,
                       ops.full_like(logits, float("-inf")))
    if isinstance(p, (int, float)):
        return masked
    return ops.where(p >= 1.0, logits, masked)


def sample(logits, seed, step, temperature=1.0, top_k=0, top_p=1.0):
    """A token per row with every setting a value or a scalar tensor, as a
    serving signature takes them: `temperature` 0 picks the most likely
    token; `top_k` 0 and `top_p` 1 keep every token.

    Equals the `Sampler` objects on the same settings (`GreedySampler`,
    `RandomSampler`, `TopKSampler`, `TopPSampler`): the same masks and
    the same noise.
    """
    logits = ops.cast(logits, "float32")
    greedy = ops.cast(ops.argmax(logits, axis=-1), "int32")
    if isinstance(temperature, (int, float)) and temperature == 0:
        return greedy
    scaled = logits / ops.maximum(ops.cast(temperature, "float32"),
                                  keras.config.epsilon())
    scaled = top_p_mask(top_k_mask(scaled, top_k), top_p)
    drawn = sample_from_logits(scaled, seed, step)
    if isinstance(temperature, (int, float)):
        return drawn
    return ops.where(ops.cast(temperature, "float32") > 0, drawn, greedy)
