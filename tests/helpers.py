"""Small models and streams shared by the tests."""

import numpy as np

from keras_lrm import Placement
from keras_lrm.models import MemoryTransformerLM


def randomize(model, scale=0.15, seed=0):
    """Sets every weight to N(0, scale): attention far from uniform and
    layer norms off the identity, so that a real dependency is large."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, scale, w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    return model


def small_lm(placement=None, num_layers=3, segment_length=4, **kwargs):
    """A tiny randomized LM (vocabulary 40, width 16, 2 heads)."""
    config = dict(vocab_size=40, num_layers=num_layers, d_model=16,
                  num_heads=2, d_ff=32, segment_length=segment_length)
    if isinstance(placement, (list, tuple)):
        config["memory_lengths"] = list(placement)
    else:
        config["placement"] = placement or Placement("all", None, 12, 12)
    config.update(kwargs)
    return randomize(MemoryTransformerLM(**config))


def random_ids(batch, length, vocab=40, seed=0):
    return np.random.default_rng(seed).integers(
        0, vocab, (batch, length)).astype("int32")


def stream(model, ids, segment_length, memory=None):
    """Feeds `ids` segment by segment; returns stacked logits and memory."""
    memory = memory or model.initial_memory(ids.shape[0])
    outputs = []
    for start in range(0, ids.shape[1], segment_length):
        logits, memory = model.call_with_memory(
            ids[:, start:start + segment_length], memory)
        outputs.append(np.asarray(logits))
    return np.concatenate(outputs, axis=1), memory
