"""Searching memory lengths and placements with KerasTuner (TensorFlow)."""

from keras_lrm.tuning.hypermodel import MemoryHyperModel
from keras_lrm.tuning.hypermodel import state_bytes

__all__ = ["MemoryHyperModel", "state_bytes"]
