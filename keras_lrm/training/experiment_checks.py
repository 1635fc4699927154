"""Checks of an `Experiment`'s fields, before anything runs.

A bad flag fails at once with its name, not after data preparation,
an evaluation or a training run.
"""

import dataclasses

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import check_positive_number
from keras_lrm.arguments import check_rate
from keras_lrm.distribute import STRATEGIES
from keras_lrm.placement import POLICIES

# Integer fields >= 1; every other integer field is >= 0.
POSITIVE = ("num_layers", "d_model", "num_heads", "d_ff", "batch_size",
            "segment_length", "eval_batch_size", "steps_per_execution",
            "save_every", "sample_tokens")
RATES = ("dropout", "attention_dropout")


def check_experiment(experiment):
    """Raises `ValueError` naming the first field (flag) out of range."""
    for field in dataclasses.fields(experiment):
        name, value = field.name, getattr(experiment, field.name)
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        if name in POSITIVE:
            check_positive(name, value)
        else:
            check_non_negative(name, value)
    for name in RATES:
        check_rate(name, getattr(experiment, name))
    check_positive_number("learning_rate", experiment.learning_rate)
    ratio = experiment.min_learning_rate_ratio
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(
            "`min_learning_rate_ratio` must be in [0, 1]. Received: "
            f"min_learning_rate_ratio={ratio!r}"
        )
    if not experiment.clip_norm >= 0:
        raise ValueError(
            "`clip_norm` must be >= 0 (0: no clipping). Received: "
            f"clip_norm={experiment.clip_norm!r}"
        )
    if experiment.strategy not in STRATEGIES:
        raise ValueError(
            f"`strategy` must be one of {STRATEGIES}. Received: "
            f"strategy={experiment.strategy!r}"
        )
    if experiment.placement not in POLICIES:
        raise ValueError(
            f"`placement` must be one of {POLICIES}. Received: "
            f"placement={experiment.placement!r}"
        )
