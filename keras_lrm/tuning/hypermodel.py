"""A KerasTuner hypermodel over where the long memories go and how long
every memory is."""

import dataclasses
import hashlib
import json

import keras
import keras_tuner
import tensorflow as tf

from keras_lrm.arguments import check_positive
from keras_lrm.arguments import is_int
from keras_lrm.policies import COUNTLESS_POLICIES
from keras_lrm.policies import POLICIES
from keras_lrm.training.experiment_config import Experiment
from keras_lrm.training.setup import build_model
from keras_lrm.training.stateful_lm import METRICS
from keras_lrm.training.stateful_lm import ResetMemory


def _check_choices(name, given, allowed=None):
    """`given` as a list of plain values (ints >= 0, or names from
    `allowed`); raises `ValueError` naming `name` otherwise."""
    values = list(given) if isinstance(given, (list, tuple)) else []
    if allowed is None:
        bad = [v for v in values if not is_int(v) or v < 0]
        values = [int(v) for v in values if is_int(v)]
    else:
        bad = [v for v in values if v not in allowed]
    if not values or bad or len(set(values)) != len(values):
        wanted = f"values from {allowed}" if allowed is not None \
            else "integers >= 0"
        raise ValueError(
            f"`{name}` must be a non-empty list of distinct {wanted}. "
            f"Received: {name}={given!r}"
        )
    return values


def check_search_space(experiment, policies, num_long, long_lengths,
                       short_lengths, prefix=""):
    """The choices of a `MemoryHyperModel` for `experiment`, checked:
    returns them as a dict of plain lists.

    Raises `ValueError` naming the argument (with `prefix`, e.g.
    `"search_"` for a recipe's `--search_policies`) and what it expected.
    """
    if not isinstance(experiment, Experiment):
        raise ValueError(
            "`experiment` must be a keras_lrm.training.Experiment. "
            f"Received: experiment={experiment!r}"
        )
    space = {
        "policies": _check_choices(prefix + "policies", policies, POLICIES),
        "num_long": _check_choices(prefix + "num_long", num_long),
        "long_lengths": _check_choices(prefix + "long_lengths",
                                       long_lengths),
        "short_lengths": _check_choices(prefix + "short_lengths",
                                        short_lengths),
    }
    num_layers = experiment.model.num_layers
    if max(space["num_long"]) > num_layers:
        name = prefix + "num_long"
        raise ValueError(
            f"`{name}` must be <= num_layers={num_layers}. "
            f"Received: {name}={space['num_long']!r}"
        )
    return space


_ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}


def state_bytes(memory_lengths, d_model, dtype="float32"):
    """Bytes of one stream's memory state: every layer's memory rows of
    `d_model` values in `dtype`, and the int32 `filled`."""
    itemsize = _ITEMSIZE[keras.backend.standardize_dtype(dtype)]
    return sum(memory_lengths) * d_model * itemsize + 4


class MemoryHyperModel(keras_tuner.HyperModel):
    """Rae & Razavi's question as a search: which placement and which
    memory lengths give the best loss for a model.

    Each trial builds the `Experiment`'s model (`keras_lrm.training`) with a
    `Placement` whose policy, number of long memories and lengths are
    hyperparameters, wraps it in a `StatefulLM` (memory carried from batch
    to batch) and trains it with `fit`, adding `ResetMemory` so that every
    epoch and every validation starts its streams empty. Search on the
    validation metric of the `StatefulLM`: `"val_bpc"` for bytes,
    `"val_perplexity"` for words (exact over the predicted tokens, where
    `val_loss` averages batches). `state_bytes` gives the cost the paper
    trades against the loss: the bytes of one stream's memory state.
    Each trial is seeded from the experiment's `seed` and its own values
    (`trial_seed`), so a trial scores the same in a search resumed after
    a kill as in one that ran through.

    Args:
        experiment: a `keras_lrm.training.Experiment` for everything but the
            placement (sizes, dropout, optimizer, `batch_size`,
            `jit_compile`, `steps_per_execution`).
        vocab_size: the tokenizer's vocabulary size.
        policies: placement policies to try (`Placement`'s; `"all"` and
            `"none"` take no `num_long`, `"all"` no short length, `"none"`
            no long length: those are not searched for them).
        num_long: numbers of long-memory layers to try (<= `num_layers`).
        long_lengths: long memory lengths to try.
        short_lengths: short memory lengths to try.
        metric: `"bpc"` or `"perplexity"`, as `StatefulLM`.
        **kwargs: `keras_tuner.HyperModel` arguments (`name`, `tunable`).

    Example:

    >>> hypermodel = MemoryHyperModel(experiment, 256, num_long=[1, 2],
    ...                               long_lengths=[512, 1024])
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
                 metric="bpc", **kwargs):
        super().__init__(**kwargs)
        space = check_search_space(experiment, policies=policies,
                                   num_long=num_long,
                                   long_lengths=long_lengths,
                                   short_lengths=short_lengths)
        self.experiment = experiment
        self.vocab_size = check_positive("vocab_size", vocab_size)
        self.policies = space["policies"]
        self.num_long = space["num_long"]
        self.long_lengths = space["long_lengths"]
        self.short_lengths = space["short_lengths"]
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
        for name, choices, skip in (
                ("num_long", self.num_long, COUNTLESS_POLICIES),
                ("long_length", self.long_lengths, ("none",)),
                ("short_length", self.short_lengths, ("all",))):
            users = [p for p in self.policies if p not in skip]
            if not users:
                continue
            with hp.conditional_scope("policy", users):
                value = hp.Choice(name, choices)
            if value is not None:
                changes[name] = value
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
        try:
            return model.fit(*args, callbacks=callbacks, **kwargs)
        except tf.errors.DataLossError as error:
            # A damaged shard fails every trial alike: stop the search
            # (`run_search` then names the shard).
            raise keras_tuner.errors.FatalError(str(error)) from error
