"""Checks of an `Experiment`'s fields, group by group, before anything runs.

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
from keras_lrm.policies import takes_count
from keras_lrm.training.choices import CORPORA
from keras_lrm.training.choices import DECAY_FORMS
from keras_lrm.training.choices import LAS_LAYERS
from keras_lrm.training.choices import POLICIES
from keras_lrm.training.choices import POOL_ORDERS
from keras_lrm.training.choices import PRECISIONS
from keras_lrm.training.choices import STRATEGIES
from keras_lrm.training.choices import TOKENIZER_NAMES
from keras_lrm.training.choices import VERBOSE

# Integer fields >= 1; every other integer field is >= 0.
POSITIVE = ("num_layers", "d_model", "num_heads", "d_ff", "batch_size",
            "segment_length", "bptt_segments", "eval_batch_size",
            "steps_per_execution",
            "save_every", "sample_tokens", "pool_size")
RATES = ("dropout", "attention_dropout")
FLOATS = ("float16", "bfloat16", "float32", "float64")
# `keras.utils.set_random_seed` takes NumPy's seeds.
MAX_SEED = 2**32 - 1


def check_experiment(experiment):
    """Raises `ValueError` naming the first field of `experiment` out of
    range (each group checks itself when it is made; this checks them
    again, after a field was set in place)."""
    check_name(experiment.name)
    check_data(experiment.data)
    check_model(experiment.model)
    check_training(experiment.training)
    check_evaluation(experiment.evaluation)
    check_output(experiment.output)
    check_together(experiment)


def check_together(experiment):
    """Raises `ValueError` for fields of different groups that do not fit
    together."""
    segment = experiment.training.segment_length
    evaluated = experiment.evaluation.eval_segment_length
    tokens = experiment.model.num_memory_tokens
    if tokens and evaluated % segment:
        # Memory tokens are read and written once per model segment: an
        # evaluation window must hold whole segments.
        raise ValueError(
            "`eval_segment_length` must be a multiple of `segment_length` "
            f"({segment}) with memory tokens (num_memory_tokens={tokens}): "
            "they are written once per segment. Received: "
            f"eval_segment_length={evaluated}"
        )


def check_data(config):
    """Raises `ValueError` naming the first field of a `DataConfig` out of
    range."""
    _check_fields(config)
    _check_choice(config, "corpus", CORPORA)
    _check_choice(config, "tokenizer", TOKENIZER_NAMES)
    _check_folder(config, "data_dir")


def check_model(config):
    """Raises `ValueError` naming the first field of a `ModelConfig` out
    of range, or the fields that do not fit together."""
    _check_fields(config)
    for name in RATES:
        check_rate(name, getattr(config, name))
    _check_choice(config, "placement", POLICIES)
    _check_choice(config, "decay_form", DECAY_FORMS)
    _check_choice(config, "pool_order", POOL_ORDERS)
    _check_choice(config, "las_layers", LAS_LAYERS)
    if config.decay_max < 0 or not math.isfinite(config.decay_max):
        raise ValueError(
            "`decay_max` must be a finite number >= 0 (0: no LaS decay). "
            f"Received: decay_max={config.decay_max!r}"
        )
    if config.init_std < 0 or not math.isfinite(config.init_std):
        raise ValueError(
            "`init_std` must be a finite number >= 0 (0: the model's "
            f"default). Received: init_std={config.init_std!r}"
        )
    d_model, num_heads = config.d_model, config.num_heads
    if d_model % num_heads or d_model % 2:
        # Keras is imported only to name the error.
        from keras_lrm.models.memory_transformer_lm import check_dimensions

        check_dimensions(d_model, num_heads)
    # `num_long` <= `num_layers`, as the placement checks it (the lengths,
    # >= 0, are checked above; evaluation lengths change no layer).
    if takes_count(config.placement) and \
            config.num_long > config.num_layers:
        config.placement_for(config.long_length, config.short_length) \
            .memory_lengths(config.num_layers)


def check_training(config):
    """Raises `ValueError` naming the first field of a `TrainingConfig`
    out of range, or the fields that do not fit together."""
    _check_fields(config)
    check_positive_number("learning_rate", config.learning_rate)
    ratio = config.min_learning_rate_ratio
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(
            "`min_learning_rate_ratio` must be in [0, 1]. Received: "
            f"min_learning_rate_ratio={ratio!r}"
        )
    if not 0 <= config.clip_norm < math.inf:
        raise ValueError(
            "`clip_norm` must be a finite number >= 0 (0: no clipping). "
            f"Received: clip_norm={config.clip_norm!r}"
        )
    if config.seed > MAX_SEED:
        raise ValueError(
            f"`seed` must be <= {MAX_SEED}. Received: seed={config.seed}"
        )
    if config.gradient_segments > config.bptt_segments:
        raise ValueError(
            "`gradient_segments` must be at most `bptt_segments` "
            f"({config.bptt_segments}), or 0 (all of them). Received: "
            f"gradient_segments={config.gradient_segments}"
        )
    _check_choice(config, "strategy", STRATEGIES)
    _check_precision(config.precision)
    if config.tpu and config.strategy not in ("auto", "tpu"):
        raise ValueError(
            '`tpu` is used only with strategy "tpu" or "auto". Received: '
            f"tpu={config.tpu!r}, strategy={config.strategy!r}"
        )


def check_evaluation(config):
    """Raises `ValueError` naming the first field of an
    `EvaluationConfig` out of range."""
    _check_fields(config)
    if config.eval_tokens == 1:
        raise ValueError(
            "`eval_tokens` must be 0 (the whole split) or >= 2 (the first "
            "token is context only). Received: eval_tokens=1"
        )


def check_output(config):
    """Raises `ValueError` naming the first field of an `OutputConfig` out
    of range."""
    _check_fields(config)
    verbose_value(config.verbose)
    for name in ("checkpoint_dir", "log_dir"):
        _check_folder(config, name)


def check_name(name):
    """Raises `ValueError` unless `name` is a plain folder name."""
    if not isinstance(name, str):
        raise ValueError(f"`name` must be a string. Received: name={name!r}")
    if not name or name in (".", "..") or "/" in name or \
            (os.sep != "/" and os.sep in name):
        # The name is a folder under checkpoint_dir, log_dir and export_dir:
        # "" or ".." would put a run's files into (or above) those folders.
        raise ValueError(
            "`name` must be a plain folder name (not empty, no '/', not "
            f"'.' or '..'). Received: name={name!r}"
        )


def _check_fields(config):
    """Each field holds its declared type, and each integer field is >= 1
    (`POSITIVE`) or >= 0."""
    _check_types(config)
    for field in dataclasses.fields(config):
        if field.type is not int:
            continue
        value = getattr(config, field.name)
        if field.name in POSITIVE:
            check_positive(field.name, value)
        else:
            check_non_negative(field.name, value)


def _check_choice(config, name, allowed):
    value = getattr(config, name)
    if value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {allowed}. Received: {name}={value!r}"
        )


def _check_folder(config, name):
    # An empty `export_dir` means "no export"; these must be named.
    if not getattr(config, name):
        raise ValueError(f"`{name}` must name a folder. Received: {name}=''")


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


def _check_types(config):
    """Each field holds its declared type (a float field takes an int;
    `verbose` takes an int too)."""
    for field in dataclasses.fields(config):
        name, value = field.name, getattr(config, field.name)
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
