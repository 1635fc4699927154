"""Recurrent Memory Transformer memory tokens in `MemoryTransformerLM`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lrm import Placement
from keras_lrm.export import export_saved_model
from keras_lrm.layers.attention_terms import memory_token_layout
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.models.memory_transformer_lm import width_scaled_initializer
from keras_lrm.training.stateful_lm import StatefulLM
from tests.helpers import randomize

NONE = Placement("none", None, 0, 0)


def rmt(tokens=2, placement=NONE, segment_length=4, **kwargs):
    config = dict(vocab_size=40, num_layers=2, d_model=16, num_heads=2,
                  d_ff=32, segment_length=segment_length,
                  placement=placement, num_memory_tokens=tokens)
    config.update(kwargs)
    return randomize(MemoryTransformerLM(**config), seed=1)


def ids(batch=2, segments=3, size=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 40, (batch, segments * size)).astype("int32")


def test_the_layout_follows_the_reference():
    layout = np.asarray(memory_token_layout(1, 2, 1)).astype(int)
    # Keys: one memory row, read, x0, x1, write.
    np.testing.assert_array_equal(layout, [[0, 1, 0, 0, 0],   # read
                                           [1, 1, 1, 0, 0],   # x0
                                           [1, 1, 1, 1, 0],   # x1
                                           [0, 1, 1, 1, 1]])  # write


@pytest.mark.parametrize("tokens", [2, 0])
def test_only_memory_tokens_carry_across_segments(tokens):
    model = rmt(tokens)
    first = ids(segments=2)
    changed = first.copy()
    changed[:, :4] = (changed[:, :4] + 7) % 40
    after = [np.asarray(model.call_segments(x, None)[0])[:, 4:]
             for x in (first, changed)]
    difference = np.abs(after[0] - after[1]).max()
    if tokens:
        assert difference > 1e-6
    else:
        assert difference == 0.0


@pytest.mark.parametrize("placement", [NONE, Placement("last", 1, 8, 4)])
def test_call_segments_equals_segment_by_segment_calls(placement):
    model = rmt(2, placement)
    tokens = ids()
    logits, state = model.call_segments(tokens, model.initial_memory(2))
    memory, pieces = model.initial_memory(2), []
    for start in (0, 4, 8):
        piece, memory = model.call_with_memory(tokens[:, start:start + 4],
                                               memory)
        pieces.append(np.asarray(piece))
    np.testing.assert_allclose(np.asarray(logits),
                               np.concatenate(pieces, axis=1), atol=1e-5)
    for key in state:
        np.testing.assert_allclose(np.asarray(state[key]),
                                   np.asarray(memory[key]), atol=1e-5)
    # The XL memory counts segment tokens only.
    assert list(np.asarray(state["filled"])) == [min(12, 8)] * 2 or \
        placement is NONE


def test_an_empty_state_starts_from_the_learned_tokens():
    model = rmt(3)
    start = np.asarray(model.initial_memory(2)["memory_tokens"])
    assert start.shape == (2, 3, 16)
    rows = np.asarray(model.memory_token_start)
    assert np.abs(rows[0] - rows[1]).max() > 1e-3  # not one row repeated
    tokens = ids(segments=1)
    zeros = model.state_spec().empty(2)
    np.testing.assert_allclose(
        np.asarray(model.call_with_memory(tokens, zeros)[0]),
        np.asarray(model.call_with_memory(tokens,
                                          model.initial_memory(2))[0]),
        atol=1e-6)


@pytest.mark.parametrize("allowed", [None, 3, 1])
def test_gradient_reaches_the_first_segment_only_when_allowed(allowed):
    model = rmt(2, tie_embeddings=False)
    tokens = ids(batch=1, segments=3)
    tokens[:, :4] = [30, 31, 32, 33]  # ids only the first segment reads
    tokens[:, 4:] = tokens[:, 4:] % 20
    table = model.embedding.embeddings
    with tf.GradientTape() as tape:
        logits, _ = model.call_segments(tokens, None,
                                        gradient_segments=allowed)
        loss = tf.reduce_sum(logits[:, 8:] ** 2)
    first = tf.convert_to_tensor(tape.gradient(loss, table)).numpy()[30:34]
    if allowed == 1:
        assert np.abs(first).max() == 0.0
    else:
        assert np.abs(first).max() > 0.0


def test_cache_form_and_exports_carry_the_memory_tokens(tmp_path):
    model = rmt(2, Placement("last", 1, 8, 4))
    tokens = ids(segments=2)
    logits, state = model.call_segments(tokens, model.initial_memory(2))
    cache = model.initial_memory(2, "cache")
    assert "memory_tokens" in cache
    cached, cache = model.call_segments(tokens, cache)
    np.testing.assert_allclose(np.asarray(cached), np.asarray(logits),
                               atol=1e-5)
    path = export_saved_model(model, str(tmp_path / "rmt"))
    loaded = tf.saved_model.load(path)
    exported = loaded.signatures["initial_memory"](batch_size=tf.constant(2))
    assert exported["memory_tokens"].shape == (2, 2, 16)
    for start in (0, 4):
        out = loaded.signatures["step"](
            token_ids=tf.constant(tokens[:, start:start + 4]), **exported)
        np.testing.assert_allclose(out.pop("logits").numpy(),
                                   np.asarray(logits)[:, start:start + 4],
                                   atol=1e-5)
        exported = out


def test_keras_file_round_trip(tmp_path):
    model = rmt(2)
    path = tmp_path / "rmt.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    tokens = ids()
    np.testing.assert_allclose(np.asarray(again.call_segments(tokens,
                                                              None)[0]),
                               np.asarray(model.call_segments(tokens,
                                                              None)[0]),
                               atol=1e-6)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="`num_memory_tokens`"):
        rmt(-1)
    with pytest.raises(ValueError, match="`num_memory_tokens`"):
        rmt(1.5)
    model = rmt(2)
    with pytest.raises(ValueError, match="K \\* segment_length"):
        model.call_segments(ids(segments=1)[:, :3], None)
    with pytest.raises(ValueError, match="`gradient_segments`"):
        model.call_segments(ids(), None, gradient_segments=4)
    with pytest.raises(ValueError, match="`gradient_segments`"):
        model.call_segments(ids(), None, gradient_segments=0)


def test_stateful_training_reads_k_segments_of_signed_windows():
    """`StatefulLM(bptt_segments=K)` reads a `(batch, K*S + 1)` window as
    `call_segments` does; a negative entry `w` is the token `-w - 1`, read
    but not scored; `carry_memory=False` starts every batch empty."""
    from keras_lrm.training import StatefulLM

    lm = rmt(2, Placement("last", 1, 8, 4))
    model = StatefulLM(lm, batch_size=2, bptt_segments=3,
                       carry_memory=False)
    tokens = ids()
    windows = np.concatenate([tokens, tokens[:, :1]], axis=1)
    signed = windows.copy()
    signed[:, :5] = -signed[:, :5] - 1  # read, not scored
    expected, _ = lm.call_segments(tokens, None)
    for batch in (windows, signed):
        for training in (True, False):
            got = model(batch, training=training)
            np.testing.assert_allclose(np.asarray(got),
                                       np.asarray(expected), atol=1e-5)
    # The loss scores only the non-negative targets.
    model.compile(optimizer="sgd")
    full = model.evaluate(windows, verbose=0, return_dict=True)["loss"]
    part = model.evaluate(signed, verbose=0, return_dict=True)["loss"]
    assert abs(full - part) > 1e-4
    with pytest.raises(ValueError, match="`gradient_segments`"):
        StatefulLM(lm, batch_size=2, bptt_segments=2, gradient_segments=3)
    with pytest.raises(ValueError, match="bptt_segments \\* segment_length"):
        model(windows[:, :9], training=True)


def train_copy(tokens, steps=200):
    """A 2-digit copy whose answer is two segments after its digits:
    returns the answer accuracy on unseen examples after `steps`."""
    from keras_lrm.data import synthetic

    task = synthetic.get_task("copy", length=2, num_segments=3,
                              segment_length=3)
    keras.utils.set_random_seed(0)
    lm = MemoryTransformerLM(
        vocab_size=synthetic.VOCAB_SIZE, num_layers=1, d_model=32,
        num_heads=2, d_ff=64, segment_length=3, placement=NONE,
        pre_norm=True, num_memory_tokens=tokens,
        kernel_initializer=width_scaled_initializer(32))
    model = StatefulLM(lm, 64, bptt_segments=3, carry_memory=False)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    data = synthetic.dataset(task, 4096, seed=1, batch_size=64,
                             shuffle=True, repeat=True)
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    test = synthetic.generate(task, 256, seed=2)
    logits = model.predict(test.windows, batch_size=64, verbose=0)
    return synthetic.answer_accuracy(logits, test.windows)[
        "answer_accuracy"]


def test_a_copy_across_three_segments_is_learned_only_with_memory_tokens():
    # Placement "none": no XL memory, so the digits reach the answer two
    # segments later only through the memory tokens (chance: 0.01). With
    # memory tokens, 170 steps already reach an accuracy of 1.0 (150 stay
    # at chance): 200 keep a margin.
    assert train_copy(tokens=4) > 0.9
    assert train_copy(tokens=0) < 0.1
