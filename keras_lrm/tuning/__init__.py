"""Searching memory lengths and placements with KerasTuner (TensorFlow)."""

from keras_lrm.tuning.hypermodel import MemoryHyperModel
from keras_lrm.tuning.hypermodel import state_bytes
from keras_lrm.tuning.space import IntRange

__all__ = ["IntRange", "MemoryHyperModel", "state_bytes"]
