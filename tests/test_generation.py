"""Generation on Keras models (`MemoryTransformerLM.generate`, one compiled
loop) and on reloaded SavedModels (their `generate` signature)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras_lrm
from keras_lrm import Placement
from keras_lrm import samplers
from keras_lrm.export import export_saved_model
from keras_lrm.export import generate
from keras_lrm.export import read_metadata
from keras_lrm.models.generation_loop import loop_of
from tests.helpers import random_ids
from tests.helpers import small_lm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The tests on `byte_model` generate NEW tokens for a batch of two with
# the samplers of SETTINGS where they can: each compiled loop (one per
# sampler, batch size and token count) is then compiled once per module.
NEW = 6
SETTINGS = [dict(temperature=0), dict(top_k=7, seed=3),
            dict(top_p=0.8, temperature=0.7, seed=3)]
SAMPLERS = [samplers.GreedySampler(), samplers.TopKSampler(k=7, seed=3),
            samplers.TopPSampler(p=0.8, temperature=0.7, seed=3)]


@pytest.fixture(scope="module")
def byte_model(tmp_path_factory):
    """A two-layer byte-level model with memory for all it reads, its
    export and the export loaded, made once per module."""
    model = small_lm(Placement("all", None, 32, 32), num_layers=2,
                     vocab_size=256)
    path = export_saved_model(
        model, str(tmp_path_factory.mktemp("gen") / "model"))
    return model, path, tf.saved_model.load(path)


def test_greedy_tokens_equal_argmax_of_re_encoding_everything(byte_model):
    model, _, _ = byte_model
    prompt = random_ids(2, 9, vocab=256, seed=4)
    tokens = generate(model, prompt, max_new_tokens=NEW, temperature=0)
    context = prompt
    for step in range(NEW):
        expected = np.asarray(model(context))[:, -1].argmax(-1)
        np.testing.assert_array_equal(tokens[:, step], expected)
        context = np.concatenate([context, expected[:, None]], axis=1)


def test_saved_model_generates_what_the_keras_model_does(byte_model):
    model, path, loaded = byte_model
    prompt = ["def main(", "class A:\n"]
    for kwargs in SETTINGS + [dict(seed=11)]:
        from_keras = generate(model, prompt, NEW, **kwargs)
        assert from_keras == generate(loaded, prompt, NEW, **kwargs)
    # A path is loaded as the SavedModel there.
    assert from_keras == generate(path, prompt, NEW, **kwargs)
    assert keras_lrm.generate is generate


def test_sampling_is_deterministic_for_a_seed(byte_model):
    model, _, _ = byte_model
    prompt = random_ids(2, 9, vocab=256, seed=1)
    first = generate(model, prompt, NEW, top_k=7, seed=7)
    assert first.shape == (2, NEW) and first.dtype == np.int32
    np.testing.assert_array_equal(first, generate(model, prompt, NEW,
                                                  top_k=7, seed=7))
    assert not np.array_equal(first, generate(model, prompt, NEW, top_k=7,
                                              seed=8))
    np.testing.assert_array_equal(
        generate(model, prompt, NEW, top_k=1, seed=5),
        generate(model, prompt, NEW, temperature=0))


def test_text_in_text_out(byte_model):
    model, _, _ = byte_model
    text = generate(model, "import ", NEW, seed=0)
    assert isinstance(text, str)
    batch = generate(model, ["ab", "cd"], NEW, seed=0)
    assert isinstance(batch, list) and len(batch) == 2


@pytest.mark.parametrize("prompt,kwargs,argument", [
    ([], {}, "`prompt`"),
    ([[1, 300]], {}, "`prompt`"),
    (["ab", "abc"], {}, "same number of bytes"),
    ([1, 2], dict(max_new_tokens=0), "`max_new_tokens`"),
    ([1, 2], dict(temperature=-1.0), "`temperature`"),
    ([1, 2], dict(top_k=-1), "`top_k`"),
    ("", {}, "at least one byte"),
])
def test_bad_arguments(byte_model, prompt, kwargs, argument):
    model, _, _ = byte_model
    arguments = dict(max_new_tokens=3)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=argument):
        generate(model, prompt, **arguments)


def test_text_prompt_needs_a_byte_model():
    with pytest.raises(ValueError, match="byte-level"):
        generate(small_lm(), "hello", 3)


def test_top_k_of_at_least_the_vocabulary_samples_from_every_token(
        byte_model):
    model, _, _ = byte_model
    prompt = random_ids(2, 9, vocab=256, seed=2)
    np.testing.assert_array_equal(
        generate(model, prompt, NEW, top_k=256, seed=3),
        generate(model, prompt, NEW, top_k=1000, seed=3))
    np.testing.assert_array_equal(
        generate(model, prompt, NEW, top_k=1000, seed=3),
        generate(model, prompt, NEW, seed=3))


def test_a_keras_model_is_compiled_once_and_follows_its_weights():
    """A second call reuses the compiled loop (no retracing), the weights
    used are those of the moment, and with `memory_lengths` the copy has
    them too."""
    from tests.helpers import randomize

    model = small_lm(Placement("all", None, 8, 8), num_layers=1,
                     vocab_size=256)
    prompt = random_ids(1, 5, vocab=256, seed=6)
    generate(model, prompt, 4, seed=0)
    loop = loop_of(model)
    traces = loop.step_traces
    generate(model, prompt, 4, seed=1)
    assert loop.step_traces == traces
    longer = [12]
    before = generate(model, prompt, 4, temperature=0)
    randomize(model, seed=9)
    assert not np.array_equal(before, generate(model, prompt, 4,
                                               temperature=0))
    fresh = generate(model.with_memory_lengths(longer), prompt, 4, seed=0)
    np.testing.assert_array_equal(
        generate(model, prompt, 4, seed=0, memory_lengths=longer), fresh)


def greedy_by_hand(model, prompt, count, segment_length):
    """Argmax tokens, one `call_with_memory` per token on the memory
    state (not the cache the compiled loop uses)."""
    memory = model.initial_memory(prompt.shape[0])
    for start in range(0, prompt.shape[1], segment_length):
        logits, memory = model.call_with_memory(
            prompt[:, start:start + segment_length], memory)
    tokens = []
    for _ in range(count):
        token = np.asarray(logits)[:, -1].argmax(-1).astype("int32")
        tokens.append(token)
        logits, memory = model.call_with_memory(token[:, None], memory)
    return np.stack(tokens, axis=1)


def test_model_generate_greedy_equals_argmax_token_by_token():
    model = small_lm(Placement("last", 1, 6, 3), num_layers=2,
                     vocab_size=256)
    prompt = random_ids(3, 11, vocab=256, seed=5)
    tokens = model.generate(prompt, 9, sampler="greedy")
    assert tuple(tokens.shape) == (3, 9)
    assert np.asarray(tokens).dtype == np.int32
    np.testing.assert_array_equal(
        np.asarray(tokens), greedy_by_hand(model, prompt, 9,
                                           model.segment_length))
    np.testing.assert_array_equal(
        np.asarray(model.generate(prompt, 9, sampler="greedy",
                                  segment_length=5)),
        greedy_by_hand(model, prompt, 9, 5))


def test_the_token_loop_is_traced_once_whatever_the_token_count():
    """One trace of the Python step per compiled loop: the tokens come
    from one compiled while loop, not from a Python call per token."""
    model = small_lm(num_layers=1, vocab_size=256)
    prompt = random_ids(2, 6, vocab=256, seed=1)
    loop = loop_of(model)
    model.generate(prompt, 3, sampler="top_k", seed=0)
    assert loop.step_traces == 1
    model.generate(prompt, 40, sampler="top_k", seed=0)
    assert loop.step_traces == 2  # a new buffer size, traced once
    model.generate(prompt, 40, sampler="top_k", seed=5)
    model.generate(prompt, 40, sampler=samplers.TopKSampler(), seed=1)
    assert loop.step_traces == 2


def test_model_generate_is_seeded_and_continues_from_its_state(
        byte_model):
    model, _, _ = byte_model
    prompt = random_ids(2, 9, vocab=256, seed=2)
    sampler = samplers.TopPSampler(p=0.8, temperature=0.7, seed=4)
    first = np.asarray(model.generate(prompt, NEW, sampler=sampler))
    np.testing.assert_array_equal(
        first, np.asarray(model.generate(prompt, NEW, sampler=sampler)))
    assert not np.array_equal(
        first, np.asarray(model.generate(prompt, NEW, sampler=sampler,
                                         seed=5)))
    # With memory for the whole text, continuing from the returned state
    # reads as the whole text read at once.
    tokens, state = model.generate(prompt, NEW, sampler="greedy",
                                   return_state=True)
    more = random_ids(2, 3, vocab=256, seed=3)
    continued = model.generate({"token_ids": more, "state": state}, NEW,
                               sampler="greedy")
    whole = np.concatenate([prompt, np.asarray(tokens), more], axis=1)
    np.testing.assert_array_equal(
        np.asarray(continued), greedy_by_hand(model, whole, NEW, 64))


def test_the_export_generate_signature_equals_model_generate(byte_model):
    model, _, loaded = byte_model
    assert "generate" in read_metadata(loaded)["signatures"]
    prompt = random_ids(2, 9, vocab=256, seed=4)
    settings = [(0.0, 0, 1.0), (1.0, 7, 1.0), (0.7, 0, 0.8)]
    for sampler, (temperature, top_k, top_p) in zip(SAMPLERS, settings):
        outputs = loaded.signatures["generate"](
            token_ids=tf.constant(prompt), max_new_tokens=tf.constant(NEW),
            temperature=tf.constant(temperature), top_k=tf.constant(top_k),
            top_p=tf.constant(top_p), seed=tf.constant(3))
        tokens, state = model.generate(prompt, NEW, sampler=sampler, seed=3,
                                       return_state=True)
        np.testing.assert_array_equal(outputs["new_token_ids"].numpy(),
                                      np.asarray(tokens))
    for name, value in state.items():
        np.testing.assert_allclose(outputs[name].numpy(), np.asarray(value),
                                   atol=1e-5)


def test_an_export_without_its_generate_signature_steps_per_token(
        byte_model):
    """Another prompt segment than the export's takes the per-token
    signature loop older exports use: the same tokens."""
    model, _, loaded = byte_model
    prompt = random_ids(2, 9, vocab=256, seed=8)
    for kwargs in SETTINGS:
        np.testing.assert_array_equal(
            generate(loaded, prompt, NEW, segment_length=3, **kwargs),
            generate(model, prompt, NEW, segment_length=3, **kwargs))


@pytest.mark.slow
def test_the_export_generates_with_tensorflow_alone(byte_model, tmp_path):
    model, path, _ = byte_model
    prompt = random_ids(2, 9, vocab=256, seed=4)
    np.save(tmp_path / "ids.npy", prompt)
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "generate_consumer.py"),
         path, str(tmp_path / "ids.npy"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = np.load(tmp_path / "out.npz")
    assert outputs["keras_lrm_blocked"]
    np.testing.assert_array_equal(
        outputs["new_token_ids"],
        np.asarray(model.generate(prompt, NEW, sampler="greedy")))
    assert outputs["filled"].tolist() == [15, 15]


@pytest.mark.slow
def test_generate_on_jax_draws_the_tensorflow_tokens(tmp_path):
    """The loop and the samplers are keras.ops: on the JAX backend (no
    TensorFlow importable) the same weights give the same tokens."""
    import json

    model = small_lm(Placement("last", 1, 6, 3), num_layers=2,
                     vocab_size=64)
    ids = random_ids(2, 7, vocab=64, seed=1)
    weights = model.get_weights()
    config = {k: v for k, v in model.get_config().items()
              if k not in ("name", "trainable", "dtype")}
    np.savez(tmp_path / "case.npz", config=json.dumps(config), ids=ids,
             num_weights=len(weights),
             **{f"weight_{i}": w for i, w in enumerate(weights)})
    done = subprocess.run(
        [sys.executable,
         os.path.join(ROOT, "tests", "generate_jax_consumer.py"),
         str(tmp_path / "case.npz"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(
        outputs["greedy"], np.asarray(model.generate(ids, 6,
                                                     sampler="greedy")))
    np.testing.assert_array_equal(
        outputs["top_k"], np.asarray(model.generate(
            ids, 6, sampler=samplers.TopKSampler(k=5), seed=3)))


def test_sampler_argument_of_generate(byte_model):
    model, _, loaded = byte_model
    prompt = random_ids(2, 9, vocab=256, seed=2)
    np.testing.assert_array_equal(
        generate(model, prompt, NEW, sampler=samplers.TopKSampler(k=7),
                 seed=4),
        generate(model, prompt, NEW, top_k=7, seed=4))
    np.testing.assert_array_equal(
        generate(loaded, prompt, NEW, sampler="greedy"),
        generate(model, prompt, NEW, temperature=0))


def test_word_prompt_is_continued_on_its_line(monkeypatch):
    """A word prompt without a final newline does not end in `<eos>`, and
    the continuation joins it with a space."""
    from keras_lrm.data.tokenizers.word_tokenizer import WordTokenizer
    from keras_lrm.export import generation

    tokenizer = WordTokenizer.build([b"the cat sat\n"], progress=False)
    model = small_lm(num_layers=1, vocab_size=tokenizer.vocab_size)
    seen = []
    real = generation.generate

    def spy(model, ids, *args, **kwargs):
        seen.append(np.asarray(ids))
        return real(model, ids, *args, **kwargs)

    monkeypatch.setattr(generation, "generate", spy)
    text = generation.generate_text(model, "the cat", 4,
                                    tokenizer=tokenizer, temperature=0)
    assert seen[-1][0, -1] != tokenizer.eos_id
    assert seen[-1].shape == (1, 2)
    assert text.startswith((" ", "\n"))
    generation.generate_text(model, "the cat\n", 4, tokenizer=tokenizer,
                             temperature=0)
    assert seen[-1][0, -1] == tokenizer.eos_id


def test_sample_next_still_works_and_warns():
    from keras_lrm.export.generation import sample_next

    logits = np.array([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]], "float32")
    with pytest.warns(DeprecationWarning, match="keras_lrm.samplers"):
        tokens = sample_next(logits, 0, None, np.random.default_rng(0))
    np.testing.assert_array_equal(tokens, [1, 0])
    with pytest.warns(DeprecationWarning):
        tokens = sample_next(logits, 1.0, 1, np.random.default_rng(0))
    np.testing.assert_array_equal(tokens, [1, 0])
