"""Checks of an `Experiment`'s fields, before anything runs.

A bad flag fails at once with its name, not after data preparation,
an evaluation or a training run.
"""

import dataclasses

import keras

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import check_positive_number
from keras_lrm.arguments import check_rate
from keras_lrm.data.corpora import CORPORA
from keras_lrm.distribute import STRATEGIES
from keras_lrm.placement import POLICIES

# Integer fields >= 1; every other integer field is >= 0.
POSITIVE = ("num_layers", "d_model", "num_heads", "d_ff", "batch_size",
            "segment_length", "eval_batch_size", "steps_per_execution",
            "save_every", "sample_tokens")
RATES = ("dropout", "attention_dropout")
# Tokenizers `prepare` makes from a name; a SentencePiece tokenizer needs
# its trained model, so it is passed to `prepare` as an instance.
TOKENIZER_NAMES = ("bytes", "words")
FLOATS = ("float16", "bfloat16", "float32", "float64")


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
    for name, allowed in (("corpus", CORPORA), ("tokenizer", TOKENIZER_NAMES),
                          ("strategy", STRATEGIES), ("placement", POLICIES)):
        value = getattr(experiment, name)
        if value not in allowed:
            raise ValueError(
                f"`{name}` must be one of {allowed}. Received: "
                f"{name}={value!r}"
            )
    _check_precision(experiment.precision)


def _check_precision(value):
    """"auto" or the name of a Keras dtype policy that computes in a
    floating type (what `keras.mixed_precision.set_dtype_policy` takes,
    quantized policies such as `"float8_e4m3fn"` aside)."""
    if value == "auto":
        return
    try:
        policy = keras.dtype_policies.get(value)
        floating = isinstance(value, str) and \
            getattr(policy, "quantization_mode", None) is None and \
            policy.compute_dtype in FLOATS
    except (TypeError, ValueError):
        floating = False
    if not floating:
        raise ValueError(
            '`precision` must be "auto" or a floating-point Keras dtype '
            'policy ("float32", "mixed_bfloat16", "mixed_float16", ...). '
            f"Received: precision={value!r}"
        )
