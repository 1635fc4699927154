"""Models built from keras_lrm layers."""

from keras_lrm.models.memory_transformer_classifier import (
    MemoryTransformerClassifier,
)
from keras_lrm.models.memory_transformer_lm import MemoryTransformerLM

__all__ = ["MemoryTransformerClassifier", "MemoryTransformerLM"]
