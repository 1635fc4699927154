"""The five groups of an `Experiment`'s fields, one dataclass per concern.

`DataConfig`, `ModelConfig`, `TrainingConfig`, `EvaluationConfig` and
`OutputConfig` each check their own fields when made (`ValueError` naming
the first one out of range). Every field is a recipe flag: its `help` (and
`choices`) metadata is what `--help` prints. Imports neither TensorFlow nor
Keras (see `experiment_config`).
"""

import dataclasses

from keras_lrm import policies
from keras_lrm.training import experiment_checks
from keras_lrm.training.choices import ALLOW_SHORT_CORPORA  # noqa: F401
from keras_lrm.training.choices import CORPORA
from keras_lrm.training.choices import DECAY_FORMS
from keras_lrm.training.choices import LAS_LAYERS
from keras_lrm.training.choices import MAX_BYTES_CORPORA
from keras_lrm.training.choices import POLICIES
from keras_lrm.training.choices import POOL_ORDERS
from keras_lrm.training.choices import PRECISIONS
from keras_lrm.training.choices import STRATEGIES
from keras_lrm.training.choices import TOKENIZER_NAMES
from keras_lrm.training.choices import VERBOSE


def flag_field(default, help, choices=None):
    """A dataclass field with its flag's help (and the values it takes)."""
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


def _checked(check_name):
    """`__post_init__` running `experiment_checks.<check_name>`."""

    def __post_init__(self):
        getattr(experiment_checks, check_name)(self)

    return __post_init__


@dataclasses.dataclass
class DataConfig:
    """The text to train on, its tokenizer and its prepared TFRecords."""

    corpus: str = flag_field("stdlib", "the text to train on", CORPORA)
    corpus_path: str = flag_field(
        "", "the corpus's local data: the enwik8 file or zip, the "
        "wikitext-103 folder, a TFDS data_dir (pg19, tiny_shakespeare), a "
        "text file, folder or glob (text), a folder of .py files (stdlib); "
        "'': the stdlib corpus reads this Python's standard library")
    corpus_max_bytes: int = flag_field(
        0, "at most this many bytes per split, whole files first "
        f"({' and '.join(MAX_BYTES_CORPORA)} corpora only); 0: no limit")
    corpus_allow_short: bool = flag_field(
        False, "cut an enwik8 file shorter than 10^8 bytes 90/5/5 instead "
        "of refusing it (enwik8 corpus only)")
    tokenizer: str = flag_field(
        "bytes", "bytes (256 symbols, scored in bits per byte) or words (a "
        "vocabulary of the training split, scored in perplexity)",
        TOKENIZER_NAMES)
    data_dir: str = flag_field(
        "tfrecords", "folder of the prepared TFRecords (local or gs://)")

    __post_init__ = _checked("check_data")


@dataclasses.dataclass
class ModelConfig:
    """The model's sizes and which layers keep which memory length."""

    num_layers: int = flag_field(6, "transformer layers")
    d_model: int = flag_field(
        256, "model width (even, and divisible by num_heads)")
    num_heads: int = flag_field(4, "attention heads")
    d_ff: int = flag_field(1024, "feed-forward width")
    dropout: float = flag_field(0.1, "dropout rate, in [0, 1)")
    attention_dropout: float = flag_field(
        0.0, "dropout rate of the attention probabilities, in [0, 1)")
    pre_norm: bool = flag_field(
        False, "layer normalization before each sublayer (--no-pre_norm: "
        "after it, as Transformer-XL)")
    tie_embeddings: bool = flag_field(
        True, "the output layer shares the embedding matrix")
    clamp_len: int = flag_field(
        0, "relative distances beyond this share one position encoding "
        "(Transformer-XL's clamp_len); 0: no clamping")
    placement: str = flag_field(
        "interleaved", "which layers keep the long memory: all "
        "(Transformer-XL), none, or num_long layers interleaved (evenly "
        "spaced, top layer included), first, last or middle", POLICIES)
    num_long: int = flag_field(
        1, "layers with a long memory (placements interleaved, first, "
        "last, middle)")
    long_length: int = flag_field(
        512, "memory length (tokens) of the long-memory layers")
    short_length: int = flag_field(
        128, "memory length (tokens) of the other layers")
    decay_max: float = flag_field(
        0.0, "LaS locality: the largest per-head decay of the attention "
        "scores with distance (Zimerman & Wolf); 0: none")
    pool_size: int = flag_field(
        1, "LaS smoothness: width of the average pool along each "
        "attention row; 1: none")
    decay_form: str = flag_field(
        "multiplicative", "LaS decay form: multiplicative (the paper's) "
        "or additive (ALiBi-like)", DECAY_FORMS)
    pool_order: str = flag_field(
        "after_softmax", "LaS pooling of the probabilities (after the "
        "softmax, the paper's) or of the scores (before it)", POOL_ORDERS)
    las_layers: str = flag_field(
        "all", "the layers that get LaS (--decay_max, --pool_size): all, "
        "short (the short-memory layers) or long", LAS_LAYERS)
    num_memory_tokens: int = flag_field(
        0, "memory tokens (Recurrent Memory Transformer): a learned state "
        "of this many vectors, read at the start of each segment and "
        "written at its end, trained with gradients through "
        "--bptt_segments segments; with placement none, RMT alone, else "
        "RMT + Transformer-XL; 0: none")
    init_std: float = flag_field(
        0.0, "std of the normal initializer of every kernel of the stack; "
        "0: the model's default (0.02, Transformer-XL's)")

    __post_init__ = _checked("check_model")

    def las_arguments(self):
        """`MemoryTransformerLM`'s LaS arguments: per layer where
        `las_layers` picks some of them."""
        decay = self.decay_max or None
        arguments = {"decay_max": decay, "pool_size": self.pool_size,
                     "decay_form": self.decay_form,
                     "pool_order": self.pool_order}
        if self.las_layers == "all" or (decay is None
                                        and self.pool_size == 1):
            return arguments
        placement = self.placement_for(self.long_length, self.short_length)
        long_layers = set(placement.long_layers(self.num_layers))
        chosen = [(index in long_layers) == (self.las_layers == "long")
                  for index in range(self.num_layers)]
        arguments["decay_max"] = [decay if on else None for on in chosen]
        arguments["pool_size"] = [self.pool_size if on else 1
                                  for on in chosen]
        return arguments

    def placement_for(self, long_length, short_length):
        """The `Placement` of this model, with these memory lengths."""
        from keras_lrm.placement import Placement

        num_long = self.num_long if policies.takes_count(self.placement) \
            else None
        return Placement(self.placement, num_long, long_length, short_length)


@dataclasses.dataclass
class TrainingConfig:
    """The batches, the optimizer, the seed and the hardware of training."""

    batch_size: int = flag_field(
        8, "streams per batch, each carrying its memory from step to step")
    segment_length: int = flag_field(
        128, "tokens per segment (a training step reads bptt_segments of "
        "them per stream; memory tokens are written once per segment)")
    bptt_segments: int = flag_field(
        1, "segments per training step (K): each step reads a window of "
        "K * segment_length tokens per stream, segment by segment with "
        "the state carried between them, and backpropagates through the "
        "memory tokens across them")
    gradient_segments: int = flag_field(
        0, "truncated backpropagation: the gradient through the memory "
        "tokens stops at the start of the last this many of the "
        "bptt_segments segments of a step; 0: all of them")
    train_steps: int = flag_field(1000, "training steps")
    learning_rate: float = flag_field(2.5e-4, "peak Adam learning rate")
    warmup_steps: int = flag_field(
        0, "steps of linear warm-up before the cosine decay; 0: none")
    min_learning_rate_ratio: float = flag_field(
        0.0, "final learning rate of the cosine decay, as a fraction of "
        "learning_rate, in [0, 1]")
    clip_norm: float = flag_field(
        0.25, "clip gradients to this global norm (under a strategy Keras "
        "clips each replica's part before summing them); 0: no clipping")
    seed: int = flag_field(
        0, "random seed (weights, dropout, the sample), 0 to 2**32-1")
    strategy: str = flag_field(
        "auto", "distribution: auto (a TPU, TF_CONFIG's workers or several "
        "GPUs when there are, else one device), tpu, multiworker, mirrored "
        "or cpu", STRATEGIES)
    tpu: str = flag_field(
        "", "TPU name or address, with strategy tpu or auto; '': found "
        "from the environment")
    precision: str = flag_field(
        "auto", "Keras dtype policy (or another floating one); auto: "
        "mixed_bfloat16 on a TPU, float32 elsewhere", PRECISIONS)
    jit_compile: bool = flag_field(
        True, "compile the training and evaluation steps with XLA")
    steps_per_execution: int = flag_field(
        1, "training steps per call of the compiled step function")

    __post_init__ = _checked("check_training")


@dataclasses.dataclass
class EvaluationConfig:
    """How the validation (and test) splits are read and scored."""

    eval_long_length: int = flag_field(
        0, "long memory length at evaluation; 0: long_length")
    eval_short_length: int = flag_field(
        0, "short memory length at evaluation; 0: short_length")
    eval_batch_size: int = flag_field(8, "streams per evaluation batch")
    eval_segment_length: int = flag_field(
        0, "tokens per evaluation segment (with memory tokens, a multiple "
        "of segment_length); 0: segment_length")
    eval_tokens: int = flag_field(
        0, "tokens of each evaluated split (>= 2); 0: the whole split")
    test: bool = flag_field(False, "also evaluate the test split at the end")

    __post_init__ = _checked("check_evaluation")


@dataclasses.dataclass
class OutputConfig:
    """Where a run's files go, what it exports and samples, what it prints."""

    checkpoint_dir: str = flag_field(
        "checkpoints", "folder of the run folders (checkpoints, "
        "model.keras, tokenizer/, results.json)")
    log_dir: str = flag_field("logs", "folder of the TensorBoard logs")
    save_every: int = flag_field(500, "checkpoint every this many steps")
    export_dir: str = flag_field(
        "saved_models", "folder of the SavedModel export; '': no export")
    sample_prompt: str = flag_field(
        "", "after the export, generate a sample from this prompt; '': "
        "no sample")
    sample_tokens: int = flag_field(200, "tokens of the sample")
    verbose: str = flag_field(
        "auto", "progress: 0 (silent), 1 (a bar), 2 (a plain line every "
        "twentieth of training) or auto (1 in a terminal or notebook, "
        "else 2)", VERBOSE)

    __post_init__ = _checked("check_output")


# Group attribute -> its class, in `--help` order.
GROUPS = {"data": DataConfig, "model": ModelConfig,
          "training": TrainingConfig, "evaluation": EvaluationConfig,
          "output": OutputConfig}
# Flag (field) name -> the group that holds it.
GROUP_OF = {field.name: group for group, cls in GROUPS.items()
            for field in dataclasses.fields(cls)}

