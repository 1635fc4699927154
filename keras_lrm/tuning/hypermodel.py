"""A KerasTuner hypermodel over where the long memories go and how long
every memory is."""

import dataclasses
import hashlib
import json

import keras
import keras_tuner
import tensorflow as tf

from keras_lrm.arguments import check_positive
from keras_lrm.policies import COUNTLESS_POLICIES
from keras_lrm.training.setup import build_lm
from keras_lrm.training.setup import build_model
from keras_lrm.training.stateful_lm import METRICS
from keras_lrm.training.stateful_lm import ResetMemory
from keras_lrm.tuning.space import SEARCHED
from keras_lrm.tuning.space import IntRange
from keras_lrm.tuning.space import check_search_space

_ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}


def state_bytes(memory_lengths, d_model, dtype="float32"):
    """Bytes of one stream's memory state: every layer's memory rows of
    `d_model` values in `dtype`, and the int32 `filled`.

    Kept for callers of the formula; the search reads a trial model's
    `state_spec().nbytes()` (`MemoryHyperModel.state_spec`), which also
    counts memory tokens.
    """
    itemsize = _ITEMSIZE[keras.backend.standardize_dtype(dtype)]
    return sum(memory_lengths) * d_model * itemsize + 4


def _register(hp, argument, values):
    """The value of `hp` for `argument` (a list of choices or an
    `IntRange`), registering its hyperparameter; `None` where inactive."""
    name = SEARCHED[argument][0]
    if isinstance(values, IntRange):
        value = hp.Int(name, values.min_value, values.max_value,
                       step=values.step, sampling=values.sampling)
        if value is None:
            return None
        # A grid over a log range gives floats (64.0); KerasTuner's
        # BayesianOptimization can give max_value + 1 (a probability of
        # exactly 1 on the `max_value + 1` scale of a stepless `hp.Int`).
        return min(max(int(value), values.min_value), values.max_value)
    value = hp.Choice(name, values)
    return None if value is None else int(value)


class MemoryHyperModel(keras_tuner.HyperModel):
    """Rae & Razavi's question as a search: which placement and which
    memory lengths give the best loss for a model.

    Each trial builds the `Experiment`'s model (`keras_lrm.training`) with a
    `Placement` whose policy, number of long memories and lengths are
    hyperparameters (and, when searched, its number of memory tokens),
    wraps it in a `StatefulLM` (memory carried from batch to batch) and
    trains it with `fit`, adding `ResetMemory` so that every epoch and
    every validation starts its streams empty. Search on the validation
    metric of the `StatefulLM`: `"val_bpc"` for bytes, `"val_perplexity"`
    for words (exact over the predicted tokens, where `val_loss` averages
    batches). `state_spec(hp).nbytes()` gives the cost the paper trades
    against the loss: the bytes of one stream's memory state. Each trial
    is seeded from the experiment's `seed` and its own values
    (`trial_seed`), so a trial scores the same in a search resumed after a
    kill as in one that ran through.

    Every searched value but the policy is a list of choices
    (`hp.Choice`) or a `keras_lrm.tuning.IntRange` (`hp.Int`): memory
    lengths on a log scale, as the paper swept the short memory from 32 to
    2048, counts on a linear one. Any KerasTuner tuner runs it
    (`RandomSearch`, `BayesianOptimization`, `Hyperband`, `GridSearch`;
    give a grid's ranges a `step`).

    Args:
        experiment: a `keras_lrm.training.Experiment` for everything but the
            placement (sizes, dropout, optimizer, `batch_size`,
            `jit_compile`, `steps_per_execution`, and `num_memory_tokens`
            unless searched).
        vocab_size: the tokenizer's vocabulary size.
        policies: placement policies to try (`Placement`'s; `"all"` and
            `"none"` take no `num_long`, `"all"` no short length, `"none"`
            no long length: those are not searched for them).
        num_long: numbers of long-memory layers to try (<= `num_layers`),
            or an `IntRange` of them.
        long_lengths: long memory lengths to try, or an `IntRange`.
        short_lengths: short memory lengths to try, or an `IntRange`
            (e.g. `IntRange(32, 2048)`, the paper's sweep).
        num_memory_tokens: `None` (the experiment's number, not searched),
            or numbers of memory tokens to try (0: none), or an `IntRange`
            of them.
        metric: `"bpc"` or `"perplexity"`, as `StatefulLM`.
        **kwargs: `keras_tuner.HyperModel` arguments (`name`, `tunable`).

    Example:

    >>> hypermodel = MemoryHyperModel(
    ...     experiment, 256, policies=["interleaved"], num_long=[1],
    ...     long_lengths=[2304], short_lengths=IntRange(32, 2048))
    >>> tuner = keras_tuner.RandomSearch(
    ...     hypermodel, objective=keras_tuner.Objective("val_bpc", "min"),
    ...     max_trials=8, directory="tuning")
    >>> tuner.search(train, epochs=1, steps_per_epoch=500,
    ...              validation_data=valid)

    Reference:
        Rae & Razavi, "Do Transformers Need Deep Long-Range Memory?",
        ACL 2020.
    """

    def __init__(self, experiment, vocab_size,
                 policies=("interleaved", "first", "last", "middle"),
                 num_long=(1,), long_lengths=(512,), short_lengths=(128,),
                 num_memory_tokens=None, metric="bpc", **kwargs):
        super().__init__(**kwargs)
        space = check_search_space(experiment, policies=policies,
                                   num_long=num_long,
                                   long_lengths=long_lengths,
                                   short_lengths=short_lengths,
                                   num_memory_tokens=num_memory_tokens)
        self.experiment = experiment
        self.vocab_size = check_positive("vocab_size", vocab_size)
        self.policies = space["policies"]
        self.num_long = space["num_long"]
        self.long_lengths = space["long_lengths"]
        self.short_lengths = space["short_lengths"]
        self.num_memory_tokens = space["num_memory_tokens"]
        if metric not in METRICS:
            # Checked here: in `build` it would fail every trial in turn.
            raise ValueError(
                f"`metric` must be one of {tuple(METRICS)}. Received: "
                f"metric={metric!r}"
            )
        self.metric = metric

    def trial_experiment(self, hp):
        """The trial's `Experiment` and `Placement`: this hypermodel's
        experiment with the placement and lengths of `hp` (registering
        them as hyperparameters).

        `num_long`, `long_length` and `short_length` are conditional on the
        policies that use them (`"all"` has no short memory, `"none"` no
        long one, and neither a count), so a search does not spend trials
        on one placement under values it ignores.
        """
        experiment = dataclasses.replace(self.experiment,
                                         **self._trial_changes(hp))
        model = experiment.model
        return experiment, model.placement_for(model.long_length,
                                               model.short_length)

    def state_spec(self, hp, form="memory"):
        """The `StateSpec` of the trial `hp`'s model (built without its
        weights, in the current dtype policy): `.nbytes()` is what one
        stream's memory state costs."""
        experiment, _ = self.trial_experiment(hp)
        return build_lm(experiment, self.vocab_size).state_spec(form)

    def trial_seed(self, hp):
        """The random seed of the trial `hp` stands for: a hash of the
        experiment's `seed` and the trial's values (registering them).

        The same values build and train the same model whatever ran
        before them in the process, so a search resumed after a kill
        scores a trial as an uninterrupted search does.
        """
        changes = self._trial_changes(hp)
        text = json.dumps([self.experiment.training.seed, changes],
                          sort_keys=True)
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "big")

    def _trial_changes(self, hp):
        """The experiment fields `hp` sets: the policy and the values
        that policy uses."""
        policy = hp.Choice("policy", self.policies)
        changes = {"placement": policy}
        for argument, skip in (("num_long", COUNTLESS_POLICIES),
                               ("long_lengths", ("none",)),
                               ("short_lengths", ("all",))):
            users = [p for p in self.policies if p not in skip]
            if not users:
                continue
            with hp.conditional_scope("policy", users):
                value = _register(hp, argument, getattr(self, argument))
            if value is not None:
                changes[SEARCHED[argument][0]] = value
        if self.num_memory_tokens is not None:
            changes["num_memory_tokens"] = _register(
                hp, "num_memory_tokens", self.num_memory_tokens)
        return changes

    def build(self, hp):
        # Seeded per trial (weights, dropout), not once per process.
        keras.utils.set_random_seed(self.trial_seed(hp))
        experiment, _ = self.trial_experiment(hp)
        # The model `run_experiment` trains, with the trial's placement.
        return build_model(experiment, self.vocab_size, self.metric)

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        callbacks = list(callbacks or [])
        keras.utils.set_random_seed(self.trial_seed(hp))
        if not any(isinstance(c, ResetMemory) for c in callbacks):
            callbacks.append(ResetMemory())
        initial_epoch = kwargs.get("initial_epoch") or 0
        steps = kwargs.get("steps_per_epoch")
        if initial_epoch and steps:
            # A Hyperband trial that continues an earlier one (its weights
            # reloaded, its optimizer new) goes on with the learning-rate
            # schedule where that one stopped, not from the warm-up.
            model.optimizer.iterations.assign(initial_epoch * steps)
        try:
            return model.fit(*args, callbacks=callbacks, **kwargs)
        except tf.errors.DataLossError as error:
            # A damaged shard fails every trial alike: stop the search
            # (`run_search` then names the shard).
            raise keras_tuner.errors.FatalError(str(error)) from error
