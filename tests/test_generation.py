"""Streaming generation on Keras models and on reloaded SavedModels."""

import numpy as np
import pytest
import tensorflow as tf

import keras_lrm
from keras_lrm import Placement
from keras_lrm.export import export_saved_model
from keras_lrm.export import generate
from tests.helpers import random_ids
from tests.helpers import small_lm


@pytest.fixture(scope="module")
def byte_model(tmp_path_factory):
    model = small_lm(Placement("all", None, 32, 32), vocab_size=256)
    path = export_saved_model(
        model, str(tmp_path_factory.mktemp("gen") / "model"))
    return model, path


def test_greedy_tokens_equal_argmax_of_re_encoding_everything(byte_model):
    model, _ = byte_model
    prompt = random_ids(2, 9, vocab=256, seed=4)
    tokens = generate(model, prompt, max_new_tokens=8, temperature=0)
    context = prompt
    for step in range(8):
        expected = np.asarray(model(context))[:, -1].argmax(-1)
        np.testing.assert_array_equal(tokens[:, step], expected)
        context = np.concatenate([context, expected[:, None]], axis=1)


def test_saved_model_generates_what_the_keras_model_does(byte_model):
    model, path = byte_model
    loaded = tf.saved_model.load(path)
    for kwargs in [dict(temperature=0), dict(top_k=20, seed=3),
                   dict(temperature=0.7, seed=11)]:
        from_keras = generate(model, "def main(", 12, **kwargs)
        assert from_keras == generate(loaded, "def main(", 12, **kwargs)
    # A path is loaded as the SavedModel there.
    assert from_keras == generate(path, "def main(", 12, **kwargs)
    assert keras_lrm.generate is generate


def test_sampling_is_deterministic_for_a_seed(byte_model):
    model, _ = byte_model
    prompt = random_ids(3, 5, vocab=256, seed=1)
    first = generate(model, prompt, 10, top_k=50, seed=7)
    assert first.shape == (3, 10) and first.dtype == np.int32
    np.testing.assert_array_equal(first, generate(model, prompt, 10,
                                                  top_k=50, seed=7))
    assert not np.array_equal(first, generate(model, prompt, 10, top_k=50,
                                              seed=8))
    np.testing.assert_array_equal(
        generate(model, prompt, 6, top_k=1, seed=5),
        generate(model, prompt, 6, temperature=0))


def test_text_in_text_out(byte_model):
    model, _ = byte_model
    text = generate(model, "import ", 5, seed=0)
    assert isinstance(text, str)
    batch = generate(model, ["ab", "cd"], 4, seed=0)
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
    model, _ = byte_model
    arguments = dict(max_new_tokens=3)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=argument):
        generate(model, prompt, **arguments)


def test_text_prompt_needs_a_byte_model():
    with pytest.raises(ValueError, match="byte-level"):
        generate(small_lm(), "hello", 3)


def test_top_k_of_at_least_the_vocabulary_samples_from_every_token(
        byte_model):
    model, _ = byte_model
    prompt = random_ids(2, 5, vocab=256, seed=2)
    np.testing.assert_array_equal(
        generate(model, prompt, 6, top_k=256, seed=3),
        generate(model, prompt, 6, top_k=1000, seed=3))
    np.testing.assert_array_equal(
        generate(model, prompt, 6, top_k=1000, seed=3),
        generate(model, prompt, 6, seed=3))


def test_a_keras_model_is_compiled_once_and_follows_its_weights():
    """A second call reuses the compiled step (no retracing), and a
    runner with other memory lengths uses the weights of the moment."""
    from keras_lrm.export import generation
    from tests.helpers import randomize

    model = small_lm(Placement("all", None, 8, 8), vocab_size=256)
    prompt = random_ids(1, 5, vocab=256, seed=6)
    generate(model, prompt, 4, seed=0)
    runner = generation._KERAS_RUNNERS[model][None]
    traces = runner._step.experimental_get_tracing_count()
    generate(model, prompt, 4, seed=1)
    assert runner._step.experimental_get_tracing_count() == traces
    longer = [12, 12, 12]
    generate(model, prompt, 4, seed=0, memory_lengths=longer)
    randomize(model, seed=9)
    fresh = generate(model.with_memory_lengths(longer), prompt, 4, seed=0)
    np.testing.assert_array_equal(
        generate(model, prompt, 4, seed=0, memory_lengths=longer), fresh)
    # The cache of runners does not keep the model alive.
    import gc
    import weakref

    alive = weakref.ref(model)
    del model, runner
    gc.collect()
    assert alive() is None


def test_word_prompt_is_continued_on_its_line(monkeypatch):
    """A word prompt without a final newline does not end in `<eos>`, and
    the continuation joins it with a space."""
    from keras_lrm.data.tokenizers.word_tokenizer import WordTokenizer
    from keras_lrm.export import generation

    tokenizer = WordTokenizer.build([b"the cat sat\n"], progress=False)
    model = small_lm(vocab_size=tokenizer.vocab_size)
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
