"""LaS attention (locality and smoothness) in `MemoryAttention`."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_lrm.export import export_saved_model
from keras_lrm.layers import MemoryAttention
from keras_lrm.layers import las
from keras_lrm.layers.attention_terms import attention_mask
from tests.helpers import random_ids
from tests.helpers import small_lm

FORMS = [(form, order) for form in las.DECAY_FORMS
         for order in las.POOL_ORDERS]


class Recorded(MemoryAttention):
    """The plain attention, keeping the scaled scores the seam sees."""

    def adjust_scores(self, scores, distance):
        self.seen = (np.asarray(scores), np.asarray(distance))
        return scores


def _naive(scores, distance, mask, values, decays, form, size, order):
    """LaS per (head, row, query, key) with Python loops, from the plain
    layer's scaled scores `(H, B, T, K)` and values `(B, K, H, d)`."""
    heads, batch, rows, keys = scores.shape
    out = np.zeros((batch, rows, heads, values.shape[-1]))
    for h in range(heads):
        for b in range(batch):
            for i in range(rows):
                visible = mask[min(b, mask.shape[0] - 1), i]
                row = np.empty(keys)
                for j in range(keys):
                    far = max(distance[i, j], 0)
                    s = scores[h, b, i, j]
                    row[j] = s * np.exp(-decays[h] * far) \
                        if form == "multiplicative" else s - decays[h] * far
                if order == "before_softmax":
                    pooled = np.empty(keys)
                    for j in range(keys):
                        window = [row[k] for k in range(j, min(j + size,
                                                               keys))
                                  if distance[i, k] >= 0]
                        pooled[j] = sum(window) / max(len(window), 1)
                    row = pooled
                weights = np.where(visible, np.exp(row - row[visible].max()),
                                   0.0)
                weights /= weights.sum()
                if order == "after_softmax":
                    pooled = np.array([
                        weights[j:j + size].sum() / size if visible[j]
                        else 0.0 for j in range(keys)])
                    weights = pooled / pooled.sum()
                out[b, i, h] = weights @ values[b, :, h]
    return out


@pytest.mark.parametrize("form,order", FORMS)
def test_the_layer_equals_a_naive_reference_with_memory(form, order):
    heads, depth, rows, memory_rows, size = 3, 4, 5, 6, 3
    layer = MemoryAttention(num_heads=heads, key_dim=depth,
                            memory_length=memory_rows, decay_max=0.8,
                            pool_size=size, decay_form=form,
                            pool_order=order)
    plain = Recorded(num_heads=heads, key_dim=depth,
                     memory_length=memory_rows)
    x = keras.random.normal((2, rows, 8), seed=1)
    memory = keras.random.normal((2, memory_rows, 8), seed=2)
    filled = np.array([6, 2], "int32")
    layer(x, memory, filled=filled)
    plain(x, memory, filled=filled)
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32")
               for w in layer.get_weights()]
    layer.set_weights(weights)
    plain.set_weights(weights)
    got = np.asarray(layer(x, memory, filled=filled))
    plain(x, memory, filled=filled)
    scores, distance = plain.seen
    mask = np.asarray(attention_mask(rows, memory_rows, filled))
    joined = np.concatenate([np.asarray(memory), np.asarray(x)], axis=1)
    values = (joined @ np.asarray(plain.value_dense.kernel)).reshape(
        2, memory_rows + rows, heads, depth)
    attended = _naive(scores, distance, mask, values,
                      las.head_decays(heads, 0.8), form, size, order)
    expected = attended.reshape(2, rows, heads * depth) @ np.asarray(
        plain.output_dense.kernel)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("form", las.DECAY_FORMS)
def test_with_a_constant_score_the_weight_falls_with_distance(form):
    heads, keys = 4, 9
    scores = ops.ones((heads, 1, 1, keys))
    distance = ops.convert_to_tensor(
        np.arange(keys - 1, -1, -1)[None].astype("int32"))
    decayed = las.decay_scores(scores, distance, las.head_decays(heads, 0.5),
                               form)
    probs = np.asarray(ops.softmax(decayed, axis=-1))[:, 0, 0]
    np.testing.assert_allclose(probs[0], np.full(keys, 1 / keys), rtol=1e-6)
    for head in range(1, heads):
        # Keys run from the farthest (j = 0) to the query itself.
        assert np.all(np.diff(probs[head]) > 0), (head, probs[head])
    alphas = las.head_decays(heads, 0.5)
    assert alphas[0] == 0.0 and alphas[-1] == 0.5
    assert all(a < b for a, b in zip(alphas[1:], alphas[2:]))


def _lm(**las_kwargs):
    return small_lm([12, 12, 12], segment_length=4, **las_kwargs)


@pytest.mark.parametrize("form,order", FORMS)
def test_las_is_causal_within_a_segment_and_across_the_memory(form, order):
    model = _lm(decay_max=0.5, pool_size=3, decay_form=form,
                pool_order=order)
    ids = random_ids(1, 12)
    changed = np.array(ids)
    changed[0, 6] = (changed[0, 6] + 1) % 40

    def stream(tokens):
        memory, logits = model.initial_memory(1), []
        for start in (0, 4, 8):
            out, memory = model.call_with_memory(tokens[:, start:start + 4],
                                                 memory)
            logits.append(np.asarray(out))
        return np.concatenate(logits, axis=1)

    before, after = stream(ids), stream(changed)
    np.testing.assert_array_equal(before[:, :6], after[:, :6])
    assert np.abs(before[:, 6:] - after[:, 6:]).max() > 1e-4


def test_no_new_weights_and_the_off_layers_are_the_plain_ones_bit_for_bit():
    plain = _lm()
    mixed = _lm(decay_max=[None, 0.5, None], pool_size=[1, 3, 1])
    assert len(mixed.trainable_weights) == len(plain.trainable_weights)
    mixed.set_weights(plain.get_weights())
    x = keras.random.normal((2, 4, 16), seed=3)
    memory = keras.random.normal((2, 12, 16), seed=4)
    for index in (0, 2):
        got = mixed.stack.blocks[index](x, memory)[0]
        want = plain.stack.blocks[index](x, memory)[0]
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert np.abs(np.asarray(mixed.stack.blocks[1](x, memory)[0]) -
                  np.asarray(plain.stack.blocks[1](x, memory)[0])).max() > 0


@pytest.mark.parametrize("form", las.DECAY_FORMS)
def test_streaming_equals_a_full_pass_with_las(form):
    """Segment by segment on the memory states (training's form) and on
    the key/value cache (evaluation's), the logits of one full pass."""
    model = _lm(decay_max=0.5, pool_size=2, decay_form=form)
    ids = random_ids(2, 12)
    full = np.asarray(model(ids))
    for state_form in ("memory", "cache"):
        state, logits = model.state_spec(state_form).empty(2), []
        for start in (0, 4, 8):
            out, state = model.call_with_memory(ids[:, start:start + 4],
                                                state)
            logits.append(np.asarray(out))
        np.testing.assert_allclose(np.concatenate(logits, axis=1), full,
                                   atol=2e-5, err_msg=state_form)


def test_las_survives_keras_files_and_exports(tmp_path):
    model = _lm(decay_max=[0.3, 0.6, None], pool_size=2,
                decay_form="additive")
    path = tmp_path / "las.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert again.get_config()["decay_max"] == [0.3, 0.6, None]
    ids = random_ids(2, 4)
    np.testing.assert_allclose(np.asarray(again(ids)), np.asarray(model(ids)),
                               atol=1e-6)
    exported = export_saved_model(model, str(tmp_path / "export"))
    loaded = tf.saved_model.load(exported)
    state = loaded.signatures["initial_memory"](batch_size=tf.constant(2))
    out = loaded.signatures["step"](token_ids=tf.constant(ids), **state)
    np.testing.assert_allclose(out["logits"].numpy(),
                               np.asarray(model(ids)), atol=1e-5)


def test_the_fused_kernel_is_refused_with_las():
    with pytest.raises(ValueError, match="LaS"):
        MemoryAttention(num_heads=2, key_dim=8, pool_size=2,
                        flash_attention=True)


class _ByProbabilities(MemoryAttention):
    """LaS' pool on the probabilities themselves (a variant of the seam
    that calls the default), never on the pooled values."""

    def adjust_probabilities(self, probs, mask):
        return super().adjust_probabilities(probs, mask)


def test_the_pool_on_values_equals_the_pool_on_probabilities():
    """Training segments pool LaS' values (`las.pooled_values`); outputs
    and gradients equal those of pooling the probabilities."""
    kwargs = dict(num_heads=2, key_dim=4, memory_length=6, decay_max=0.5,
                  pool_size=3)
    fast, slow = MemoryAttention(**kwargs), _ByProbabilities(**kwargs)
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 8, 8)),
                    "float32")
    memory = keras.random.normal((2, 6, 8), seed=5)
    filled = np.array([6, 3], "int32")
    for layer in (fast, slow):
        layer(x, memory, filled=filled)
    slow.set_weights(fast.get_weights())
    results = []
    for layer in (fast, slow):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, memory, filled=filled)
            loss = tf.reduce_sum(out * tf.cos(out))
        grads = tape.gradient(loss, [x] + layer.trainable_weights)
        results.append([out] + grads)
    for a, b in zip(*results):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4,
                                   atol=1e-5)
