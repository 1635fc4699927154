import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lrm.layers import MemoryAttention
from keras_lrm.layers.attention_terms import attention_mask


def make(memory_length=4, **kwargs):
    layer = MemoryAttention(num_heads=2, key_dim=4,
                            memory_length=memory_length, **kwargs)
    layer.build((None, None, 8))
    return layer


def test_mask_is_causal_over_memory_and_segment():
    mask = np.asarray(attention_mask(3, 2, np.array([2, 1, 0])))
    assert mask.shape == (3, 3, 5)
    # Full memory: query i sees keys 0 .. M + i.
    np.testing.assert_array_equal(
        mask[0], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    # One filled row: the oldest memory row is hidden.
    np.testing.assert_array_equal(mask[1, 0], [0, 1, 1, 0, 0])
    # Empty memory: segment only.
    np.testing.assert_array_equal(mask[2, 2], [0, 0, 1, 1, 1])


def test_empty_memory_equals_no_memory():
    layer = make()
    x = keras.random.normal((2, 5, 8), seed=1)
    junk = keras.random.normal((2, 4, 8), seed=2) * 100.0
    empty = layer(x, junk, filled=np.zeros((2,), "int32"))
    np.testing.assert_allclose(empty, layer(x), atol=1e-6)


def test_partly_filled_memory_ignores_unfilled_rows():
    layer = make()
    x = keras.random.normal((1, 3, 8), seed=1)
    memory = np.asarray(keras.random.normal((1, 4, 8), seed=2))
    changed = memory.copy()
    changed[:, :2] += 5.0
    filled = np.array([2], "int32")
    np.testing.assert_allclose(layer(x, memory, filled=filled),
                               layer(x, changed, filled=filled), atol=1e-6)
    assert not np.allclose(layer(x, memory), layer(x, changed), atol=1e-3)


def test_memory_of_wrong_shape_names_memory():
    layer = make(memory_length=4)
    x = keras.random.normal((2, 3, 8))
    with pytest.raises(ValueError, match="`memory`.*\\(batch, 4, 8\\)"):
        layer(x, keras.random.normal((2, 5, 8)))


@pytest.mark.parametrize("call,argument", [
    (dict(memory=np.zeros((3, 4, 8))), "`memory`.*batch of `inputs` \\(2\\)"),
    (dict(filled=np.int32(2)), "`filled`.*\\(batch,\\)"),
    (dict(filled=np.array([[2], [3]])), "`filled`.*\\(batch,\\)"),
    (dict(filled=np.array([2, 3, 4])), "`filled`.*batch of `inputs` \\(2\\)"),
    (dict(position_encoding=np.zeros((3, 8))),
     "`position_encoding`.*\\(8, 8\\)"),
])
def test_call_arguments_that_do_not_fit_name_the_argument(call, argument):
    """Shapes are checked before any product, so the error names the
    argument instead of coming from an einsum deep in the layer."""
    layer = make(memory_length=4)
    arguments = dict(memory=np.zeros((2, 4, 8), "float32"))
    arguments.update(call)
    with pytest.raises(ValueError, match=argument):
        layer(np.zeros((2, 3, 8), "float32"), **arguments)


@pytest.mark.parametrize("shape,message", [
    ((None, None, None), "known dim"),
    ((None, 4, 7), "must be even"),
])
def test_inputs_width_unknown_or_odd_names_inputs(shape, message):
    with pytest.raises(ValueError, match=f"`inputs`.*{message}"):
        MemoryAttention(num_heads=2, key_dim=4, memory_length=2)(
            keras.Input(batch_shape=shape))
    with pytest.raises(ValueError, match="`inputs`.*the width it was built"):
        make(memory_length=2)(np.zeros((1, 3, 6), "float32"))


def test_symbolic_call_checks_memory_like_an_eager_call():
    """A functional model that could not run fails when it is built."""
    x = keras.Input((None, 8))
    assert make(memory_length=4)(x, keras.Input((4, 8))).shape == \
        (None, None, 8)
    with pytest.raises(ValueError, match="`memory`.*\\(batch, 4, 8\\)"):
        make(memory_length=4)(x, keras.Input((5, 8)))


@pytest.mark.parametrize("kwargs,argument", [
    (dict(num_heads=0, key_dim=4), "num_heads"),
    (dict(num_heads=2, key_dim=4, memory_length=-1), "memory_length"),
    (dict(num_heads=2, key_dim=4, attention_dropout=1.5),
     "attention_dropout"),
    (dict(num_heads=2, key_dim=4, clamp_len=0), "clamp_len"),
    (dict(num_heads=2, key_dim=4, flash_attention="yes"), "flash_attention"),
    (dict(num_heads=2, key_dim=4, flash_attention=True,
          attention_dropout=0.1), "flash_attention"),
])
def test_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        MemoryAttention(**kwargs)


def test_config_round_trip_gives_same_outputs():
    layer = make(clamp_len=3, use_bias=True, flash_attention=False)
    clone = MemoryAttention.from_config(layer.get_config())
    assert clone.flash_attention is False
    clone.build((None, None, 8))
    clone.set_weights(layer.get_weights())
    x = keras.random.normal((2, 3, 8))
    memory = keras.random.normal((2, 4, 8))
    np.testing.assert_allclose(clone(x, memory), layer(x, memory), atol=0)


@pytest.fixture
def fused_on_cpu(monkeypatch):
    """Takes the fused path here, its op run by Keras without a kernel."""
    from keras_lrm.layers import fused_attention
    calls = []
    fused_op = keras.ops.dot_product_attention

    def dot_product_attention(*args, flash_attention=None, **kwargs):
        calls.append(flash_attention)
        return fused_op(*args, flash_attention=False, **kwargs)

    monkeypatch.setattr(fused_attention, "fused_attention_available",
                        lambda *args: True)
    monkeypatch.setattr(keras.ops, "dot_product_attention",
                        dot_product_attention)
    return calls


def _outputs_and_gradients(layer, x, memory, filled):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, memory, filled=filled)
        loss = keras.ops.sum(y * keras.ops.cos(y))
    grads = tape.gradient(loss, [x] + layer.trainable_variables)
    return [np.asarray(y)] + [np.asarray(g) for g in grads]


def test_fused_path_gives_the_same_attention_and_gradients(fused_on_cpu):
    plain = make(memory_length=6, flash_attention=False)
    fused = make(memory_length=6)
    fused.set_weights(plain.get_weights())
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 4, 8)),
                    "float32")
    memory = keras.random.normal((3, 6, 8), seed=3)
    filled = np.array([6, 2, 0], "int32")
    expected = _outputs_and_gradients(plain, x, memory, filled)
    assert fused_on_cpu == []
    got = _outputs_and_gradients(fused, x, memory, filled)
    assert fused_on_cpu == [True]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_fused_path_is_skipped_when_off_or_dropout_active(fused_on_cpu):
    x = keras.random.normal((2, 4, 8), seed=1)
    make(flash_attention=False)(x)
    make(attention_dropout=0.5)(x, training=True)
    assert fused_on_cpu == []
    make(attention_dropout=0.5)(x, training=False)
    assert fused_on_cpu == [True]
    keras.config.disable_flash_attention()
    try:
        make()(x)
    finally:
        keras.config.enable_flash_attention()
    assert fused_on_cpu == [True]


def test_flash_attention_true_where_it_cannot_run_names_the_argument():
    layer = make(flash_attention=True)
    with pytest.raises(ValueError, match="`flash_attention=True`.*JAX"):
        layer(keras.random.normal((2, 4, 8)))


class _Projected(MemoryAttention):
    """Always projects the memory rows (never through the queries)."""

    def reads_memory_through_queries(self, num_queries):
        return False


@pytest.mark.parametrize("use_bias", [False, True])
def test_short_segments_read_memory_through_queries_exactly(monkeypatch,
                                                            use_bias):
    from keras_lrm.layers import memory_attention
    calls = []
    scores = memory_attention.memory_scores
    monkeypatch.setattr(memory_attention, "memory_scores",
                        lambda *a: calls.append(1) or scores(*a))
    layer = make(memory_length=6, use_bias=use_bias, flash_attention=False)
    projected = _Projected(num_heads=2, key_dim=4, memory_length=6,
                           use_bias=use_bias, flash_attention=False)
    projected.build((None, None, 8))
    # Biases start at 0: make them count.
    projected.set_weights([w + 0.1 for w in layer.get_weights()])
    layer.set_weights(projected.get_weights())
    memory = keras.random.normal((3, 6, 8), seed=3)
    filled = np.array([6, 2, 0], "int32")
    for rows, through_queries in ((1, True), (5, False)):
        x = tf.constant(np.random.default_rng(rows).normal(size=(3, rows, 8)),
                        "float32")
        calls.clear()
        got = _outputs_and_gradients(layer, x, memory, filled)
        assert bool(calls) == through_queries
        expected = _outputs_and_gradients(projected, x, memory, filled)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_unknown_segment_length_picks_the_cheaper_way_at_run_time():
    layer = make(memory_length=6, flash_attention=False)
    projected = _Projected(num_heads=2, key_dim=4, memory_length=6,
                           flash_attention=False)
    projected.build((None, None, 8))
    projected.set_weights(layer.get_weights())
    spec = [tf.TensorSpec((2, None, 8)), tf.TensorSpec((2, 6, 8))]
    step = tf.function(layer, input_signature=spec, jit_compile=True)
    memory = keras.random.normal((2, 6, 8), seed=3)
    for rows in (1, 9):
        x = keras.random.normal((2, rows, 8), seed=rows)
        np.testing.assert_allclose(step(x, memory), projected(x, memory),
                                   rtol=1e-5, atol=1e-6)


def test_mixed_bfloat16_reads_memory_through_queries_in_compute_dtype():
    policy = keras.mixed_precision.DTypePolicy("mixed_bfloat16")
    layer = MemoryAttention(num_heads=2, key_dim=4, memory_length=6,
                            use_bias=True, flash_attention=False,
                            dtype=policy)
    projected = _Projected(num_heads=2, key_dim=4, memory_length=6,
                           use_bias=True, flash_attention=False,
                           dtype=policy)
    for each in (layer, projected):
        each.build((None, None, 8))
    projected.set_weights([w + 0.1 for w in layer.get_weights()])
    layer.set_weights(projected.get_weights())
    x = keras.random.normal((2, 1, 8), seed=1)
    memory = keras.random.normal((2, 6, 8), seed=2)
    got = layer(x, memory)
    assert keras.backend.standardize_dtype(got.dtype) == "bfloat16"
    np.testing.assert_allclose(
        np.asarray(keras.ops.cast(got, "float32")),
        np.asarray(keras.ops.cast(projected(x, memory), "float32")),
        rtol=2e-2, atol=2e-2)


def test_zero_length_memory_adds_no_keys():
    layer = make(memory_length=0)
    x = keras.random.normal((2, 3, 8), seed=1)
    np.testing.assert_allclose(layer(x, keras.ops.zeros((2, 0, 8))),
                               layer(x), atol=1e-6)


def test_output_shape_before_build():
    """Keras may ask a layer for shapes before building it."""
    from keras_lrm.layers import MemoryBlock

    assert MemoryAttention(num_heads=2, key_dim=4, memory_length=4) \
        .compute_output_shape((2, 3, 8), (2, 4, 8)) == (2, 3, 8)
    assert MemoryBlock(2, 16, memory_length=4).compute_output_shape(
        (2, 3, 8), (2, 4, 8)) == ((2, 3, 8), (2, 4, 8))
