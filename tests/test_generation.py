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
    ([1, 2], dict(top_k=0), "`top_k`"),
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
