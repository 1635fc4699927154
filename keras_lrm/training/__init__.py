"""Training with memory carried across batches (TensorFlow-specific)."""

from keras_lrm.training.checkpoint import StreamCheckpoint
from keras_lrm.training.evaluation import evaluate_stream
from keras_lrm.training.experiment import Experiment
from keras_lrm.training.experiment import build_lm
from keras_lrm.training.experiment import build_optimizer
from keras_lrm.training.experiment import run_experiment
from keras_lrm.training.stateful_lm import ResetMemory
from keras_lrm.training.stateful_lm import StatefulLM

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
