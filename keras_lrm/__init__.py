"""keras_lrm: memory-augmented transformer layers for Keras 3.

Transformer-XL layers with a per-layer memory length, so that only a few
layers keep a long-range memory (Rae & Razavi, 2020).
"""

from keras_lrm import layers
from keras_lrm import models
from keras_lrm.export.generation import generate
from keras_lrm.placement import Placement
from keras_lrm.version import __version__

__all__ = ["Placement", "generate", "layers", "models", "__version__"]
