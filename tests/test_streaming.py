"""The math: streaming with memory, causality and the attention window."""

import numpy as np
import pytest
import tensorflow as tf

from keras_lrm import Placement
from tests.helpers import random_ids
from tests.helpers import small_lm
from tests.helpers import stream


@pytest.mark.parametrize("placement,pre_norm", [
    (Placement("all", None, 12, 12), False),
    ([12, 20, 13], False),
    (Placement("interleaved", 1, 16, 12), True),
])
def test_segment_by_segment_equals_one_full_pass(placement, pre_norm):
    model = small_lm(placement, pre_norm=pre_norm)
    ids = random_ids(3, 16)
    full = np.asarray(model(ids))
    streamed, memory = stream(model, ids, 4)
    np.testing.assert_allclose(streamed, full, atol=1e-5, rtol=0)
    assert np.asarray(memory["filled"]).tolist() == [
        min(16, max(model.memory_lengths))] * 3


def test_uneven_pieces_and_single_tokens_match_too():
    model = small_lm(Placement("all", None, 16, 16))
    ids = random_ids(2, 15)
    full = np.asarray(model(ids))
    memory = model.initial_memory(2)
    pieces = []
    for start, stop in [(0, 1), (1, 6), (6, 7), (7, 15)]:
        logits, memory = model.call_with_memory(ids[:, start:stop], memory)
        pieces.append(np.asarray(logits))
    np.testing.assert_allclose(np.concatenate(pieces, 1), full, atol=1e-5)


def test_future_token_never_changes_past_outputs():
    model = small_lm(Placement("last", 1, 8, 4))
    ids = random_ids(1, 16, seed=3)
    base, _ = stream(model, ids, 4)
    for t in [1, 5, 10, 15]:
        changed = ids.copy()
        changed[0, t] = (changed[0, t] + 7) % 40
        out, _ = stream(model, changed, 4)
        np.testing.assert_array_equal(out[:, :t], base[:, :t])
        assert np.abs(out[:, t:] - base[:, t:]).max() > 1e-4


def test_receptive_field_is_segment_plus_layers_times_memory():
    """Segment s reads back to position s*T - L*m exactly (m a multiple of T).

    With memory m in each of L layers, the outputs of segment s depend on
    tokens from s*T - L*m on: a token one step further back changes nothing,
    the token at that position changes them.
    """
    segment, memory_length, layers = 4, 4, 2
    model = small_lm(Placement("all", None, memory_length, memory_length),
                     num_layers=layers, segment_length=segment)
    ids = random_ids(1, 32, seed=5)
    base, _ = stream(model, ids, segment)
    target = 6
    reach = target * segment - layers * memory_length
    outside, inside = ids.copy(), ids.copy()
    outside[0, reach - 1] = (outside[0, reach - 1] + 1) % 40
    inside[0, reach] = (inside[0, reach] + 1) % 40
    window = slice(target * segment, (target + 1) * segment)
    out_outside, _ = stream(model, outside, segment)
    out_inside, _ = stream(model, inside, segment)
    np.testing.assert_array_equal(out_outside[:, window], base[:, window])
    assert np.abs(out_inside[:, window] - base[:, window]).max() > 1e-5


def test_no_gradient_flows_through_memory():
    """Gradients of segment 2 are those with segment 1's memory constant."""
    model = small_lm(Placement("all", None, 8, 8))
    ids = random_ids(2, 9, seed=7)
    first, second, targets = ids[:, :4], ids[:, 4:8], ids[:, 5:9]
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    with tf.GradientTape() as tape:
        _, memory = model.call_with_memory(first, model.initial_memory(2))
        logits, new_memory = model.call_with_memory(second, memory)
        loss = loss_fn(targets, logits)
        total_memory = sum(tf.reduce_sum(m) for k, m in new_memory.items()
                           if k != "filled")
    through, memory_grads = tape.gradient(
        [loss, total_memory], model.trainable_variables), None
    with tf.GradientTape() as tape:
        logits, _ = model.call_with_memory(
            second, {k: tf.constant(v) for k, v in memory.items()})
        loss = loss_fn(targets, logits)
    detached = tape.gradient(loss, model.trainable_variables)
    for a, b in zip(through, detached):
        np.testing.assert_allclose(a, b, atol=1e-6)
    with tf.GradientTape() as tape:
        _, new_memory = model.call_with_memory(first, memory)
        total_memory = sum(tf.reduce_sum(m) for k, m in new_memory.items()
                           if k != "filled")
    memory_grads = tape.gradient(total_memory, model.trainable_variables)
    assert all(g is None for g in memory_grads)
