import keras
import numpy as np
import pytest

from keras_lrm.layers import MemoryBlock


def test_new_memory_is_last_rows_of_memory_and_inputs():
    block = MemoryBlock(num_heads=2, intermediate_dim=16, memory_length=5)
    x = np.asarray(keras.random.normal((2, 3, 8)))
    memory = np.asarray(keras.random.normal((2, 5, 8)))
    _, new_memory = block(x, memory)
    expected = np.concatenate([memory, x], axis=1)[:, -5:]
    np.testing.assert_array_equal(new_memory, expected)
    long_x = np.asarray(keras.random.normal((2, 7, 8)))
    _, new_memory = block(long_x, memory)
    np.testing.assert_array_equal(new_memory, long_x[:, -5:])


def test_zero_memory_length_gives_empty_memory():
    block = MemoryBlock(num_heads=2, intermediate_dim=16)
    y, memory = block(keras.random.normal((2, 3, 8)), None)
    assert y.shape == (2, 3, 8) and memory.shape == (2, 0, 8)


@pytest.mark.parametrize("pre_norm", [False, True])
def test_block_in_users_functional_model_trains(pre_norm):
    """A MemoryBlock composes in a user's own functional Keras model."""
    tokens = keras.Input((6,), dtype="int32")
    memory = keras.Input((4, 16))
    hidden = keras.layers.Embedding(30, 16)(tokens)
    hidden, new_memory = MemoryBlock(
        num_heads=4, intermediate_dim=32, memory_length=4,
        pre_norm=pre_norm)(hidden, memory)
    logits = keras.layers.Dense(30)(hidden)
    model = keras.Model([tokens, memory], [logits, new_memory])
    model.compile(optimizer="adam", loss=[
        keras.losses.SparseCategoricalCrossentropy(from_logits=True), None])
    ids = np.random.default_rng(0).integers(0, 30, (8, 6))
    memories = np.zeros((8, 4, 16), "float32")
    before = model.evaluate([ids, memories], [ids, memories], verbose=0)
    model.fit([ids, memories], [ids, memories], epochs=20, verbose=0)
    after = model.evaluate([ids, memories], [ids, memories], verbose=0)
    assert after < before
    restored = keras.Model.from_config(model.get_config())
    restored.set_weights(model.get_weights())
    np.testing.assert_allclose(restored([ids, memories])[0],
                               model([ids, memories])[0], atol=1e-6)


def test_block_in_users_subclassed_model_carries_memory():
    class TwoSegments(keras.Model):
        def __init__(self):
            super().__init__()
            self.block = MemoryBlock(num_heads=2, intermediate_dim=16,
                                     memory_length=3)

        def call(self, segments):
            first, memory = self.block(segments[:, :3], None)
            second, _ = self.block(segments[:, 3:], memory,
                                   filled=keras.ops.full((2,), 3, "int32"))
            return keras.ops.concatenate([first, second], axis=1)

    model = TwoSegments()
    x = keras.random.normal((2, 6, 8))
    whole, _ = model.block(x, None)
    np.testing.assert_allclose(model(x), whole, atol=1e-5)


def test_width_not_divisible_by_heads_names_the_arguments():
    block = MemoryBlock(num_heads=3, intermediate_dim=8)
    with pytest.raises(ValueError, match="`num_heads`"):
        block(keras.random.normal((1, 2, 8)), None)


def test_config_round_trip():
    block = MemoryBlock(num_heads=2, intermediate_dim=16, memory_length=2,
                        pre_norm=True, activation="gelu", dropout=0.1)
    x = keras.random.normal((2, 3, 8))
    memory = keras.random.normal((2, 2, 8))
    block(x, memory)
    clone = MemoryBlock.from_config(block.get_config())
    clone.build((None, None, 8))
    clone.set_weights(block.get_weights())
    np.testing.assert_allclose(clone(x, memory)[0], block(x, memory)[0],
                               atol=0)


@pytest.mark.parametrize("pre_norm", [False, True])
def test_weight_gradients_with_memory_equal_one_pass(pre_norm):
    """The memory is a constant input, but the weights that act on it still
    learn from it: a loss on the second segment has the same weight
    gradients whether the first segment comes as memory or in one pass.
    With `pre_norm`, the memory rows go through the attention's layer norm
    (Transformer-XL's `pre_lnorm`), so its weights get their share too."""
    import tensorflow as tf

    block = MemoryBlock(num_heads=2, intermediate_dim=16, memory_length=3,
                        pre_norm=pre_norm)
    rng = np.random.default_rng(1)
    first, second = (rng.normal(size=(2, 3, 8)).astype("float32")
                     for _ in range(2))
    block(second, first)
    block.set_weights([rng.normal(0.0, 0.3, w.shape).astype("float32")
                       for w in block.get_weights()])
    weights = rng.normal(size=(2, 3, 8)).astype("float32")

    def gradients(outputs_of_second):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(outputs_of_second() * weights)
        return tape.gradient(loss, block.trainable_variables)

    streamed = gradients(lambda: block(second, first)[0])
    whole = gradients(lambda: block(
        np.concatenate([first, second], axis=1), None)[0][:, 3:])
    names = [v.path for v in block.trainable_variables]
    assert any("attention_norm" in name for name in names)
    for name, got, expected in zip(names, streamed, whole):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5,
                                   err_msg=name)
