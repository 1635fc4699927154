"""SavedModels with explicit memory state, loaded without keras_lrm."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_lrm import Placement
from keras_lrm.export import export_saved_model
from keras_lrm.export import read_metadata
from tests.helpers import random_ids
from tests.helpers import small_lm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = small_lm(Placement("interleaved", 1, 12, 4), vocab_size=256)
    path = export_saved_model(
        model, str(tmp_path_factory.mktemp("export") / "model"))
    return model, path


def keras_stream(model, ids, pieces):
    memory = model.initial_memory(ids.shape[0])
    logits = []
    for start, stop in zip(pieces[:-1], pieces[1:]):
        out, memory = model.call_with_memory(ids[:, start:stop], memory)
        logits.append(np.asarray(out))
    return np.concatenate(logits, axis=1), memory


def test_reloaded_without_keras_lrm_gives_the_same_stream(exported,
                                                          tmp_path):
    model, path = exported
    cases, expected = {}, {}
    schedules = {
        "batch1_segments": (1, [0, 4, 8, 12, 16]),
        "batch3_segments": (3, [0, 4, 8, 12, 16]),
        "batch1_single_tokens": (1, list(range(0, 11))),
        "batch3_mixed": (3, [0, 4, 5, 6, 10, 11, 15]),
    }
    for name, (batch, pieces) in schedules.items():
        ids = random_ids(batch, pieces[-1], vocab=256, seed=batch)
        cases[f"{name}/ids"] = ids
        cases[f"{name}/pieces"] = np.array(pieces)
        logits, memory = keras_stream(model, ids, pieces)
        expected[f"{name}/logits"] = logits
        for key, value in memory.items():
            expected[f"{name}/{key}"] = np.asarray(value)
        # The cached signature gives the same logits on the same schedule.
        expected[f"{name}/cached_logits"] = logits
    np.savez(tmp_path / "cases.npz", **cases)
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "export_consumer.py"),
         path, str(tmp_path / "cases.npz"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert done.returncode == 0, done.stderr[-3000:]
    got = np.load(tmp_path / "out.npz")
    assert bool(got["keras_lrm_blocked"])
    assert sorted(k for k in got if k != "keras_lrm_blocked") == \
        sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, atol=1e-5, err_msg=key)


def test_signatures_and_metadata(exported):
    model, path = exported
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {"serving_default", "step",
                                      "initial_memory", "step_cached",
                                      "initial_cache", "generate",
                                      "step_text", "detokenize"}
    metadata = read_metadata(loaded)
    assert metadata["memory_lengths"] == model.memory_lengths == [4, 4, 12]
    assert metadata["placement"]["policy"] == "interleaved"
    assert metadata["d_model"] == 16 and metadata["vocab_size"] == 256
    assert metadata["tokenizer"]["name"] == "bytes"
    assert metadata["state"] == ["memory_0", "memory_1", "memory_2",
                                 "filled"]
    assert metadata["cache_state"] == ["keys_0", "values_0", "keys_1",
                                       "values_1", "keys_2", "values_2",
                                       "filled"]
    on_disk = json.load(open(os.path.join(path, "assets",
                                          "keras_lrm.json")))
    assert on_disk == metadata
    step = loaded.signatures["step"]
    inputs = step.structured_input_signature[1]
    assert inputs["memory_2"].shape.as_list() == [None, 12, 16]
    assert inputs["token_ids"].shape.as_list() == [None, None]
    assert set(step.structured_outputs) == {"logits", "memory_0",
                                            "memory_1", "memory_2", "filled"}
    # Each memory output has the static shape of the input it feeds.
    for name in ("memory_0", "memory_1", "memory_2", "filled"):
        assert step.structured_outputs[name].shape.as_list() == \
            inputs[name].shape.as_list(), name
    cached = loaded.signatures["step_cached"]
    inputs = cached.structured_input_signature[1]
    assert inputs["keys_2"].shape.as_list() == [None, 2, 12, 8]
    assert set(cached.structured_outputs) == set(metadata["cache_state"]) \
        | {"logits"}
    for name in metadata["cache_state"]:
        assert cached.structured_outputs[name].shape.as_list() == \
            inputs[name].shape.as_list(), name


def test_text_signature_equals_ids_and_detokenizes(exported):
    _, path = exported
    loaded = tf.saved_model.load(path)
    memory = loaded.signatures["initial_memory"](batch_size=tf.constant(2))
    texts = [b"def f(x):", b"caf\xc3\xa9 ok!"]
    by_text = loaded.signatures["step_text"](text=tf.constant(texts),
                                             **memory)
    ids = np.array([list(t) for t in texts], np.int32)
    by_ids = loaded.signatures["step"](token_ids=tf.constant(ids), **memory)
    np.testing.assert_array_equal(by_text["logits"], by_ids["logits"])
    back = loaded.signatures["detokenize"](token_ids=tf.constant(ids))
    assert back["text"].numpy().tolist() == texts
    with pytest.raises(tf.errors.InvalidArgumentError, match="`text`"):
        loaded.signatures["step_text"](
            text=tf.constant([b"ab", b"abc"]), **memory)


def test_bad_inputs_name_the_input(exported):
    _, path = exported
    loaded = tf.saved_model.load(path)
    step = loaded.signatures["step"]
    memory = loaded.signatures["initial_memory"](batch_size=tf.constant(2))
    ids = tf.constant(random_ids(2, 4, vocab=256))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`token_ids`"):
        step(token_ids=tf.constant([[1, 256], [0, 0]]), **memory)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`token_ids`"):
        step(token_ids=tf.constant([[-3, 1], [0, 0]]), **memory)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`memory_1`"):
        step(token_ids=ids, **dict(memory, memory_1=tf.zeros((3, 4, 16))))
    with pytest.raises((ValueError, TypeError,
                        tf.errors.InvalidArgumentError), match="memory_2"):
        step(token_ids=ids, **dict(memory, memory_2=tf.zeros((2, 5, 16))))
    # TensorFlow's binding names the input and the dtype it expected; its
    # fallback call then fails too, and the traceback shows both.
    with pytest.raises((TypeError, tf.errors.InvalidArgumentError)) as error:
        step(token_ids=ids, **dict(memory, memory_0=tf.zeros(
            (2, 4, 16), tf.float64)))
    chain = f"{error.value} {error.value.__context__}"
    assert "memory_0" in chain and "float32" in chain
    with pytest.raises(tf.errors.InvalidArgumentError, match="`batch_size`"):
        loaded.signatures["initial_memory"](batch_size=tf.constant(0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`filled`"):
        step(token_ids=ids, **dict(memory, filled=tf.constant([-5, 0])))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`token_ids`"):
        loaded.signatures["detokenize"](token_ids=tf.constant([[300, 1]]))
    cached = loaded.signatures["step_cached"]
    cache = loaded.signatures["initial_cache"](batch_size=tf.constant(2))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`values_1`"):
        cached(token_ids=ids, **dict(cache, values_1=tf.zeros((3, 2, 4, 8))))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`token_ids`"):
        cached(token_ids=tf.constant([[1, 256], [0, 0]]), **cache)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`batch_size`"):
        loaded.signatures["initial_cache"](batch_size=tf.constant(-1))
    # A signature call does not check ranks: the graph does, by name.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="`token_ids` must have rank 2"):
        step(token_ids=tf.constant([1, 2]), **memory)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="`memory_0` must have rank 3"):
        step(token_ids=ids, **dict(memory, memory_0=tf.zeros((2, 4))))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="`token_ids` must have rank 2"):
        loaded.signatures["detokenize"](token_ids=tf.constant([1, 2]))
    step_text = loaded.signatures["step_text"]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="every `text` must hold at least one byte"):
        step_text(text=tf.constant([b"", b""]), **memory)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="`text` must hold at least one string"):
        step_text(text=tf.constant([], tf.string),
                  **{name: value[:0] for name, value in memory.items()})


def test_longer_memories_at_export(tmp_path):
    # Vocabulary 40: no text signatures to trace, not needed here.
    model = small_lm(Placement("last", 1, 8, 4))
    path = export_saved_model(
        model, str(tmp_path / "long"),
        memory_lengths=model.placement.with_lengths(long_length=32))
    loaded = tf.saved_model.load(path)
    assert read_metadata(loaded)["memory_lengths"] == [4, 4, 32]
    memory = loaded.signatures["initial_memory"](batch_size=tf.constant(1))
    assert memory["memory_2"].shape == (1, 32, 16)
    longer = model.with_memory_lengths([4, 4, 32])
    ids = random_ids(1, 20)
    expected, _ = keras_stream(longer, ids, [0, 8, 16, 20])
    logits = []
    for start, stop in [(0, 8), (8, 16), (16, 20)]:
        out = loaded.signatures["step"](
            token_ids=tf.constant(ids[:, start:stop]), **memory)
        logits.append(out.pop("logits").numpy())
        memory = out
    np.testing.assert_allclose(np.concatenate(logits, 1), expected,
                               atol=1e-5)


def test_failed_export_keeps_the_previous_one(exported, tmp_path,
                                             monkeypatch):
    model, earlier = exported
    path = str(tmp_path / "model")
    shutil.copytree(earlier, path)
    before = sorted(os.listdir(path))

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(model, path)
    assert sorted(os.listdir(path)) == before
    assert sorted(os.listdir(tmp_path)) == ["model"]
    with pytest.raises(ValueError, match="`path`"):
        export_saved_model(model, path, overwrite=False)
    with pytest.raises(ValueError, match="`model`"):
        export_saved_model("not a model", path)
