"""A memory search on prepared data: the `recipes/tune.py` job."""

import hashlib
import inspect
import json
import logging
import os

import keras
import keras_tuner
import tensorflow as tf

from keras_lrm.arguments import check_positive
from keras_lrm.data.files.temporaries import atomic_write
from keras_lrm.data.files.temporaries import remove_temp_files
from keras_lrm.data.shards.manifest import naming_damaged_shards
from keras_lrm.data.streams.distribution import distribute_streams
from keras_lrm.data.streams.layouts import eval_layout
from keras_lrm.data.streams.source import StreamSource
from keras_lrm.distribute import choose
from keras_lrm.training.setup import set_up
from keras_lrm.training.setup import verbose_for
from keras_lrm.tuning.hypermodel import MemoryHyperModel
from keras_lrm.tuning.hypermodel import check_search_space
from keras_lrm.tuning.hypermodel import state_bytes

RESULTS_FILE = "tuning.json"
RESULTS_KEYS = {"metric", "train_steps", "valid_tokens", "trials"}
SEARCH_SPACE = ("policies", "num_long", "long_lengths", "short_lengths")
DEFAULT_SPACE = {
    name: parameter.default for name, parameter in
    inspect.signature(MemoryHyperModel.__init__).parameters.items()
    if name in SEARCH_SPACE}


def run_search(experiment, max_trials=8, **choices):
    """Searches placements and memory lengths; returns every trial, best
    first (also written to `<checkpoint_dir>/<name>/tuning.json`).

    Each trial trains the experiment's model for `train_steps` windows (at
    most one pass over the training split) and is scored on the validation
    split (its first `eval_tokens` tokens, or all of it), memory carried,
    every token once. The tuner's own state lives in
    `<checkpoint_dir>/<name>/tuner-<hash of the settings>/`: a rerun with
    the same settings continues the search where it stopped; other
    settings start another search. One worker (a TPU, GPUs or a CPU).

    Args:
        experiment: a `keras_lrm.training.Experiment`.
        max_trials: trials to run.
        **choices: `MemoryHyperModel`'s `policies`, `num_long`,
            `long_lengths`, `short_lengths`.

    Raises:
        ValueError: before any data are prepared, for a bad `max_trials`
            or choice, or a `tuning.json` in the run's folder that a
            search did not write (it is never replaced); after, for a
            tuner state that cannot be read (a kill while KerasTuner wrote
            it), naming its folder.
    """
    check_positive("max_trials", max_trials)
    unknown = sorted(set(choices) - set(SEARCH_SPACE))
    if unknown:
        raise ValueError(
            f"`run_search` takes the choices {SEARCH_SPACE}. Received: "
            f"{', '.join(f'{name}={choices[name]!r}' for name in unknown)}"
        )
    # Checked before the data are prepared (the hypermodel checks them
    # again): a bad choice fails at once.
    check_search_space(experiment, **{**DEFAULT_SPACE, **choices})
    results_path = os.path.join(experiment.run_dir, RESULTS_FILE)
    check_results_file(results_path)
    # Before the strategy is made ("multiworker" would wait for its
    # workers) and before the data are prepared.
    if choose(experiment.training.strategy) == "multiworker":
        raise ValueError(
            "A search runs on one worker (TPU, GPUs or CPU): KerasTuner "
            "spreads trials over machines itself (its KERASTUNER_* "
            "variables). Received: strategy="
            + repr(experiment.training.strategy)
        )
    with set_up(experiment) as run:
        results = _search(experiment, run, max_trials, choices)
    atomic_write(results_path, json.dumps(results, indent=2))
    _print_table(results["trials"], results["metric"])
    return results


def _search(experiment, run, max_trials, choices):
    """Runs the search set up by `run`; returns the results."""
    training = experiment.training
    strategy, manifest, metric = run.strategy, run.manifest, run.metric
    hypermodel = MemoryHyperModel(experiment, manifest.vocab_size,
                                  metric=metric, **choices)
    train_source, layout = run.train_source, run.train_layout
    steps = min(training.train_steps, layout.num_windows)
    if steps < training.train_steps:
        logging.warning("Each trial trains %d steps (one pass), not %d.",
                        steps, training.train_steps)
    valid_source = StreamSource.from_manifest(manifest, "valid")
    valid_tokens = min(
        experiment.evaluation.eval_tokens or valid_source.num_tokens,
        valid_source.num_tokens)
    # The StatefulLM's batch is fixed: validation reads as many streams.
    valid_layout = eval_layout(valid_tokens, training.batch_size,
                               training.segment_length)
    project = project_name(experiment, hypermodel)
    folder = os.path.join(experiment.run_dir, project)
    resuming = tf.io.gfile.exists(folder)
    try:
        # Never `overwrite=True`: KerasTuner would remove the folder. A
        # rerun with the same settings reloads it and retries the trial a
        # kill interrupted.
        tuner = keras_tuner.RandomSearch(
            hypermodel,
            objective=keras_tuner.Objective(f"val_{metric}", "min"),
            max_trials=max_trials, seed=training.seed,
            distribution_strategy=strategy,
            directory=experiment.run_dir, project_name=project)
    except (ValueError, KeyError, RuntimeError) as error:
        if not resuming:
            raise
        raise ValueError(
            f"The tuner's state in {folder} cannot be read (KerasTuner "
            "writes its JSON files in place: was a run killed while "
            "writing one?). Move that folder away to start this search "
            f"again. Received: {type(error).__name__}: {error}"
        ) from error
    with naming_damaged_shards(manifest):
        tuner.search(
            distribute_streams(strategy, train_source, layout), epochs=1,
            steps_per_epoch=steps, shuffle=False,
            validation_data=distribute_streams(strategy, valid_source,
                                               valid_layout),
            validation_steps=valid_layout.num_windows,
            verbose=verbose_for(experiment))
    trials = [_trial_record(trial, hypermodel, metric, run.policy)
              for trial in tuner.oracle.get_best_trials(max_trials)]
    return {"metric": metric, "train_steps": steps,
            "valid_tokens": valid_tokens, "trials": trials}


def check_results_file(path):
    """Raises `ValueError` if a file at `path` is not a `tuning.json` a
    search wrote (it is replaced only then); removes the temporaries of
    one that a killed run left beside it (and only those)."""
    folder, name = os.path.split(path)
    remove_temp_files(folder, {name})
    if not tf.io.gfile.exists(path):
        return
    try:
        with tf.io.gfile.GFile(path) as f:
            saved = json.loads(f.read())
        ours = isinstance(saved, dict) and RESULTS_KEYS <= set(saved)
    except (ValueError, UnicodeDecodeError, tf.errors.OpError):
        ours = False
    if not ours:
        raise ValueError(
            f"{path} is not the results of a memory search (JSON with "
            f"{sorted(RESULTS_KEYS)}), so it is not replaced. Move it "
            f"away, or give another `name`. Received: path={path!r}"
        )


def project_name(experiment, hypermodel):
    """`tuner-<hash>` of what a trial depends on: a rerun with the same
    settings continues its search, one with other settings (a length to
    try, a model size, the steps) starts its own."""
    # The flat fields, as before the fields were grouped: a search
    # started then is resumed.
    settings = experiment.flat_dict()
    for name in ("verbose", "checkpoint_dir", "log_dir", "export_dir",
                 "sample_prompt", "sample_tokens", "save_every"):
        settings.pop(name)
    settings["choices"] = [hypermodel.policies, hypermodel.num_long,
                           hypermodel.long_lengths, hypermodel.short_lengths]
    # The shape of the search space: 2 since its lengths and count became
    # conditional on the policy. A tuner saved with another shape would
    # mix the two and repeat trials, so it is not resumed.
    settings["space"] = 2
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    return f"tuner-{digest.hexdigest()[:12]}"


def _trial_record(trial, hypermodel, metric, policy):
    values = dict(trial.hyperparameters.values)
    experiment, placement = hypermodel.trial_experiment(
        trial.hyperparameters)
    lengths = placement.memory_lengths(experiment.model.num_layers)
    dtype = keras.mixed_precision.Policy(policy).compute_dtype
    return {"trial": trial.trial_id, metric: trial.score,
            "hyperparameters": values, "memory_lengths": lengths,
            "state_bytes": state_bytes(lengths, experiment.model.d_model,
                                       dtype)}


def _print_table(trials, metric):
    print(f"{'valid ' + metric:>12}  {'state KiB':>9}  memory lengths  "
          "(best first)", flush=True)
    for trial in trials:
        score = trial[metric]
        shown = "failed" if score is None else f"{score:.4f}"
        print(f"{shown:>12}  {trial['state_bytes'] / 1024:9.1f}  "
              f"{trial['memory_lengths']}", flush=True)

