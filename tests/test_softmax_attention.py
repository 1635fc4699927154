import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lrm.layers.softmax_attention import softmax_attention


def reference(scores, values):
    probs = keras.ops.softmax(scores, axis=-1)
    return keras.ops.einsum("nbts,nbsh->nbth",
                            keras.ops.cast(probs, values.dtype), values)


def case(dtype="float32", seed=0):
    """Scores with a causal-like additive mask (every row keeps one key)."""
    rng = np.random.default_rng(seed)
    heads, batch, rows, keys, depth = 2, 3, 5, 7, 4
    scores = rng.normal(0.0, 3.0, (heads, batch, rows, keys))
    visible = np.arange(keys)[None, :] <= np.arange(rows)[:, None] + 2
    scores = scores + np.where(visible, 0.0, -1e9)
    values = rng.normal(size=(heads, batch, keys, depth))
    weight = rng.normal(size=(heads, batch, rows, depth))
    return (tf.constant(scores, "float32"), tf.constant(values, dtype),
            tf.constant(weight, "float32"))


def outputs_and_gradients(attend, scores, values, weight):
    with tf.GradientTape() as tape:
        tape.watch([scores, values])
        out = attend(scores, values)
        loss = tf.reduce_sum(tf.cast(out, "float32") * weight)
    return [out] + tape.gradient(loss, [scores, values])


def test_gives_the_softmax_attention_and_its_gradients():
    got = outputs_and_gradients(softmax_attention, *case())
    expected = outputs_and_gradients(reference, *case())
    for g, e, name in zip(got, expected, ("output", "scores", "values")):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=name)
    # Masked entries get exactly no gradient, without a select.
    scores = case()[0].numpy()
    assert np.all(got[1].numpy()[scores < -1e8] == 0.0)


def test_keeps_the_dtype_of_the_values_under_mixed_precision():
    scores, values, weight = case("bfloat16", seed=1)
    got = outputs_and_gradients(softmax_attention, scores, values, weight)
    expected = outputs_and_gradients(reference, scores, values, weight)
    assert got[0].dtype == tf.bfloat16 and got[2].dtype == tf.bfloat16
    assert got[1].dtype == tf.float32
    for g, e, name in zip(got, expected, ("output", "scores", "values")):
        np.testing.assert_allclose(
            tf.cast(g, "float32"), tf.cast(e, "float32"), rtol=0.05,
            atol=0.05, err_msg=name)


@pytest.mark.parametrize("jit", [False, True])
def test_gradients_in_a_compiled_function(jit):
    scores, values, weight = case(seed=2)
    expected = outputs_and_gradients(reference, scores, values, weight)
    run = tf.function(
        lambda s, v: outputs_and_gradients(softmax_attention, s, v, weight),
        jit_compile=jit)
    for g, e in zip(run(scores, values), expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
