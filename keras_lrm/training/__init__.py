"""Training with memory carried across batches (TensorFlow-specific).

`Experiment` (a run's fields in five groups, also the recipes' flags)
imports neither TensorFlow nor Keras, so a recipe's `--help` is fast; the
rest loads TensorFlow on first use (PEP 562).
"""

import importlib

from keras_lrm.training.experiment_config import DataConfig
from keras_lrm.training.experiment_config import EvaluationConfig
from keras_lrm.training.experiment_config import Experiment
from keras_lrm.training.experiment_config import ModelConfig
from keras_lrm.training.experiment_config import OutputConfig
from keras_lrm.training.experiment_config import TrainingConfig

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "ResetMemory": "keras_lrm.training.stateful_lm",
    "RunArtifacts": "keras_lrm.training.artifacts",
    "StatefulLM": "keras_lrm.training.stateful_lm",
    "StreamCheckpoint": "keras_lrm.training.checkpoint",
    "build_lm": "keras_lrm.training.setup",
    "build_model": "keras_lrm.training.setup",
    "build_optimizer": "keras_lrm.training.setup",
    "evaluate_stream": "keras_lrm.training.evaluation",
    "run_experiment": "keras_lrm.training.experiment",
    "set_up": "keras_lrm.training.setup",
}

__all__ = [
    "DataConfig",
    "EvaluationConfig",
    "Experiment",
    "ModelConfig",
    "OutputConfig",
    "ResetMemory",
    "RunArtifacts",
    "StatefulLM",
    "StreamCheckpoint",
    "TrainingConfig",
    "build_lm",
    "build_model",
    "build_optimizer",
    "evaluate_stream",
    "run_experiment",
    "set_up",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(
        f"module 'keras_lrm.training' has no attribute {name!r}")
