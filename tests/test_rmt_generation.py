"""Generation with memory tokens: written when a segment fills, as in
training, in Keras and in an export (`MemoryTokenStream`)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras_lrm
from keras_lrm import Placement
from keras_lrm.export import export_saved_model
from keras_lrm.export import read_metadata
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.models.memory_token_stream import MemoryTokenStream
from tests.helpers import randomize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NONE = Placement("none", None, 0, 0)
XL = Placement("last", 1, 8, 4)
SEGMENT = 4


def rmt(placement, vocab_size=40, **kwargs):
    config = dict(vocab_size=vocab_size, num_layers=2, d_model=16,
                  num_heads=2, d_ff=32, segment_length=SEGMENT,
                  placement=placement, num_memory_tokens=2)
    return randomize(MemoryTransformerLM(**{**config, **kwargs}), seed=1)


def ids(batch, length, vocab=40, seed=0):
    return np.random.default_rng(seed).integers(
        0, vocab, (batch, length)).astype("int32")


def segment_logits(model, tokens):
    """Logits of `call_with_memory` on whole segments (the last one padded
    with zeros: a token's logits never depend on later tokens), and the
    state after the whole segments."""
    batch, length = tokens.shape
    whole = -(-length // SEGMENT) * SEGMENT
    padded = np.zeros((batch, whole), "int32")
    padded[:, :length] = tokens
    state, logits = model.initial_memory(batch, "cache"), []
    for start in range(0, whole, SEGMENT):
        piece, after = model.call_with_memory(
            padded[:, start:start + SEGMENT], state)
        if start + SEGMENT <= length:
            state = after
        logits.append(np.asarray(piece))
    return np.concatenate(logits, axis=1)[:, :length], state


def assert_greedy_follows_segment_calls(model, prompt, tokens):
    """Every greedy token is the argmax of the segment calls' logits on
    the text before it."""
    text = np.concatenate([prompt, np.asarray(tokens)], axis=1)
    logits, _ = segment_logits(model, text)
    start = prompt.shape[1]
    np.testing.assert_array_equal(
        logits[:, start - 1:-1].argmax(-1), np.asarray(tokens))


@pytest.mark.parametrize("placement,pre_norm", [(NONE, False), (XL, False),
                                                (XL, True)])
def test_a_token_at_a_time_equals_whole_segment_calls(placement, pre_norm):
    """10 tokens (2.5 segments) one by one, and in pieces inside segments,
    give the logits of whole-segment calls; at a segment boundary the
    state is theirs."""
    model = rmt(placement, pre_norm=pre_norm)
    stream = MemoryTokenStream(model)
    tokens = ids(2, 10, seed=3)
    expected, state_at_8 = segment_logits(model, tokens)
    for pieces in ([(i, i + 1) for i in range(10)],
                   [(0, 3), (3, 4), (4, 8), (8, 9), (9, 10)]):
        state, logits = stream.initial_state(2), []
        for start, stop in pieces:
            piece, state = stream.step(tokens[:, start:stop], state)
            logits.append(np.asarray(piece))
            if stop == 8:
                boundary = state
        np.testing.assert_allclose(np.concatenate(logits, axis=1), expected,
                                   atol=1e-5)
        assert np.asarray(state["segment_filled"]).tolist() == [2, 2]
        for name, value in stream.to_cache(boundary).items():
            np.testing.assert_allclose(np.asarray(value),
                                       np.asarray(state_at_8[name]),
                                       atol=1e-5, err_msg=name)
    # One call per token, each read as a segment (what generation did
    # before), writes the memory tokens after every token: other logits.
    state, single = model.initial_memory(2, "cache"), []
    for index in range(10):
        piece, state = model.call_with_memory(tokens[:, index:index + 1],
                                              state)
        single.append(np.asarray(piece))
    assert np.abs(np.concatenate(single, axis=1) - expected).max() > 1e-3


@pytest.fixture(scope="module")
def models():
    """One model without and one with XL memory, made once per module:
    their compiled generation loops are shared by the tests."""
    return {"none": rmt(NONE), "xl": rmt(XL)}


@pytest.mark.parametrize("name", ["none", "xl"])
def test_model_generate_writes_memory_tokens_when_a_segment_fills(
        models, name):
    model = models[name]
    prompt = ids(2, 3, seed=5)
    tokens, state = model.generate(prompt, 11, sampler="greedy",
                                   return_state=True)
    assert_greedy_follows_segment_calls(model, prompt, tokens)
    # 14 tokens read: two more in the fourth segment.
    assert np.asarray(state["segment_filled"]).tolist() == [2, 2]
    # Continuing from the state (mid-segment) with more prompt reads as
    # the whole text read at once.
    more = ids(2, 5, seed=6)
    continued = model.generate({"token_ids": more, "state": state}, 11,
                               sampler="greedy")
    whole = np.concatenate([prompt, np.asarray(tokens), more], axis=1)
    assert_greedy_follows_segment_calls(model, whole, continued)
    # The model's own cache state (a segment boundary) continues too.
    _, boundary = segment_logits(model, whole[:, :16])
    np.testing.assert_array_equal(
        np.asarray(model.generate({"token_ids": whole[:, 16:],
                                   "state": boundary}, 11,
                                  sampler="greedy")),
        np.asarray(continued))
    assert np.array_equal(keras_lrm.generate(model, prompt, 11,
                                             temperature=0),
                          np.asarray(tokens))


def test_generation_keeps_the_model_segment():
    model = rmt(NONE)
    with pytest.raises(ValueError, match="`segment_length`"):
        model.generate(ids(1, 3), 4, segment_length=3)
    stream = MemoryTokenStream(model)
    state = stream.initial_state(2)
    _, state = stream.step(ids(2, 1), state)
    ragged = dict(state, segment_filled=np.array([1, 0], "int32"))
    with pytest.raises(ValueError, match="segment_filled"):
        model.generate({"token_ids": ids(2, 2), "state": ragged}, 2)
    with pytest.raises(ValueError, match="num_memory_tokens"):
        MemoryTokenStream(rmt(NONE, num_memory_tokens=0))
    with pytest.raises(ValueError, match="`token_ids`.*T <= segment_length"):
        stream.step(ids(2, 5), stream.initial_state(2))
    with pytest.raises(ValueError, match="`state`"):
        stream.step(ids(2, 1), model.initial_memory(2, "cache"))


@pytest.fixture(scope="module")
def exports(models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rmt_export")
    return {name: (model, export_saved_model(model, str(folder / name)))
            for name, model in models.items()}


@pytest.mark.parametrize("name", ["none", "xl"])
def test_the_export_generates_what_keras_does(exports, name):
    model, path = exports[name]
    loaded = tf.saved_model.load(path)
    prompt = ids(2, 3, seed=7)
    outputs = loaded.signatures["generate"](
        token_ids=tf.constant(prompt), max_new_tokens=tf.constant(11),
        temperature=tf.constant(0.0), top_k=tf.constant(0),
        top_p=tf.constant(1.0), seed=tf.constant(0))
    tokens, state = model.generate(prompt, 11, sampler="greedy",
                                   return_state=True)
    np.testing.assert_array_equal(outputs["new_token_ids"].numpy(),
                                  np.asarray(tokens))
    assert_greedy_follows_segment_calls(model, prompt, tokens)
    assert sorted(read_metadata(loaded)["generate_state"]) == sorted(state)
    for key, value in state.items():
        np.testing.assert_allclose(outputs[key].numpy(), np.asarray(value),
                                   atol=1e-5, err_msg=key)
    np.testing.assert_array_equal(
        keras_lrm.generate(loaded, prompt, 11, top_k=9, seed=2),
        keras_lrm.generate(model, prompt, 11, top_k=9, seed=2))
    with pytest.raises(ValueError, match="`segment_length`"):
        keras_lrm.generate(loaded, prompt, 3, segment_length=3)


def test_the_export_steps_with_tensorflow_alone(exports, tmp_path):
    """`step` and `step_cached` take and return `memory_tokens`; the
    reload without keras_lrm gives the Keras logits and state."""
    model, path = exports["xl"]
    cases, expected = {}, {}
    tokens = ids(2, 12, seed=8)
    cases["rmt/ids"] = tokens
    cases["rmt/pieces"] = np.array([0, 4, 8, 12])
    logits, state = [], model.initial_memory(2)
    for start in (0, 4, 8):
        piece, state = model.call_with_memory(tokens[:, start:start + 4],
                                              state)
        logits.append(np.asarray(piece))
    expected["rmt/logits"] = expected["rmt/cached_logits"] = \
        np.concatenate(logits, axis=1)
    for key, value in state.items():
        expected[f"rmt/{key}"] = np.asarray(value)
    np.savez(tmp_path / "cases.npz", **cases)
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "export_consumer.py"),
         path, str(tmp_path / "cases.npz"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert done.returncode == 0, done.stderr[-3000:]
    got = np.load(tmp_path / "out.npz")
    assert bool(got["keras_lrm_blocked"])
    assert "rmt/memory_tokens" in got
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, atol=1e-5, err_msg=key)
