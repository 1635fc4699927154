"""Training with memory carried across batches (TensorFlow-specific).

`Experiment` (a run's fields, also the recipes' flags) imports neither
TensorFlow nor Keras, so a recipe's `--help` is fast; the rest loads
TensorFlow on first use (PEP 562).
"""

import importlib

from keras_lrm.training.experiment_config import Experiment

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "ResetMemory": "keras_lrm.training.stateful_lm",
    "StatefulLM": "keras_lrm.training.stateful_lm",
    "StreamCheckpoint": "keras_lrm.training.checkpoint",
    "build_lm": "keras_lrm.training.experiment",
    "build_optimizer": "keras_lrm.training.experiment",
    "evaluate_stream": "keras_lrm.training.evaluation",
    "run_experiment": "keras_lrm.training.experiment",
}

__all__ = [
    "Experiment",
    "ResetMemory",
    "StatefulLM",
    "StreamCheckpoint",
    "build_lm",
    "build_optimizer",
    "evaluate_stream",
    "run_experiment",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(
        f"module 'keras_lrm.training' has no attribute {name!r}")
