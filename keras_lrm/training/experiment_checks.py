"""Checks of an `Experiment`'s fields, before anything runs.

A bad flag fails at once with its name, not after data preparation,
an evaluation or a training run.
"""

import dataclasses
import math
import numbers
import os

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import check_positive_number
from keras_lrm.arguments import check_rate
from keras_lrm.arguments import is_int
from keras_lrm.training.experiment_config import CORPORA
from keras_lrm.training.experiment_config import POLICIES
from keras_lrm.training.experiment_config import PRECISIONS
from keras_lrm.training.experiment_config import STRATEGIES
from keras_lrm.training.experiment_config import TOKENIZER_NAMES
from keras_lrm.training.experiment_config import VERBOSE

# Integer fields >= 1; every other integer field is >= 0.
POSITIVE = ("num_layers", "d_model", "num_heads", "d_ff", "batch_size",
            "segment_length", "eval_batch_size", "steps_per_execution",
            "save_every", "sample_tokens")
RATES = ("dropout", "attention_dropout")
FLOATS = ("float16", "bfloat16", "float32", "float64")
# Folders that must be named (an empty `export_dir` means "no export").
FOLDERS = ("data_dir", "checkpoint_dir", "log_dir")
# `keras.utils.set_random_seed` takes NumPy's seeds.
MAX_SEED = 2**32 - 1


def check_experiment(experiment):
    """Raises `ValueError` naming the first field (flag) out of range, or
    the fields that do not fit together."""
    _check_types(experiment)
    for field in dataclasses.fields(experiment):
        name, value = field.name, getattr(experiment, field.name)
        if field.type is not int:
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
    if not 0 <= experiment.clip_norm < math.inf:
        raise ValueError(
            "`clip_norm` must be a finite number >= 0 (0: no clipping). "
            f"Received: clip_norm={experiment.clip_norm!r}"
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
    verbose_value(experiment.verbose)
    _check_folders(experiment)
    _check_combinations(experiment)


def verbose_value(value):
    """Keras' `verbose` from the field or flag: "auto", 0, 1 or 2 (an int
    or its text); raises `ValueError` otherwise."""
    if isinstance(value, str) and value in ("0", "1", "2"):
        value = int(value)
    if (is_int(value) or isinstance(value, str)) and value in VERBOSE:
        return value if isinstance(value, str) else int(value)
    raise ValueError(
        '`verbose` must be "auto", 0 (silent), 1 (progress bar) or 2 (one '
        f"line per epoch). Received: verbose={value!r}"
    )


def _check_types(experiment):
    """Each field holds its declared type (a float field takes an int;
    `verbose` takes an int too)."""
    for field in dataclasses.fields(experiment):
        name, value = field.name, getattr(experiment, field.name)
        if field.type is bool:
            ok, wanted = isinstance(value, bool), "True or False"
        elif field.type is int:
            ok, wanted = is_int(value), "an integer"
        elif field.type is float:
            ok = isinstance(value, numbers.Real) and \
                not isinstance(value, bool)
            wanted = "a number"
        elif name == "verbose":
            continue
        else:
            ok, wanted = isinstance(value, str), "a string"
        if not ok:
            raise ValueError(
                f"`{name}` must be {wanted}. Received: {name}={value!r}"
            )


def _check_folders(experiment):
    name = experiment.name
    if not name or name in (".", "..") or "/" in name or \
            (os.sep != "/" and os.sep in name):
        # The name is a folder under checkpoint_dir, log_dir and export_dir:
        # "" or ".." would put a run's files into (or above) those folders.
        raise ValueError(
            "`name` must be a plain folder name (not empty, no '/', not "
            f"'.' or '..'). Received: name={name!r}"
        )
    for folder in FOLDERS:
        if not getattr(experiment, folder):
            raise ValueError(
                f"`{folder}` must name a folder. Received: {folder}=''"
            )


def _check_combinations(experiment):
    """What the model, the placement, the seed and the evaluation check
    when they run, checked now."""
    if experiment.seed > MAX_SEED:
        raise ValueError(
            f"`seed` must be <= {MAX_SEED}. Received: "
            f"seed={experiment.seed}"
        )
    d_model, num_heads = experiment.d_model, experiment.num_heads
    if d_model % num_heads or d_model % 2:
        # Keras is imported only to name the error.
        from keras_lrm.models.memory_transformer_lm import check_dimensions

        check_dimensions(d_model, num_heads)
    # `num_long` <= `num_layers`, as the placement checks it (the lengths,
    # >= 0, are checked above; evaluation lengths change no layer).
    if experiment.placement not in ("all", "none") and \
            experiment.num_long > experiment.num_layers:
        experiment.placement_for(
            experiment.long_length,
            experiment.short_length).memory_lengths(experiment.num_layers)
    if experiment.eval_tokens == 1:
        raise ValueError(
            "`eval_tokens` must be 0 (the whole split) or >= 2 (the first "
            "token is context only). Received: eval_tokens=1"
        )
    if experiment.tpu and experiment.strategy not in ("auto", "tpu"):
        raise ValueError(
            '`tpu` is used only with strategy "tpu" or "auto". Received: '
            f"tpu={experiment.tpu!r}, strategy={experiment.strategy!r}"
        )


def _check_precision(value):
    """One of `PRECISIONS`, or the name of another Keras dtype policy that
    computes in a floating type (what
    `keras.mixed_precision.set_dtype_policy` takes, quantized policies
    such as `"float8_e4m3fn"` aside)."""
    if value in PRECISIONS:
        return
    # Another name: what Keras makes of it (imported only then).
    import keras

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
