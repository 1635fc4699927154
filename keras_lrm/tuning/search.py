"""A memory search on prepared data: the `recipes/tune.py` job."""

import hashlib
import importlib.util
import inspect
import json
import logging
import os

import keras_tuner
import tensorflow as tf

from keras_lrm.arguments import check_positive
from keras_lrm.arguments import is_int
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
from keras_lrm.tuning.report import write_csv
from keras_lrm.tuning.report import write_figure
from keras_lrm.tuning.space import INTEGER_HPS
from keras_lrm.tuning.space import IntRange
from keras_lrm.tuning.space import check_search_space
from keras_lrm.tuning.space import space_json

RESULTS_FILE = "tuning.json"
# The trials as a table, and the paper's Figure 4 (metric against the
# short memory length), beside RESULTS_FILE.
TRIALS_FILE = "trials.csv"
FIGURE_FILE = "figure4_srm_length.png"
RESULTS_KEYS = {"metric", "train_steps", "valid_tokens", "trials"}
SEARCH_SPACE = ("policies", "num_long", "long_lengths", "short_lengths",
                "num_memory_tokens")
# `run_search`'s `tuner`: KerasTuner's own tuners.
TUNERS = {"random": keras_tuner.RandomSearch,
          "bayesian": keras_tuner.BayesianOptimization,
          "hyperband": keras_tuner.Hyperband,
          "grid": keras_tuner.GridSearch}
# Experiment fields newer than the search's hash, with their defaults.
LATER_FIELDS = {"num_memory_tokens": 0, "bptt_segments": 1,
                "gradient_segments": 0, "init_std": 0.0}
DEFAULT_SPACE = {
    name: parameter.default for name, parameter in
    inspect.signature(MemoryHyperModel.__init__).parameters.items()
    if name in SEARCH_SPACE}


def run_search(experiment, max_trials=8, tuner="random",
               hyperband_max_epochs=3, hyperband_factor=3, **choices):
    """Searches placements and memory lengths; returns every trial, best
    first.

    Each trial trains the experiment's model for `train_steps` windows (at
    most one pass over the training split) and is scored on the validation
    split (its first `eval_tokens` tokens, or all of it), memory carried,
    every token once. The tuner's own state lives in
    `<checkpoint_dir>/<name>/tuner-<hash of the settings>/`: a rerun with
    the same settings continues the search where it stopped; other
    settings start another search. One worker (a TPU, GPUs or a CPU).

    Writes, in `<checkpoint_dir>/<name>/` (each through a temporary name):
    `tuning.json` (the results returned), `trials.csv` (every trial: its
    hyperparameters, validation metric, memory lengths and bytes of state)
    and `figure4_srm_length.png` (the validation metric against the short
    memory length on a log axis, as the paper's Figure 4).

    Args:
        experiment: a `keras_lrm.training.Experiment`.
        max_trials: trials to run (Hyperband's too: its schedule decides
            each trial's epochs, `max_trials` caps their number).
        tuner: KerasTuner's `"random"` (`RandomSearch`), `"bayesian"`
            (`BayesianOptimization`), `"hyperband"` (`Hyperband`) or
            `"grid"` (`GridSearch`: every `IntRange` without a `step`
            takes one, 2 on a log scale, so 32, 64, ..., 2048, and 1 on a
            linear one).
        hyperband_max_epochs: with `tuner="hyperband"`, the epochs of its
            longest trials; an epoch is `train_steps // hyperband_max_epochs`
            steps, so that those train `train_steps` steps as a trial of
            the other tuners does.
        hyperband_factor: with `tuner="hyperband"`, its reduction factor.
        **choices: `MemoryHyperModel`'s `policies`, `num_long`,
            `long_lengths`, `short_lengths` (each a list of choices or,
            but `policies`, an `IntRange`) and `num_memory_tokens`.

    Raises:
        ValueError: before any data are prepared, for a bad `max_trials`,
            `tuner` or choice, or a `tuning.json` in the run's folder that
            a search did not write (it is never replaced); after, for a
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
    space = check_search_space(experiment, **{**DEFAULT_SPACE, **choices})
    check_tuner(tuner, hyperband_max_epochs, hyperband_factor,
                experiment)
    if tuner == "grid":
        space = {name: values.for_grid() if isinstance(values, IntRange)
                 else values for name, values in space.items()}
    results_path = os.path.join(experiment.run_dir, RESULTS_FILE)
    check_results_file(results_path)
    remove_temp_files(experiment.run_dir, {TRIALS_FILE, FIGURE_FILE})
    # Before the strategy is made ("multiworker" would wait for its
    # workers) and before the data are prepared.
    if choose(experiment.training.strategy) == "multiworker":
        raise ValueError(
            "A search runs on one worker (TPU, GPUs or CPU): KerasTuner "
            "spreads trials over machines itself (its KERASTUNER_* "
            "variables). Received: strategy="
            + repr(experiment.training.strategy)
        )
    options = dict(tuner=tuner, max_trials=max_trials,
                   hyperband_max_epochs=hyperband_max_epochs,
                   hyperband_factor=hyperband_factor)
    with set_up(experiment) as run:
        results = _search(experiment, run, space, options)
    metric = results["metric"]
    atomic_write(results_path, json.dumps(results, indent=2))
    write_csv(os.path.join(experiment.run_dir, TRIALS_FILE),
              results["trials"], metric)
    write_figure(os.path.join(experiment.run_dir, FIGURE_FILE),
                 results["trials"], metric)
    _print_table(results["trials"], metric)
    return results


def check_tuner(tuner, hyperband_max_epochs, hyperband_factor,
                experiment=None):
    """Raises `ValueError` naming a bad `tuner` or Hyperband setting, and
    `ImportError` for `"bayesian"` without scikit-learn."""
    if tuner not in TUNERS:
        raise ValueError(
            f"`tuner` must be one of {tuple(TUNERS)}. Received: "
            f"tuner={tuner!r}")
    if tuner == "bayesian" and importlib.util.find_spec("sklearn") is None:
        raise ImportError(
            "`tuner='bayesian'` needs scikit-learn (KerasTuner's bayesian "
            "extra): pip install scikit-learn. Received: tuner='bayesian'")
    check_positive("hyperband_max_epochs", hyperband_max_epochs)
    if not is_int(hyperband_factor) or hyperband_factor < 2:
        raise ValueError(
            "`hyperband_factor` must be an integer >= 2. Received: "
            f"hyperband_factor={hyperband_factor!r}")
    steps = None if experiment is None else experiment.training.train_steps
    if tuner == "hyperband" and steps is not None and \
            hyperband_max_epochs > steps:
        raise ValueError(
            "`hyperband_max_epochs` must be <= train_steps "
            f"({steps}): an epoch is train_steps // hyperband_max_epochs "
            f"steps. Received: hyperband_max_epochs={hyperband_max_epochs}")


def _make_tuner(options, hypermodel, metric, seed, strategy, directory,
                project):
    """KerasTuner's tuner of `options["tuner"]` over `hypermodel`."""
    kind = options["tuner"]
    arguments = dict(
        objective=keras_tuner.Objective(f"val_{metric}", "min"), seed=seed,
        distribution_strategy=strategy, directory=directory,
        project_name=project)
    if kind == "hyperband":
        arguments.update(max_epochs=options["hyperband_max_epochs"],
                         factor=options["hyperband_factor"])
    else:
        arguments["max_trials"] = options["max_trials"]
    # Never `overwrite=True`: KerasTuner would remove the folder. A rerun
    # with the same settings reloads it and retries the trial a kill
    # interrupted.
    tuner = TUNERS[kind](hypermodel, **arguments)
    if kind == "hyperband":
        # Hyperband's schedule names no number of trials: the oracle's
        # public `max_trials` caps it as for the other tuners.
        tuner.oracle.max_trials = options["max_trials"]
    return tuner


def _search(experiment, run, space, options):
    """Runs the search set up by `run`; returns the results."""
    training = experiment.training
    strategy, manifest, metric = run.strategy, run.manifest, run.metric
    hypermodel = MemoryHyperModel(experiment, manifest.vocab_size,
                                  metric=metric, **space)
    train_source, layout = run.train_source, run.train_layout
    steps = min(training.train_steps, layout.num_windows)
    if steps < training.train_steps:
        logging.warning("Each trial trains %d steps (one pass), not %d.",
                        steps, training.train_steps)
    epoch_steps = steps
    if options["tuner"] == "hyperband":
        check_tuner("hyperband", options["hyperband_max_epochs"],
                    options["hyperband_factor"])
        epoch_steps = max(1, steps // options["hyperband_max_epochs"])
    valid_source = StreamSource.from_manifest(manifest, "valid")
    valid_tokens = min(
        experiment.evaluation.eval_tokens or valid_source.num_tokens,
        valid_source.num_tokens)
    # The StatefulLM's batch is fixed: validation reads as many streams.
    valid_layout = eval_layout(valid_tokens, training.batch_size,
                               training.segment_length)
    project = project_name(experiment, hypermodel, options["tuner"],
                           options)
    folder = os.path.join(experiment.run_dir, project)
    resuming = tf.io.gfile.exists(folder)
    try:
        tuner = _make_tuner(options, hypermodel, metric, training.seed,
                            strategy, experiment.run_dir, project)
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
            steps_per_epoch=epoch_steps, shuffle=False,
            validation_data=distribute_streams(strategy, valid_source,
                                               valid_layout),
            validation_steps=valid_layout.num_windows,
            verbose=verbose_for(experiment))
    trials = [_trial_record(trial, hypermodel, metric)
              for trial in tuner.oracle.get_best_trials(
                  len(tuner.oracle.trials))]
    return {"metric": metric, "tuner": options["tuner"],
            "train_steps": steps, "valid_tokens": valid_tokens,
            "space": {name: space_json(values)
                      for name, values in space.items()},
            "trials": trials}


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


def project_name(experiment, hypermodel, tuner="random", options=None):
    """`tuner-<hash>` of what a trial depends on: a rerun with the same
    settings continues its search, one with other settings (a length to
    try, a model size, the steps, the tuner) starts its own."""
    # The flat fields, as before the fields were grouped: a search
    # started then is resumed.
    settings = experiment.flat_dict()
    for name in ("verbose", "checkpoint_dir", "log_dir", "export_dir",
                 "sample_prompt", "sample_tokens", "save_every"):
        settings.pop(name)
    # Fields added since (memory tokens, BPTT) count only where set: a
    # search started before them is resumed.
    for name, default in LATER_FIELDS.items():
        if settings.get(name, default) == default:
            settings.pop(name, None)
    settings["choices"] = [
        space_json(values) for values in (
            hypermodel.policies, hypermodel.num_long,
            hypermodel.long_lengths, hypermodel.short_lengths)]
    if hypermodel.num_memory_tokens is not None:
        settings["choices"].append(space_json(hypermodel.num_memory_tokens))
    if tuner != "random":
        settings["tuner"] = tuner
        if tuner == "hyperband":
            settings["hyperband"] = [options["hyperband_max_epochs"],
                                     options["hyperband_factor"]]
    # The shape of the search space: 2 since its lengths and count became
    # conditional on the policy. A tuner saved with another shape would
    # mix the two and repeat trials, so it is not resumed.
    settings["space"] = 2
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    return f"tuner-{digest.hexdigest()[:12]}"


def _trial_record(trial, hypermodel, metric):
    """A trial as `tuning.json` and `trials.csv` show it; its bytes of
    state from the trial model's `state_spec` (one stream, in the run's
    dtype policy)."""
    hp = trial.hyperparameters
    experiment, placement = hypermodel.trial_experiment(hp)
    # The values the model was built with (ints, within their range).
    values = {name: getattr(experiment.model, name)
              if name in INTEGER_HPS and value is not None else value
              for name, value in hp.values.items()}
    lengths = placement.memory_lengths(experiment.model.num_layers)
    return {"trial": trial.trial_id, metric: trial.score,
            "hyperparameters": values, "memory_lengths": lengths,
            "state_bytes": hypermodel.state_spec(hp).nbytes()}


def _print_table(trials, metric):
    print(f"{'valid ' + metric:>12}  {'state KiB':>9}  memory lengths  "
          "(best first)", flush=True)
    for trial in trials:
        score = trial[metric]
        shown = "failed" if score is None else f"{score:.4f}"
        print(f"{shown:>12}  {trial['state_bytes'] / 1024:9.1f}  "
              f"{trial['memory_lengths']}", flush=True)

