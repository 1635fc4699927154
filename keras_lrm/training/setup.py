"""One set-up path for every run of an `Experiment`.

`run_experiment`, the memory search (`keras_lrm.tuning`) and the tests all
start the same way:

    with set_up(experiment) as run:       # seed, strategy, dtype policy
        manifest = run.manifest           # the prepared data
        with run.strategy.scope():
            model = build_model(experiment, manifest.vocab_size,
                                run.metric)   # a compiled `StatefulLM`

`set_up` sets Keras' global dtype policy for the run and restores the
previous one when the run ends (normally or by an error), so no run leaves
it changed.
"""

import contextlib
import dataclasses
import functools

import keras
import tensorflow as tf

from keras_lrm.data.corpora.registry import get_corpus
from keras_lrm.data.shards.preparation import prepare
from keras_lrm.data.streams.layouts import train_layout
from keras_lrm.data.streams.source import StreamSource
from keras_lrm.distribute import resolve_strategy
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.progress import resolve_verbose
from keras_lrm.training.experiment_config import MAX_BYTES_CORPORA
from keras_lrm.training.stateful_lm import StatefulLM


def precision_for(experiment, strategy):
    """The dtype policy: `precision`, or for "auto" `mixed_bfloat16` on a
    TPU and float32 elsewhere."""
    if experiment.training.precision != "auto":
        return experiment.training.precision
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    return "float32"


@contextlib.contextmanager
def dtype_policy(policy):
    """Keras' global dtype policy is `policy` inside the block and what it
    was before after it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_lm(experiment, vocab_size):
    """The `MemoryTransformerLM` an experiment describes."""
    model = experiment.model
    return MemoryTransformerLM(
        vocab_size=vocab_size,
        num_layers=model.num_layers,
        d_model=model.d_model,
        num_heads=model.num_heads,
        d_ff=model.d_ff,
        segment_length=experiment.training.segment_length,
        placement=model.placement_for(model.long_length, model.short_length),
        dropout=model.dropout,
        attention_dropout=model.attention_dropout,
        pre_norm=model.pre_norm,
        tie_embeddings=model.tie_embeddings,
        clamp_len=model.clamp_len or None,
        num_memory_tokens=model.num_memory_tokens,
        kernel_initializer=keras.initializers.RandomNormal(
            stddev=model.init_std) if model.init_std else None,
        **model.las_arguments(),
    )


def build_optimizer(experiment):
    """Adam, linear warm-up then cosine decay, global norm clipping."""
    training = experiment.training
    decay_steps = max(1, training.train_steps - training.warmup_steps)
    if training.warmup_steps:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps, alpha=training.min_learning_rate_ratio,
            warmup_target=training.learning_rate,
            warmup_steps=training.warmup_steps)
    else:
        schedule = keras.optimizers.schedules.CosineDecay(
            training.learning_rate, decay_steps,
            alpha=training.min_learning_rate_ratio)
    return keras.optimizers.Adam(schedule,
                                 global_clipnorm=training.clip_norm or None)


def build_model(experiment, vocab_size, metric="bpc"):
    """The experiment's `StatefulLM`, compiled with its optimizer (call it
    inside the run's strategy scope): `bptt_segments` segments per
    training window, the gradient through the last `gradient_segments`
    (0: all)."""
    training = experiment.training
    model = StatefulLM(build_lm(experiment, vocab_size), training.batch_size,
                       metric=metric, bptt_segments=training.bptt_segments,
                       gradient_segments=training.gradient_segments or None)
    model.compile(optimizer=build_optimizer(experiment),
                  jit_compile=training.jit_compile,
                  steps_per_execution=training.steps_per_execution)
    return model


def prepare_data(experiment):
    """Prepares (or finds already prepared) the experiment's TFRecords."""
    data = experiment.data
    options = {}
    if data.corpus in MAX_BYTES_CORPORA and data.corpus_max_bytes:
        options["max_bytes"] = data.corpus_max_bytes
    if data.corpus == "enwik8" and data.corpus_allow_short:
        options["allow_short"] = True
    corpus = get_corpus(data.corpus, data.corpus_path or None, **options)
    return prepare(corpus, data.tokenizer, output_dir=data.data_dir)


def metric_for(manifest):
    """Bits per byte for byte-level data, perplexity for words and pieces."""
    return "bpc" if manifest.tokenizer_config.get("name") == "bytes" \
        else "perplexity"


def verbose_for(experiment):
    """Keras' `verbose` from the flag, an int given as text or "auto":
    1 (a bar) in a terminal or notebook, else 2 (plain lines)."""
    value = experiment.output.verbose
    return resolve_verbose(int(value) if str(value).isdigit() else value)


@dataclasses.dataclass
class RunSetup:
    """What a run of `experiment` starts from (made by `set_up`).

    The data are prepared when `manifest` is first read, so a run can
    check its run folder first.

    Attributes:
        experiment: the `Experiment`.
        strategy: its `tf.distribute.Strategy`.
        policy: the name of the dtype policy set for the run.
    """

    experiment: object
    strategy: object
    policy: str

    @functools.cached_property
    def manifest(self):
        """The prepared data's `Manifest` (prepared on first use)."""
        return prepare_data(self.experiment)

    @property
    def metric(self):
        """`"bpc"` or `"perplexity"`, as the tokenizer scores."""
        return metric_for(self.manifest)

    @functools.cached_property
    def train_source(self):
        """The training split's `StreamSource`."""
        return StreamSource.from_manifest(self.manifest, "train")

    @functools.cached_property
    def train_layout(self):
        """The training streams' layout (`batch_size` streams of windows
        of `bptt_segments * segment_length` tokens)."""
        training = self.experiment.training
        return train_layout(self.train_source.num_tokens,
                            training.batch_size, training.segment_length,
                            bptt_segments=training.bptt_segments)

    def build_model(self):
        """`build_model` for this run's data (inside `strategy.scope()`)."""
        return build_model(self.experiment, self.manifest.vocab_size,
                           self.metric)


@contextlib.contextmanager
def set_up(experiment):
    """Seeds Keras, makes the strategy and sets the dtype policy for the
    block; yields the `RunSetup`. The previous global dtype policy is
    restored when the block ends."""
    training = experiment.training
    keras.utils.set_random_seed(training.seed)
    strategy = resolve_strategy(training.strategy, training.tpu or None)
    policy = precision_for(experiment, strategy)
    with dtype_policy(policy):
        yield RunSetup(experiment, strategy, policy)
