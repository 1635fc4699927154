"""The base class of the token samplers."""

import math
import numbers
import random

import keras
from keras import ops

from keras_lrm.arguments import is_int
from keras_lrm.samplers import functions


@keras.saving.register_keras_serializable(package="keras_lrm")
class Sampler:
    """Picks the next token from the logits of the last position.

    A sampler is called inside the compiled token loop of
    `MemoryTransformerLM.generate`, so its maths is `keras.ops` and runs on
    device. It is stateless: the noise of a draw is a function of the seed
    and the index of the token (see `keras_lrm.samplers.functions`), so the
    same seed gives the same tokens on every call and in an exported
    model. The base class draws from the whole softmax distribution (what
    `RandomSampler` does); subclasses narrow it by overriding
    `filter_logits`, or replace `get_next_token`.

    Args:
        temperature: float > 0. Logits are divided by it before drawing:
            higher is more diverse.
        seed: int >= 0, or None for a fresh seed per `generate` call.

    Call arguments:
        logits: float `(batch, vocab)`: logits of the next token.
        step: int, or int scalar tensor: the index of the token drawn
            (each step draws fresh noise). Defaults to 0.
        seed: int or int scalar tensor, overriding `self.seed`.

    Returns:
        int32 `(batch,)` token ids.

    Example:

    >>> sampler = keras_lrm.samplers.TopKSampler(k=40, seed=0)
    >>> model.generate(prompt_ids, max_new_tokens=64, sampler=sampler)
    """

    def __init__(self, temperature=1.0, seed=None):
        if not (isinstance(temperature, numbers.Real)
                and not isinstance(temperature, bool)
                and math.isfinite(temperature) and temperature > 0):
            raise ValueError(
                "`temperature` must be a finite number > 0 (use "
                "GreedySampler for the most likely token). Received: "
                f"temperature={temperature!r}")
        self.temperature = float(temperature)
        self.seed = check_seed(seed)

    def __call__(self, logits, step=0, seed=None):
        if seed is None:
            seed = self.seed if self.seed is not None \
                else random.getrandbits(31)
        return self.get_next_token(logits, step, seed)

    def get_next_token(self, logits, step, seed):
        """The token ids `(batch,)` for `logits` `(batch, vocab)`."""
        logits = ops.cast(logits, "float32")
        if self.temperature != 1.0:
            logits = logits / self.temperature
        return functions.sample_from_logits(self.filter_logits(logits),
                                            seed, step)

    def filter_logits(self, logits):
        """The logits to draw from; tokens set to `-inf` are never drawn.
        The base class keeps every token."""
        return logits

    def get_config(self):
        return {"temperature": self.temperature, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}"
                              for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


def check_seed(seed):
    """`seed` as an int in [0, 2**31), or None; `ValueError` otherwise."""
    if seed is None:
        return None
    if not is_int(seed) or not 0 <= seed < 2 ** 31:
        raise ValueError(
            "`seed` must be an integer in [0, 2**31), or None. Received: "
            f"seed={seed!r}")
    return int(seed)
