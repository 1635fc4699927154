"""The key/value cache: the memory state's results, without re-projection."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_lrm import Placement
from keras_lrm.layers import MemoryAttention
from keras_lrm.layers.attention_terms import cheaper_from_queries
from tests.helpers import random_ids
from tests.helpers import small_lm

PLACEMENTS = {
    "all": Placement("all", None, 12, 12),
    # Layer 1 has no memory at all; layer 2 less than a segment.
    "lengths": [12, 0, 3],
}


def run(model, ids, pieces, cached, step=None):
    """Logits of `ids` fed in `pieces` on a memory state or a cache."""
    state = model.initial_cache(ids.shape[0]) if cached \
        else model.initial_memory(ids.shape[0])
    call = step or (model.call_with_cache if cached
                    else model.call_with_memory)
    logits = []
    for start, stop in zip(pieces[:-1], pieces[1:]):
        out, state = call(ids[:, start:stop], state)
        logits.append(np.asarray(out))
    return np.concatenate(logits, axis=1), state


@pytest.mark.parametrize("pre_norm", [False, True])
@pytest.mark.parametrize("placement", PLACEMENTS.values(),
                         ids=PLACEMENTS.keys())
def test_cache_gives_the_logits_of_the_memory_state(placement, pre_norm):
    model = small_lm(placement, pre_norm=pre_norm)
    ids = random_ids(2, 30, seed=3)
    # Segments, single tokens, and segments longer than a memory.
    pieces = [0, 4, 5, 6, 11, 12, 30]
    with_memory, _ = run(model, ids, pieces, cached=False)
    with_cache, cache = run(model, ids, pieces, cached=True)
    np.testing.assert_allclose(with_cache, with_memory, atol=2e-5)
    np.testing.assert_array_equal(np.asarray(cache["filled"]), [12, 12])
    for index, length in enumerate(model.memory_lengths):
        for name in (f"keys_{index}", f"values_{index}"):
            assert tuple(cache[name].shape) == (2, 2, length, 8)


def test_one_token_steps_of_a_layer_without_memory_warn_nothing():
    """Layer 1 keeps no memory: a single token attends to itself alone,
    a softmax over one key, whose probability is exactly 1."""
    model = small_lm(PLACEMENTS["lengths"])
    ids = random_ids(2, 3, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_cache, _ = run(model, ids, [0, 1, 2, 3], cached=True)
        with_memory, _ = run(model, ids, [0, 1, 2, 3], cached=False)
    np.testing.assert_allclose(with_cache, with_memory, atol=2e-5)


def test_tokens_one_by_one_equal_one_pass_of_everything():
    # Memory as long as the text: every token sees all the tokens before.
    model = small_lm(Placement("all", None, 20, 20))
    ids = random_ids(3, 20, seed=5)
    whole = np.asarray(model(ids))
    step = tf.function(model.call_with_cache, jit_compile=True)
    one_by_one, _ = run(model, ids, list(range(21)), cached=True, step=step)
    np.testing.assert_allclose(one_by_one, whole, atol=2e-5)
    # The single-token steps took the position product from the queries,
    # the whole pass from the table: both ways agree.
    assert cheaper_from_queries(1, 20 + 1 + 1, 16, 8)
    assert not cheaper_from_queries(20, 20 + 1, 16, 8)


def test_cache_holds_the_projected_memory():
    layer = MemoryAttention(num_heads=2, key_dim=4, memory_length=5)
    inputs = keras.random.normal((2, 3, 8), seed=1)
    memory = keras.random.normal((2, 5, 8), seed=2)
    layer(inputs, memory)
    _, (keys, values) = layer.call_with_cache(memory, layer.initial_cache(2))
    expected = np.asarray(layer.key_dense(memory)).reshape(2, 5, 2, 4)
    np.testing.assert_allclose(np.asarray(keys),
                               expected.transpose(0, 2, 1, 3), atol=1e-6)
    # A later call with that cache attends as one with the memory does.
    filled = ops.array([5, 2])
    out, (keys, _) = layer.call_with_cache(inputs, (keys, values),
                                           filled=filled)
    np.testing.assert_allclose(
        np.asarray(out), np.asarray(layer(inputs, memory, filled=filled)),
        atol=1e-5)
    assert tuple(keys.shape) == (2, 2, 5, 4)


class DecayedAttention(MemoryAttention):
    """Scores minus a per-head distance penalty (a locality variant)."""

    def adjust_scores(self, scores, distance):
        slope = ops.arange(1, self.num_heads + 1, dtype="float32") * 0.3
        return scores - slope[:, None, None, None] * ops.cast(
            ops.abs(distance), "float32")


def test_a_subclass_that_changes_the_scores_keeps_them_on_the_cache():
    plain = MemoryAttention(num_heads=2, key_dim=4, memory_length=6)
    decayed = DecayedAttention(num_heads=2, key_dim=4, memory_length=6)
    inputs = keras.random.normal((2, 3, 8), seed=3)
    memory = keras.random.normal((2, 6, 8), seed=4)
    plain(inputs, memory)
    decayed(inputs, memory)
    decayed.set_weights(plain.get_weights())
    _, cache = decayed.call_with_cache(memory, decayed.initial_cache(2))
    by_cache, _ = decayed.call_with_cache(inputs, cache)
    by_memory = decayed(inputs, memory)
    np.testing.assert_allclose(np.asarray(by_cache), np.asarray(by_memory),
                               atol=1e-5)
    assert np.abs(np.asarray(by_cache) - np.asarray(
        plain(inputs, memory))).max() > 1e-3


def test_bad_caches_name_what_is_wrong():
    model = small_lm(Placement("all", None, 12, 12))
    ids = random_ids(2, 4)
    cache = model.initial_cache(2)
    with pytest.raises(ValueError, match=r"`cache\['keys_1'\]` must have "
                                         r"shape \(2, 2, 12, 8\)"):
        model.call_with_cache(ids, dict(cache, keys_1=ops.zeros((2, 12,
                                                                 2, 8))))
    with pytest.raises(ValueError, match="`cache` must have the keys"):
        model.call_with_cache(ids, model.initial_memory(2))
    with pytest.raises(ValueError, match="`cache` must be a dict"):
        model.call_with_cache(ids, None)
    with pytest.raises(ValueError, match="not both"):
        model.stack(ops.zeros((2, 4, 16)), model.initial_memory(2),
                    cache=cache)
    layer = MemoryAttention(num_heads=2, key_dim=4, memory_length=3)
    inputs = ops.zeros((1, 2, 8))
    layer(inputs)
    with pytest.raises(ValueError, match=r"must be a \(keys, values\) pair"):
        layer.call_with_cache(inputs, ops.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"`cache` values .* must have "
                                         r"shape \(batch, 2, 3, 4\)"):
        layer.call_with_cache(inputs, (ops.zeros((1, 2, 3, 4)),
                                       ops.zeros((1, 3, 2, 4))))
    block = model.stack.blocks[0]
    with pytest.raises(ValueError, match="`memory` or `cache`"):
        block(ops.zeros((2, 4, 16)), ops.zeros((2, 12, 16)),
              cache=block.initial_cache(2))


def test_mixed_bfloat16_cache_keeps_the_compute_dtype():
    model = small_lm(Placement("last", 1, 12, 4), dtype="mixed_bfloat16")
    ids = random_ids(2, 10, seed=8)
    pieces = [0, 4, 5, 10]
    with_memory, _ = run(model, ids, pieces, cached=False)
    with_cache, cache = run(model, ids, pieces, cached=True)
    assert cache["keys_2"].dtype == "bfloat16"
    assert with_cache.dtype == np.float32
    # bfloat16 rounds the two orders of work differently.
    np.testing.assert_allclose(with_cache, with_memory, atol=0.02)
    assert np.abs(with_cache - with_memory).mean() < 1e-3
