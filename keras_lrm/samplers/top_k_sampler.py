"""Top-k sampling."""

import keras

from keras_lrm.arguments import check_positive
from keras_lrm.samplers import functions
from keras_lrm.samplers.sampler import Sampler


@keras.saving.register_keras_serializable(package="keras_lrm")
class TopKSampler(Sampler):
    """Draws the next token among the `k` most likely ones.

    Args:
        k: int >= 1. A `k` of at least the vocabulary keeps every token.
        temperature: float > 0; logits are divided by it.
        seed: int >= 0, or None for a fresh seed per `generate` call.

    Example:

    >>> model.generate(ids, 64, sampler=TopKSampler(k=40, seed=1))
    """

    def __init__(self, k=5, temperature=1.0, seed=None):
        super().__init__(temperature=temperature, seed=seed)
        self.k = check_positive("k", k)

    def filter_logits(self, logits):
        return functions.top_k_mask(logits, self.k)

    def get_config(self):
        return {**super().get_config(), "k": self.k}
