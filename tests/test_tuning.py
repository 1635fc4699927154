"""KerasTuner over placements and memory lengths."""

import dataclasses
import json
import os

import keras
import keras_tuner
import numpy as np
import pytest

from keras_lrm import Placement
from keras_lrm.training import Experiment
from keras_lrm.training import StatefulLM
from keras_lrm.tuning import MemoryHyperModel
from keras_lrm.tuning import state_bytes
from tests.test_recipes import load_recipe
from tests.test_recipes import run

SMALL = Experiment(num_layers=4, d_model=16, num_heads=2, d_ff=32,
                   batch_size=2, segment_length=8)


def test_each_trial_builds_the_placement_it_names():
    hypermodel = MemoryHyperModel(SMALL, 40, policies=["last", "first"],
                                  num_long=[1, 2], long_lengths=[24],
                                  short_lengths=[4, 8])
    hp = keras_tuner.HyperParameters()
    hp.Fixed("policy", "first")
    hp.Fixed("num_long", 2)
    hp.Fixed("short_length", 8)
    model = hypermodel.build(hp)
    assert isinstance(model, StatefulLM)
    assert model.lm.memory_lengths == [24, 24, 8, 8]
    assert set(hp.values) == {"policy", "num_long", "long_length",
                              "short_length"}
    assert state_bytes(model.lm.memory_lengths, 16) == 64 * 16 * 4 + 4
    assert state_bytes([8], 16, "bfloat16") == 8 * 16 * 2 + 4


def test_a_trial_is_seeded_by_its_values_not_by_what_ran_before():
    """A resumed search builds a trial first that an uninterrupted one
    built second: both must get the same weights."""
    hypermodel = MemoryHyperModel(SMALL, 40, policies=["last", "first"],
                                  long_lengths=[24], short_lengths=[8])

    def trial(policy):
        hp = keras_tuner.HyperParameters()
        hp.Fixed("policy", policy)
        return hp

    first = hypermodel.build(trial("first")).get_weights()
    keras.utils.set_random_seed(123)
    np.random.rand(5)
    hypermodel.build(trial("last"))
    again = hypermodel.build(trial("first")).get_weights()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    seeds = {hypermodel.trial_seed(trial(p)) for p in ("last", "first")}
    assert len(seeds) == 2
    other = MemoryHyperModel(dataclasses.replace(SMALL, seed=1), 40,
                             policies=["last", "first"], long_lengths=[24],
                             short_lengths=[8])
    assert other.trial_seed(trial("last")) not in seeds


def test_a_grid_search_meets_each_placement_once(tmp_path):
    """`num_long` and the lengths are searched only where the policy uses
    them: `"all"` has no short memory, `"none"` no long one."""
    placements = []

    class Placements(keras_tuner.GridSearch):
        def run_trial(self, trial, *args, **kwargs):
            _, placement = self.hypermodel.trial_experiment(
                trial.hyperparameters)
            placements.append(tuple(placement.memory_lengths(4)))
            return 0.0

    hypermodel = MemoryHyperModel(SMALL, 40, policies=["all", "none", "last"],
                                  num_long=[1, 2], long_lengths=[16, 24],
                                  short_lengths=[4, 8])
    tuner = Placements(hypermodel, max_trials=100,
                       objective=keras_tuner.Objective("score", "min"),
                       directory=str(tmp_path))
    tuner.search(verbose=0)
    # all: 2 long lengths; none: 2 short; last: 2 x 2 x 2.
    assert len(placements) == 12
    assert len(set(placements)) == 12
    assert (24, 24, 24, 24) in placements and (4, 4, 4, 4) in placements


def test_numpy_choices_are_plain_ints():
    hypermodel = MemoryHyperModel(SMALL, 40, num_long=list(np.array([1, 2])),
                                  long_lengths=np.array([16]).tolist())
    assert [type(n) for n in hypermodel.num_long] == [int, int]
    with pytest.raises(ValueError, match="long_lengths=array"):
        MemoryHyperModel(SMALL, 40, long_lengths=np.array([16]))


def test_search_flags_and_experiment_flags_are_apart():
    from keras_lrm.training.cli import parse_experiment
    from keras_lrm.tuning.search import project_name

    tune = load_recipe("tune")
    experiment, flags = parse_experiment(
        Experiment(), argv=["--num_long", "2", "--search_num_long", "1,3"],
        add_flags=tune.add_search_flags)
    assert experiment.num_long == 2 and flags["search_num_long"] == "1,3"
    with pytest.raises(ValueError, match="num_long"):
        parse_experiment(Experiment(), argv=[], add_flags=lambda parser:
                         parser.add_argument("--num_long"))
    # A rerun continues only the search of the same settings.
    names = {project_name(experiment, MemoryHyperModel(
                 experiment, 40, long_lengths=lengths))
             for lengths in ([512], [512], [256])}
    assert len(names) == 2


@pytest.mark.parametrize("kwargs,argument", [
    (dict(policies=["top"]), "policies"),
    (dict(policies=[]), "policies"),
    (dict(num_long=[5]), "num_long"),
    (dict(long_lengths=[-1]), "long_lengths"),
    (dict(short_lengths=[8, 8]), "short_lengths"),
    (dict(metric="accuracy"), "metric"),
])
def test_bad_search_space_names_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        MemoryHyperModel(SMALL, 40, **kwargs)


@pytest.mark.optin
def test_tune_recipe_searches_and_ranks_trials(tmp_path):
    """The recipe's own --tiny search, with XLA. In CI,
    tests/test_tuners.py::test_each_tuner_runs_two_trials_and_draws_figure_4
    [random] runs this search space and checks the same (without XLA,
    which tests/test_recipes.py's quickstart covers: a trial's model is
    compiled by the same `build_model`)."""
    results = run("tune", tmp_path, "--max_trials", "2")
    trials = results["trials"]
    assert results["metric"] == "bpc" and len(trials) == 2
    scores = [trial["bpc"] for trial in trials]
    assert np.isfinite(scores).all() and scores == sorted(scores)
    for trial in trials:
        values = trial["hyperparameters"]
        placement = Placement(values["policy"], values["num_long"],
                              values["long_length"], values["short_length"])
        assert trial["memory_lengths"] == placement.memory_lengths(2)
        assert trial["state_bytes"] == \
            sum(trial["memory_lengths"]) * 32 * 4 + 4
    saved = json.loads(open(os.path.join(
        tmp_path, "checkpoints", "tune-tiny", "tuning.json")).read())
    assert saved == results


def test_tiny_search_choices_follow_an_abbreviated_tiny_flag():
    from keras_lrm.training.cli import parse_experiment

    tune = load_recipe("tune")
    for argv in (["--tiny"], ["--tin"]):
        experiment, flags = parse_experiment(
            tune.DEFAULTS, tune.TINY, argv, add_flags=tune.add_search_flags)
        assert experiment.name == "tune-tiny" and flags["tiny"]
        assert tune.search_choices(flags, flags["tiny"])["long_lengths"] \
            == [32]
