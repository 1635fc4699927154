"""Sampling from the whole distribution."""

import keras

from keras_lrm.samplers.sampler import Sampler


@keras.saving.register_keras_serializable(package="keras_lrm")
class RandomSampler(Sampler):
    """Draws the next token from the softmax of all logits.

    Args:
        temperature: float > 0; logits are divided by it.
        seed: int >= 0, or None for a fresh seed per `generate` call.

    Example:

    >>> model.generate(ids, 16, sampler=RandomSampler(temperature=0.8))
    """
