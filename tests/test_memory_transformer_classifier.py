"""MemoryTransformerClassifier: pooling and padding, segments with memory
equal one pass, configs and `.keras` files, training and mixed
precision."""

import os

import keras
import numpy as np
import pytest

from keras_lrm import Placement
from keras_lrm.data import listops
from keras_lrm.models import MemoryTransformerClassifier


def classifier(**overrides):
    config = dict(vocab_size=18, num_classes=10, num_layers=2, d_model=16,
                  num_heads=2, d_ff=32, segment_length=24)
    config.update(overrides)
    return MemoryTransformerClassifier(**config)


def like(model, **changes):
    """A model of `model`'s config with `changes`, and its weights."""
    config = model.get_config()
    config.update(changes)
    other = MemoryTransformerClassifier.from_config(config)
    other.set_weights(model.get_weights())
    return other


def ids_with_padding(lengths, width, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, 18, (len(lengths), width)).astype("int32")
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    return ids


def test_logits_for_ids_and_for_a_dict_with_a_mask():
    model = classifier()
    ids = ids_with_padding([20, 13, 24], 24)
    logits = model(ids)
    assert logits.shape == (3, 10) and logits.dtype == "float32"
    # Without a mask, the pad id 0 marks the padding.
    np.testing.assert_allclose(
        model({"token_ids": ids, "padding_mask": ids != 0}), logits,
        atol=1e-6)
    assert model.compute_output_shape((3, 24)) == (3, 10)


@pytest.mark.parametrize("pooling", ["mean", "last"])
@pytest.mark.parametrize("segment_length", [24, 5])
def test_padding_changes_nothing(pooling, segment_length):
    model = classifier(pooling=pooling, segment_length=segment_length,
                       memory_lengths=[5, 10])
    ids = ids_with_padding([17, 9], 17)
    short = model(ids)
    # More padding (more segments), and garbage under the mask.
    longer = np.concatenate([ids, np.zeros((2, 13), "int32")], axis=1)
    garbage = np.where(longer == 0, 5, longer).astype("int32")
    mask = longer != 0
    np.testing.assert_allclose(
        model({"token_ids": garbage, "padding_mask": mask}), short,
        atol=1e-5)
    # A real token where the mask is on does change the logits.
    changed = mask.copy()
    changed[1, 12] = True
    assert np.abs(np.asarray(model({"token_ids": garbage,
                                    "padding_mask": changed}))
                  - np.asarray(short)).max() > 1e-5


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_segments_with_covering_memory_equal_one_pass(pooling):
    whole = classifier(pooling=pooling, segment_length=24,
                       placement=Placement("last", 1, 24, 21),
                       pre_norm=True)
    ids = ids_with_padding([24, 19], 24)
    expected = np.asarray(whole(ids))
    # 3 segments of 8: the memories hold all 16 earlier tokens.
    segmented = like(whole, segment_length=8)
    np.testing.assert_allclose(segmented(ids), expected, atol=1e-5)
    # Segments of 7, the last one shorter (3 tokens after 21).
    np.testing.assert_allclose(like(whole, segment_length=7)(ids),
                               expected, atol=1e-5)
    # A memory too short to cover the sequence reads less of it.
    short = like(whole, segment_length=8, placement=None,
                 memory_lengths=[4, 4])
    assert np.abs(np.asarray(short(ids)) - expected).max() > 1e-5


def test_last_pooling_reads_the_last_real_position():
    model = classifier(pooling="last", segment_length=6,
                       memory_lengths=[12, 12])
    ids = ids_with_padding([15], 18)
    pooled = model.pooled(ids)
    # The same as pooling the unpadded sequence's last state, which has
    # read every token: a change to the first token reaches it.
    np.testing.assert_allclose(pooled, model.pooled(ids[:, :15]),
                               atol=1e-5)
    first = ids.copy()
    first[0, 0] = 3 if ids[0, 0] != 3 else 4
    assert np.abs(np.asarray(model.pooled(first))
                  - np.asarray(pooled)).max() > 1e-5


def test_config_and_keras_file_round_trip(tmp_path):
    model = classifier(segment_length=8, placement=Placement("first", 1,
                                                             16, 8),
                       pooling="last", dropout=0.1, pre_norm=True,
                       clamp_len=12, name="listops")
    config = model.get_config()
    assert MemoryTransformerClassifier.from_config(config).get_config() \
        == config
    path = os.path.join(tmp_path, "classifier.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, MemoryTransformerClassifier)
    assert restored.get_config() == config
    assert restored.memory_lengths == [16, 8]
    ids = ids_with_padding([20, 11], 20)
    np.testing.assert_allclose(restored(ids), model(ids), atol=1e-6)


def test_without_placement_no_layer_keeps_a_memory():
    model = classifier(segment_length=4)
    assert model.memory_lengths == [0, 0]
    ids = ids_with_padding([8], 8)
    # Each segment reads itself alone: the second half decides alone.
    assert model(ids).shape == (1, 10)
    config = model.get_config()
    assert config["placement"] is None
    assert config["memory_lengths"] == [0, 0]


def test_fit_on_listops_lowers_the_loss_under_xla():
    expressions, labels = listops.generate(32, seed=0, min_length=5,
                                           max_length=30)
    data = listops.dataset(expressions, labels, batch_size=16,
                           max_length=32, append_eos=True)
    model = classifier(segment_length=16, memory_lengths=[16, 16],
                       d_model=32, d_ff=64)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True), jit_compile=True)
    history = model.fit(data.repeat(), steps_per_epoch=6, epochs=3,
                        shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] - 0.05, losses
    assert np.isfinite(losses).all()


def test_mixed_bfloat16_runs_and_keeps_float32_logits():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    model = classifier(segment_length=8, memory_lengths=[8, 8])
    ids = ids_with_padding([20, 5], 20)
    logits = model(ids)
    assert logits.dtype == "float32"
    assert model.stack.compute_dtype == "bfloat16"
    assert np.isfinite(np.asarray(logits)).all()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    loss = model.train_on_batch(ids, np.array([1, 2]))
    assert np.isfinite(loss)


def test_las_reaches_every_layer_and_adds_no_weights(tmp_path):
    plain = classifier(segment_length=8, memory_lengths=[16, 16])
    las = like(plain, decay_max=[0.5, None], pool_size=2,
               decay_form="additive", pool_order="before_softmax")
    assert len(las.trainable_weights) == len(plain.trainable_weights)
    attention = [block.attention for block in las.stack.blocks]
    assert [layer.decay_max for layer in attention] == [0.5, None]
    assert [layer.pool_size for layer in attention] == [2, 2]
    assert {layer.decay_form for layer in attention} == {"additive"}
    assert {layer.pool_order for layer in attention} == {"before_softmax"}
    ids = ids_with_padding([24, 15], 24)
    assert np.abs(np.asarray(las(ids)) - np.asarray(plain(ids))).max() \
        > 1e-6
    # The defaults are the plain attention, bit for bit.
    off = like(las, decay_max=None, pool_size=1,
               decay_form="multiplicative", pool_order="after_softmax")
    np.testing.assert_array_equal(off(ids), plain(ids))
    path = os.path.join(tmp_path, "las.keras")
    las.save(path)
    restored = keras.saving.load_model(path)
    assert restored.get_config()["decay_max"] == [0.5, None]
    assert restored.get_config()["pool_order"] == "before_softmax"
    np.testing.assert_allclose(restored(ids), las(ids), atol=1e-6)


def test_las_segments_with_covering_memory_equal_one_pass():
    whole = classifier(segment_length=24, memory_lengths=[16, 16],
                       decay_max=0.5, pool_size=3)
    ids = ids_with_padding([24, 20], 24)
    np.testing.assert_allclose(like(whole, segment_length=8)(ids),
                               whole(ids), atol=2e-5)
