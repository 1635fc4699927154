"""Token samplers for `MemoryTransformerLM.generate`, as KerasHub has them.

`get("top_k")`, `get(TopKSampler(k=40))` or `get({"class_name": ...})`
give a sampler object; `serialize` and `deserialize` round-trip one.
"""

import keras

from keras_lrm.samplers.greedy_sampler import GreedySampler
from keras_lrm.samplers.random_sampler import RandomSampler
from keras_lrm.samplers.sampler import Sampler
from keras_lrm.samplers.top_k_sampler import TopKSampler
from keras_lrm.samplers.top_p_sampler import TopPSampler

__all__ = ["GreedySampler", "RandomSampler", "Sampler", "TopKSampler",
           "TopPSampler", "deserialize", "get", "serialize"]

NAMES = {"greedy": GreedySampler, "random": RandomSampler,
         "top_k": TopKSampler, "top_p": TopPSampler}


def serialize(sampler):
    """A JSON-ready dict of `sampler`, for `deserialize`."""
    return keras.saving.serialize_keras_object(sampler)


def deserialize(config):
    """The sampler of a `serialize` dict."""
    return keras.saving.deserialize_keras_object(config)


def get(identifier):
    """A sampler object from a name (`"greedy"`, `"random"`, `"top_k"`,
    `"top_p"`, with their default arguments), a `serialize` dict, or a
    sampler (returned as it is)."""
    if isinstance(identifier, Sampler):
        return identifier
    if isinstance(identifier, str) and identifier in NAMES:
        return NAMES[identifier]()
    if isinstance(identifier, dict):
        sampler = deserialize(identifier)
        if isinstance(sampler, Sampler):
            return sampler
    raise ValueError(
        "`sampler` must be a keras_lrm.samplers.Sampler, one of "
        f"{sorted(NAMES)}, or a serialized sampler. Received: "
        f"sampler={identifier!r}")
