"""The attention's two seams: a variant written once is used by every path.

`LocalDecayAttention` changes the scores (a per-head decay with distance)
and `CausalPoolAttention` the probabilities (a causal average along each
row). Neither knows the paths: the memory projected, the memory read
through the queries (one-token steps), the key/value cache and an exported
SavedModel must all compute the variant, with equal logits.
"""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_lrm import Placement
from keras_lrm.export import export_saved_model
from keras_lrm.layers import MemoryAttention
from tests.helpers import random_ids
from tests.helpers import small_lm


class LocalDecayAttention(MemoryAttention):
    """Scores minus a per-head slope times the distance (ALiBi-like)."""

    def adjust_scores(self, scores, distance):
        slope = ops.arange(self.num_heads, dtype="float32") * 2.0
        return scores - slope[:, None, None, None] * ops.cast(
            ops.maximum(distance, 0), "float32")


class CausalPoolAttention(MemoryAttention):
    """Each probability averaged with the one before it in its row, then
    re-masked and renormalised (no weight moves onto a hidden key)."""

    def adjust_probabilities(self, probs, mask):
        before = ops.pad(probs[..., :-1], [(0, 0)] * 3 + [(1, 0)])
        pooled = (probs + before) * ops.cast(mask, probs.dtype)[None]
        return pooled / ops.sum(pooled, axis=-1, keepdims=True)


def _with_attention(model, cls):
    """The model with every attention layer of class `cls` (same weights):
    how a test plugs a variant into a built model."""
    for block in model.stack.blocks:
        block.attention.__class__ = cls
    return model


def _stream(model, ids, memory, step):
    """Logits of `ids` read `step` tokens at a time from `memory`."""
    logits = []
    for start in range(0, ids.shape[1], step):
        out, memory = model.call_with_memory(ids[:, start:start + step],
                                             memory)
        logits.append(np.asarray(out))
    return np.concatenate(logits, axis=1)


def _saved_model_stream(loaded, ids, signature, init, step):
    state = loaded.signatures[init](batch_size=tf.constant(ids.shape[0]))
    logits = []
    for start in range(0, ids.shape[1], step):
        out = loaded.signatures[signature](
            token_ids=tf.constant(ids[:, start:start + step]), **state)
        logits.append(out.pop("logits").numpy())
        state = out
    return np.concatenate(logits, axis=1)


@pytest.mark.parametrize("variant", [LocalDecayAttention,
                                     CausalPoolAttention])
def test_a_variant_is_computed_by_every_path_and_the_export(tmp_path,
                                                            variant):
    # Memories that hold the whole stream, so that every way of reading
    # it sees the same keys.
    lengths = [16, 24, 16]
    plain = small_lm(lengths, segment_length=4)
    model = _with_attention(small_lm(lengths, segment_length=4), variant)
    ids = random_ids(2, 16)
    # Segments of 4 project the memory; one-token steps read it through
    # the queries; the cache form reads projected rows.
    by_segments = _stream(model, ids, model.initial_memory(2), 4)
    by_tokens = _stream(model, ids, model.initial_memory(2), 1)
    by_cache = _stream(model, ids, model.initial_memory(2, "cache"), 1)
    np.testing.assert_allclose(by_tokens, by_segments, atol=2e-5)
    np.testing.assert_allclose(by_cache, by_segments, atol=2e-5)
    # The variant is not the plain attention.
    assert np.abs(by_segments - _stream(plain, ids, plain.initial_memory(2),
                                        4)).max() > 1e-3

    path = export_saved_model(model, str(tmp_path / "variant"))
    loaded = tf.saved_model.load(path)
    np.testing.assert_allclose(
        _saved_model_stream(loaded, ids, "step", "initial_memory", 4),
        by_segments, atol=2e-5)
    np.testing.assert_allclose(
        _saved_model_stream(loaded, ids, "step_cached", "initial_cache", 1),
        by_segments, atol=2e-5)


def test_a_variant_keeps_the_future_out():
    model = _with_attention(small_lm(Placement("all", None, 8, 8)),
                            CausalPoolAttention)
    ids = random_ids(1, 8)
    changed = np.array(ids)
    changed[:, 5:] = (changed[:, 5:] + 1) % 40
    first = np.asarray(model(ids))
    second = np.asarray(model(changed))
    np.testing.assert_allclose(first[:, :5], second[:, :5], atol=1e-6)
    assert np.abs(first[:, 5:] - second[:, 5:]).max() > 1e-3


def test_the_fused_kernel_refuses_a_variant_by_name():
    with pytest.raises(ValueError, match="`flash_attention` cannot be True "
                                         ".*LocalDecayAttention"):
        LocalDecayAttention(num_heads=2, key_dim=4, flash_attention=True)


def test_the_score_seam_sees_distances_across_the_memory_boundary():
    seen = []

    class Recording(MemoryAttention):
        def adjust_scores(self, scores, distance):
            seen.append(np.asarray(distance))
            return scores

    layer = Recording(num_heads=1, key_dim=4, memory_length=3)
    layer(ops.zeros((1, 2, 8)), ops.zeros((1, 3, 8)))
    # Query i (at position 3 + i) against key j: 3 + i - j.
    np.testing.assert_array_equal(seen[-1], [[3, 2, 1, 0, -1],
                                             [4, 3, 2, 1, 0]])


def test_an_override_of_the_old_seam_is_refused_not_ignored():
    class Old(MemoryAttention):
        def attention_scores(self, query, keys, position, mask):
            raise AssertionError("never called")

    with pytest.raises(TypeError, match="adjust_scores"):
        Old(num_heads=2, key_dim=4)
