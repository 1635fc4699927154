"""Top-p (nucleus) sampling."""

import math
import numbers

import keras

from keras_lrm.arguments import check_positive
from keras_lrm.samplers import functions
from keras_lrm.samplers.sampler import Sampler


@keras.saving.register_keras_serializable(package="keras_lrm")
class TopPSampler(Sampler):
    """Draws the next token from the nucleus: the fewest most likely tokens
    whose probabilities (after the temperature) sum to at least `p`.

    Args:
        p: float in (0, 1]; 1 keeps every token.
        k: optional int >= 1: first keep only the `k` most likely tokens.
        temperature: float > 0; logits are divided by it.
        seed: int >= 0, or None for a fresh seed per `generate` call.

    Example:

    >>> model.generate(ids, 64, sampler=TopPSampler(p=0.9, seed=1))

    Reference:
        Holtzman et al., "The Curious Case of Neural Text Degeneration",
        ICLR 2020.
    """

    def __init__(self, p=0.1, k=None, temperature=1.0, seed=None):
        super().__init__(temperature=temperature, seed=seed)
        if not (isinstance(p, numbers.Real) and not isinstance(p, bool)
                and math.isfinite(p) and 0 < p <= 1):
            raise ValueError(
                f"`p` must be a number in (0, 1]. Received: p={p!r}")
        self.p = float(p)
        self.k = None if k is None else check_positive("k", k)

    def filter_logits(self, logits):
        if self.k is not None:
            logits = functions.top_k_mask(logits, self.k)
        return functions.top_p_mask(logits, self.p)

    def get_config(self):
        return {**super().get_config(), "p": self.p, "k": self.k}
