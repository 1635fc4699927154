import keras
import numpy as np
import pytest

from keras_lrm.layers import MemoryAttention
from keras_lrm.layers.memory_attention import attention_mask


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


@pytest.mark.parametrize("kwargs,argument", [
    (dict(num_heads=0, key_dim=4), "num_heads"),
    (dict(num_heads=2, key_dim=4, memory_length=-1), "memory_length"),
    (dict(num_heads=2, key_dim=4, attention_dropout=1.5),
     "attention_dropout"),
    (dict(num_heads=2, key_dim=4, clamp_len=0), "clamp_len"),
])
def test_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        MemoryAttention(**kwargs)


def test_config_round_trip_gives_same_outputs():
    layer = make(clamp_len=3, use_bias=True)
    clone = MemoryAttention.from_config(layer.get_config())
    clone.build((None, None, 8))
    clone.set_weights(layer.get_weights())
    x = keras.random.normal((2, 3, 8))
    memory = keras.random.normal((2, 4, 8))
    np.testing.assert_allclose(clone(x, memory), layer(x, memory), atol=0)
