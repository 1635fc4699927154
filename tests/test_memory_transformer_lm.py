import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lrm import Placement
from keras_lrm.layers import MemoryStack
from keras_lrm.models import MemoryTransformerLM
from tests.helpers import random_ids
from tests.helpers import small_lm
from tests.helpers import stream


def test_initial_memory_is_empty_with_per_layer_shapes():
    model = small_lm(Placement("last", 1, 10, 3))
    memory = model.initial_memory(5)
    assert sorted(memory) == ["filled", "memory_0", "memory_1", "memory_2"]
    assert [tuple(memory[f"memory_{i}"].shape) for i in range(3)] == [
        (5, 3, 16), (5, 3, 16), (5, 10, 16)]
    assert np.asarray(memory["filled"]).tolist() == [0] * 5
    assert model.memory_lengths == [3, 3, 10]


def test_summary_gives_every_layer_a_shape():
    model = small_lm(Placement("last", 1, 10, 3))
    model(random_ids(2, 4))
    lines = []
    model.summary(print_fn=lines.append)
    table = "\n".join(lines)
    assert "output_dropout (Dropout)" in table
    assert " ? " not in table, table


def test_longer_evaluation_memory_without_retraining():
    trained = small_lm(Placement("last", 1, 4, 4))
    longer = trained.with_memory_lengths(
        trained.placement.with_lengths(long_length=12, short_length=12))
    assert longer.memory_lengths == [12, 12, 12]
    ids = random_ids(2, 16)
    # Same weights: from an empty memory the first segment is identical, and
    # with memories covering the whole stream it equals one full pass.
    np.testing.assert_allclose(longer(ids[:, :4]), trained(ids[:, :4]),
                               atol=1e-6)
    streamed, _ = stream(longer, ids, 4)
    np.testing.assert_allclose(streamed, trained(ids), atol=1e-5)
    short, _ = stream(trained, ids, 4)
    assert np.abs(short[:, 8:] - streamed[:, 8:]).max() > 1e-4


@pytest.mark.parametrize("placement", [Placement("middle", 2, 8, 4),
                                       [4, 0, 8]])
def test_keras_file_round_trip_gives_identical_outputs(tmp_path, placement):
    model = small_lm(placement, pre_norm=True, tie_embeddings=False,
                     clamp_len=6, dropout=0.1)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.get_config() == model.get_config()
    ids = random_ids(2, 12)
    np.testing.assert_array_equal(stream(restored, ids, 4)[0],
                                  stream(model, ids, 4)[0])
    clone = MemoryTransformerLM.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone(ids), model(ids))


def test_token_ids_out_of_range_name_token_ids():
    model = small_lm()
    memory = model.initial_memory(1)
    with pytest.raises(ValueError, match="`token_ids` must lie in"):
        model.call_with_memory(np.array([[1, 40]], "int32"), memory)
    with pytest.raises(ValueError, match="`token_ids` must lie in"):
        model(np.array([[-1, 2]], "int32"))

    @tf.function
    def graph_call(ids):
        return model.call_with_memory(ids, memory)[0]

    with pytest.raises(tf.errors.InvalidArgumentError, match="token_ids"):
        graph_call(tf.constant([[3, 99]], "int32"))
    with pytest.raises(ValueError, match="`token_ids` must be integer"):
        model(np.array([[1.0, 2.0]], "float32"))
    with pytest.raises(ValueError, match="`token_ids` must have shape"):
        model(np.array([1, 2], "int32"))


def test_memory_that_does_not_fit_names_the_entry():
    model = small_lm(Placement("last", 1, 10, 3))
    memory = model.initial_memory(2)
    ids = random_ids(2, 4)
    bad = dict(memory, memory_1=tf.zeros((2, 10, 16)))
    with pytest.raises(ValueError, match="memory\\['memory_1'\\].*3, 16"):
        model.call_with_memory(ids, bad)
    bad = dict(memory, memory_0=tf.zeros((3, 3, 16)))
    with pytest.raises(ValueError, match="memory\\['memory_0'\\]"):
        model.call_with_memory(ids, bad)
    with pytest.raises(ValueError, match="must have the keys"):
        model.call_with_memory(ids, {"memory_0": memory["memory_0"]})


@pytest.mark.parametrize("kwargs,argument", [
    (dict(d_model=18, num_heads=4), "d_model"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(dropout=1.0), "dropout"),
    (dict(memory_lengths=[4, 4]), "memory_lengths"),
    (dict(placement="last"), "placement"),
    (dict(placement=Placement("last", 5, 8, 4)), "num_long"),
    (dict(layer_norm_epsilon=-1.0), "layer_norm_epsilon"),
    (dict(layer_norm_epsilon=0), "layer_norm_epsilon"),
    (dict(attention_dropout=-0.1), "attention_dropout"),
    (dict(pre_norm="yes"), "pre_norm"),
])
def test_bad_config_names_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        small_lm(**kwargs)


def test_numpy_numbers_are_accepted_and_stored_as_python_numbers():
    """Sizes from NumPy (a sweep's `np.arange`, a config read with it)
    work, and the config stays plain JSON for `.keras` files."""
    import json

    model = small_lm(
        vocab_size=np.int64(40), num_layers=np.int32(2),
        d_model=np.int64(16), dropout=np.float32(0.1),
        placement=Placement(list(np.array([1])), np.int64(1), np.int64(12),
                            np.int64(4)))
    config = model.get_config()
    json.dumps(config)
    assert type(config["vocab_size"]) is int
    assert type(config["dropout"]) is float
    assert model.memory_lengths == [4, 12]
    assert all(type(n) is int for n in model.memory_lengths)
    listed = small_lm(num_layers=2, placement=list(np.array([3, 5])))
    assert listed.memory_lengths == [3, 5]
    json.dumps(listed.get_config())


def test_mixed_bfloat16_runs_and_keeps_float32_logits():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    model = small_lm(Placement("last", 1, 8, 4))
    memory = model.initial_memory(2)
    assert memory["memory_0"].dtype == "bfloat16"
    ids = random_ids(2, 4)
    logits, memory = model.call_with_memory(ids, memory)
    logits, memory = model.call_with_memory(ids, memory)
    assert logits.dtype == "float32"
    assert np.isfinite(np.asarray(logits)).all()
    model.compile(optimizer="adam", loss=keras.losses.
                  SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ids, ids, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_jit_train_step_has_fully_static_shapes():
    """For TPU: no bounded-dynamic (`<=`) dimensions in the compiled HLO."""
    model = small_lm(Placement("interleaved", 1, 8, 4), dropout=0.1)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(ids, targets, memory):
        with tf.GradientTape() as tape:
            logits, memory = model.call_with_memory(ids, memory,
                                                    training=True)
            loss = loss_fn(targets, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, memory

    compiled = tf.function(step, jit_compile=True)
    ids = tf.constant(random_ids(2, 4))
    memory = model.initial_memory(2)
    hlo = compiled.experimental_get_compiler_ir(ids, ids, memory)(
        stage="hlo")
    assert "ENTRY" in hlo
    assert "<=" not in hlo
    first, memory = compiled(ids, ids, memory)
    second, _ = compiled(ids, ids, memory)
    assert np.isfinite([float(first), float(second)]).all()


def test_symbolic_calls_check_state_and_give_its_dtypes():
    """`keras.Input`s get the checks and the dtypes of a real call:
    `filled` int32, logits float32 under a mixed policy."""
    stack = MemoryStack(2, num_heads=2, intermediate_dim=8,
                        memory_lengths=[4, 8])
    x = keras.Input((None, 16))
    state = {"memory_0": keras.Input((4, 16)),
             "memory_1": keras.Input((8, 16)),
             "filled": keras.Input((), dtype="int32")}
    y, new_state = stack(x, state)
    assert y.shape == (None, None, 16) and y.dtype == "float32"
    assert new_state["filled"].dtype == "int32"
    assert new_state["memory_1"].shape == (None, 8, 16)
    eager = stack(np.zeros((2, 3, 16), "float32"),
                  stack.initial_memory(2))[1]
    assert {k: str(v.dtype) for k, v in new_state.items()} == \
        {k: keras.backend.standardize_dtype(v.dtype)
         for k, v in eager.items()}
    with pytest.raises(ValueError, match="must have the keys"):
        stack(x, {"memory_0": state["memory_0"]})
    with pytest.raises(ValueError, match="memory\\['memory_1'\\]"):
        stack(x, {**state, "memory_1": keras.Input((5, 16))})
    model = small_lm(dtype="mixed_bfloat16")
    logits = model(keras.Input((None,), dtype="int32"))
    assert logits.dtype == "float32"
    assert model(random_ids(1, 3)).dtype == "float32"


def test_stack_alone_with_explicit_lengths():
    stack = MemoryStack(3, num_heads=2, intermediate_dim=8,
                        memory_lengths=[0, 5, 2])
    x = keras.random.normal((2, 4, 8))
    y, memory = stack(x, stack.initial_memory(2, dim=8))
    assert y.shape == (2, 4, 8)
    assert [memory[f"memory_{i}"].shape[1] for i in range(3)] == [0, 5, 2]
    assert np.asarray(memory["filled"]).tolist() == [4, 4]
    restored = MemoryStack.from_config(stack.get_config())
    assert restored.memory_lengths == [0, 5, 2]
