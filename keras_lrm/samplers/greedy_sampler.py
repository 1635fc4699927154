"""Greedy decoding."""

import keras
from keras import ops

from keras_lrm.samplers.sampler import Sampler


@keras.saving.register_keras_serializable(package="keras_lrm")
class GreedySampler(Sampler):
    """Picks the most likely token: deterministic, no temperature or seed.

    Example:

    >>> model.generate(ids, 16, sampler="greedy")
    """

    def __init__(self):
        super().__init__()

    def get_next_token(self, logits, step, seed):
        return ops.cast(ops.argmax(logits, axis=-1), "int32")

    def get_config(self):
        return {}
