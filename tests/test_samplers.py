"""Sampler objects: what each may draw, seeds, configs, and the tensor
settings of an export's `generate`."""

import numpy as np
import pytest
from keras import ops

from keras_lrm import samplers
from keras_lrm.samplers import functions


def logits(batch=64, vocab=50, seed=0):
    return np.random.default_rng(seed).normal(
        0, 2, (batch, vocab)).astype("float32")


def draws(sampler, values, steps=8, seed=0):
    """Tokens `(steps, batch)` drawn at steps 0..steps-1."""
    return np.stack([np.asarray(sampler(values, step=step, seed=seed))
                     for step in range(steps)])


def test_greedy_is_the_argmax():
    values = logits()
    np.testing.assert_array_equal(
        np.asarray(samplers.GreedySampler()(values)), values.argmax(-1))


def test_top_k_never_draws_outside_the_k_best():
    values = logits()
    tokens = draws(samplers.TopKSampler(k=3), values)
    best = np.argsort(-values, axis=-1)[:, :3]
    for row in range(values.shape[0]):
        assert set(tokens[:, row]) <= set(best[row])
    # Among them it does draw more than the best one.
    assert len(set(tokens.ravel().tolist())) > len(set(best[:, 0]))


def test_top_p_never_draws_outside_the_nucleus():
    values = logits()
    p = 0.6
    tokens = draws(samplers.TopPSampler(p=p, temperature=0.8), values)
    scaled = values / 0.8
    probabilities = np.exp(scaled - scaled.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    for row in range(values.shape[0]):
        order = np.argsort(-probabilities[row])
        cumulative = np.cumsum(probabilities[row][order])
        nucleus = order[:np.searchsorted(cumulative, p) + 1]
        assert set(tokens[:, row]) <= set(nucleus), row


def test_random_draws_follow_the_softmax():
    probabilities = np.array([0.5, 0.3, 0.15, 0.05])
    values = np.tile(np.log(probabilities), (4000, 1)).astype("float32")
    tokens = np.asarray(samplers.RandomSampler()(values, step=3, seed=1))
    frequencies = np.bincount(tokens, minlength=4) / len(tokens)
    np.testing.assert_allclose(frequencies, probabilities, atol=0.03)


def test_a_seed_gives_the_same_tokens_and_steps_differ():
    values = logits()
    sampler = samplers.TopKSampler(k=10, seed=5)
    first = np.asarray(sampler(values, step=2))
    np.testing.assert_array_equal(first, np.asarray(sampler(values, step=2)))
    np.testing.assert_array_equal(
        first, np.asarray(samplers.TopKSampler(k=10)(values, 2, 5)))
    assert not np.array_equal(first, np.asarray(sampler(values, step=3)))
    assert not np.array_equal(first, np.asarray(sampler(values, 2, seed=6)))


def test_noise_is_uniform_in_the_open_interval():
    noise = np.asarray(functions.uniform_noise((200, 300), 7, 0))
    assert 0 < noise.min() and noise.max() < 1
    assert abs(noise.mean() - 0.5) < 0.01


@pytest.mark.parametrize("sampler,settings", [
    (samplers.GreedySampler(), (0.0, 0, 1.0)),
    (samplers.RandomSampler(temperature=0.7), (0.7, 0, 1.0)),
    (samplers.TopKSampler(k=4, temperature=1.3), (1.3, 4, 1.0)),
    (samplers.TopPSampler(p=0.5, k=9), (1.0, 9, 0.5)),
])
def test_tensor_settings_draw_what_the_sampler_draws(sampler, settings):
    """`functions.sample` with scalar tensors (an export's signature)
    equals the sampler object."""
    values = logits(seed=3)
    temperature, top_k, top_p = settings
    expected = sampler(values, step=4, seed=9)
    got = functions.sample(
        values, ops.convert_to_tensor(9, "int32"),
        ops.convert_to_tensor(4, "int32"),
        ops.convert_to_tensor(temperature, "float32"),
        ops.convert_to_tensor(top_k, "int32"),
        ops.convert_to_tensor(top_p, "float32"))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_get_serialize_and_config_round_trip():
    assert isinstance(samplers.get("top_k"), samplers.TopKSampler)
    assert isinstance(samplers.get("greedy"), samplers.GreedySampler)
    sampler = samplers.TopPSampler(p=0.3, k=7, temperature=0.5, seed=2)
    assert samplers.get(sampler) is sampler
    again = samplers.get(samplers.serialize(sampler))
    assert type(again) is samplers.TopPSampler
    assert again.get_config() == sampler.get_config() == {
        "temperature": 0.5, "seed": 2, "p": 0.3, "k": 7}
    assert samplers.TopKSampler.from_config(
        samplers.TopKSampler(k=3).get_config()).k == 3


@pytest.mark.parametrize("make,argument", [
    (lambda: samplers.TopKSampler(k=0), "`k`"),
    (lambda: samplers.TopKSampler(k=2.5), "`k`"),
    (lambda: samplers.TopPSampler(p=0.0), "`p`"),
    (lambda: samplers.TopPSampler(p=float("nan")), "`p`"),
    (lambda: samplers.RandomSampler(temperature=0), "`temperature`"),
    (lambda: samplers.RandomSampler(temperature=True), "`temperature`"),
    (lambda: samplers.RandomSampler(seed=1.5), "`seed`"),
    (lambda: samplers.get("beam"), "`sampler`"),
    (lambda: samplers.get(3), "`sampler`"),
    (lambda: samplers.get({"class_name": "Dense", "config": {"units": 1},
                           "module": "keras.layers"}), "`sampler`"),
])
def test_bad_arguments_name_themselves(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()
