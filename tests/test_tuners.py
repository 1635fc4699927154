"""The memory search over integer ranges (the SRM length on a log scale),
memory tokens, KerasTuner's four tuners, and the trials' CSV and Figure 4."""

import csv
import glob
import io
import json
import math
import os

import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

from keras_lrm import Placement
from keras_lrm.training import Experiment
from keras_lrm.tuning import IntRange
from keras_lrm.tuning import MemoryHyperModel
from keras_lrm.tuning.report import csv_text
from keras_lrm.tuning.report import figure_png
from keras_lrm.tuning.report import write_figure
from keras_lrm.tuning.search import FIGURE_FILE
from keras_lrm.tuning.search import TRIALS_FILE
from keras_lrm.tuning.search import project_name
from tests.test_recipes import load_recipe

SMALL = Experiment(num_layers=4, d_model=16, num_heads=2, d_ff=32,
                   batch_size=2, segment_length=8)
TUNE = load_recipe("tune")


class _Recorder(keras_tuner.GridSearch):
    """A grid that builds no model: records each trial's experiment."""

    seen = None

    def run_trial(self, trial, *args, **kwargs):
        experiment, placement = self.hypermodel.trial_experiment(
            trial.hyperparameters)
        self.seen.append((placement.memory_lengths(4),
                          experiment.model.num_memory_tokens))
        return 0.0


def _grid(hypermodel, directory):
    tuner = _Recorder(hypermodel, max_trials=100, directory=str(directory),
                      objective=keras_tuner.Objective("score", "min"))
    tuner.seen = []
    tuner.search(verbose=0)
    return tuner.seen


def test_a_log_range_registers_a_log_int_and_a_grid_doubles_it(tmp_path):
    hypermodel = MemoryHyperModel(
        SMALL, 40, policies=["last"], num_long=[1], long_lengths=[64],
        short_lengths=IntRange(4, 32).scaled("log").for_grid())
    hp = keras_tuner.HyperParameters()
    hypermodel.trial_experiment(hp)
    short = hp.get_config()["space"][-1]["config"]
    assert (short["name"], short["sampling"], short["min_value"],
            short["max_value"], short["step"]) == \
        ("short_length", "log", 4, 32, 2)
    seen = _grid(hypermodel, tmp_path)
    # 4, 8, 16, 32 as ints (KerasTuner's log grid gives 8.0, 16.0, ...).
    assert [lengths for lengths, _ in seen] == [
        [n, n, n, 64] for n in (4, 8, 16, 32)]
    assert all(type(n) is int for lengths, _ in seen for n in lengths)


def test_a_random_search_samples_the_whole_log_range():
    hypermodel = MemoryHyperModel(SMALL, 40, policies=["interleaved"],
                                  short_lengths=IntRange(32, 2048))
    hp = keras_tuner.HyperParameters()
    hypermodel.trial_experiment(hp)
    (short,) = [entry for entry in hp.space if entry.name == "short_length"]
    assert short.sampling == "log" and short.step is None
    values = [short.random_sample(seed) for seed in range(200)]
    # Log sampling: about as many below 256 (the geometric middle) as above.
    assert 32 <= min(values) and max(values) <= 2048
    assert 70 <= sum(value < 256 for value in values) <= 130


def test_a_value_past_the_range_is_brought_back_into_it():
    """KerasTuner's BayesianOptimization can answer `max_value + 1` for a
    stepless `hp.Int`: the model takes `max_value`."""
    hypermodel = MemoryHyperModel(SMALL, 40, policies=["none"],
                                  short_lengths=IntRange(4, 64))
    hp = keras_tuner.HyperParameters()
    hypermodel.trial_experiment(hp)
    hp.values["short_length"] = 65
    experiment, placement = hypermodel.trial_experiment(hp)
    assert experiment.model.short_length == 64
    assert placement.memory_lengths(4) == [64] * 4


def test_lists_of_choices_still_search_as_choices():
    hypermodel = MemoryHyperModel(SMALL, 40, policies=["last"],
                                  long_lengths=[16, 24], short_lengths=[8])
    hp = keras_tuner.HyperParameters()
    hypermodel.trial_experiment(hp)
    kinds = {entry["config"]["name"]: entry["class_name"]
             for entry in hp.get_config()["space"]}
    assert kinds == {"policy": "Choice", "num_long": "Choice",
                     "long_length": "Choice", "short_length": "Choice"}
    assert hypermodel.num_memory_tokens is None


def test_memory_tokens_are_searched_beside_the_placement(tmp_path):
    hypermodel = MemoryHyperModel(
        SMALL, 40, policies=["none", "last"], long_lengths=[16],
        short_lengths=[8], num_memory_tokens=IntRange(0, 4, step=2))
    seen = _grid(hypermodel, tmp_path)
    assert sorted(seen) == sorted(
        (lengths, tokens) for tokens in (0, 2, 4)
        for lengths in ([8, 8, 8, 8], [8, 8, 8, 16]))
    hp = keras_tuner.HyperParameters()
    hp.Fixed("policy", "none")
    hp.Fixed("num_memory_tokens", 4)
    model = hypermodel.build(hp)
    assert model.lm.num_memory_tokens == 4
    # The spec counts the memory tokens: 4 rows of d_model more.
    spec = hypermodel.state_spec(hp)
    assert spec.nbytes() == (4 * 8 + 4) * 16 * 4 + 4
    assert spec.nbytes() == model.lm.state_spec().nbytes()


@pytest.mark.parametrize("kwargs,message", [
    (dict(min_value=-1, max_value=4), "`min_value` must be an integer >= 0"),
    (dict(min_value=8, max_value=4), "`max_value` must be >= min_value=8"),
    (dict(min_value=1, max_value=4.5), "`max_value` must be an integer"),
    (dict(min_value=1, max_value=4, step=0), "`step` must be an integer"),
    (dict(min_value=1, max_value=4, sampling="exp"), "`sampling` must be"),
])
def test_a_bad_int_range_names_its_field(kwargs, message):
    # A range's checks against a model (a log range from 0, num_long past
    # num_layers) name the hypermodel's argument or the recipe's flag:
    # rows of tests/test_errors_recipes.py.
    with pytest.raises(ValueError, match=message):
        IntRange(**kwargs)


def test_range_flags_parse_to_ranges_and_lists_stay_lists():
    from keras_lrm.training.cli import parse_experiment

    experiment, flags = parse_experiment(
        TUNE.DEFAULTS, TUNE.TINY, ["--search_long_lengths", "64:1024:4",
                                   "--search_num_memory_tokens", "0,2"],
        add_flags=TUNE.add_search_flags)
    choices = TUNE.search_choices(flags)
    assert choices["short_lengths"] == IntRange(32, 2048)
    assert choices["long_lengths"] == IntRange(64, 1024, 4)
    assert choices["num_long"] == [1, 2]
    assert choices["num_memory_tokens"] == [0, 2]
    assert flags["tuner"] == "random"
    assert TUNE.search_choices(flags, tiny=True)["short_lengths"] == \
        IntRange(4, 64)
    assert IntRange(32, 2048, 2).scaled("log").values() == \
        [32, 64, 128, 256, 512, 1024, 2048]
    # Not searched unless given: the experiment's number holds.
    _, flags = parse_experiment(TUNE.DEFAULTS, TUNE.TINY, [],
                                add_flags=TUNE.add_search_flags)
    assert "num_memory_tokens" not in TUNE.search_choices(flags)


def test_each_tuner_has_its_own_search_folder():
    from keras_lrm.tuning.search import DEFAULT_SPACE

    hypermodel = MemoryHyperModel(SMALL, 40, **DEFAULT_SPACE)
    options = dict(hyperband_max_epochs=3, hyperband_factor=3)
    names = {project_name(SMALL, hypermodel, kind, options)
             for kind in ("random", "bayesian", "hyperband", "grid")}
    assert len(names) == 4
    # A search started before memory tokens and tuners keeps its folder.
    assert project_name(SMALL, hypermodel) == project_name(
        SMALL, hypermodel, "random", options)
    ranged = MemoryHyperModel(SMALL, 40, short_lengths=IntRange(8, 64))
    assert project_name(SMALL, ranged) != project_name(SMALL, hypermodel)


TRIALS = [
    {"trial": "1", "bpc": 2.5, "memory_lengths": [64, 64, 64, 512],
     "state_bytes": 1000,
     "hyperparameters": {"policy": "last", "num_long": 1,
                         "long_length": 512, "short_length": 64}},
    {"trial": "0", "bpc": 2.4, "memory_lengths": [512] * 4,
     "state_bytes": 2000,
     "hyperparameters": {"policy": "all", "long_length": 512}},
    {"trial": "2", "bpc": None, "memory_lengths": [32, 32, 32, 512],
     "state_bytes": 900,
     "hyperparameters": {"policy": "last", "num_long": 1,
                         "long_length": 512, "short_length": 32}},
]


def test_the_csv_lists_every_trial_and_hyperparameter():
    rows = list(csv.DictReader(io.StringIO(csv_text(TRIALS, "bpc"))))
    assert list(rows[0]) == ["trial", "policy", "num_long", "long_length",
                             "short_length", "val_bpc", "memory_lengths",
                             "state_bytes"]
    assert [row["trial"] for row in rows] == ["0", "1", "2"]
    assert rows[0]["short_length"] == "" and rows[0]["num_long"] == ""
    assert float(rows[1]["val_bpc"]) == 2.5 and rows[2]["val_bpc"] == ""
    assert rows[1]["memory_lengths"] == "64 64 64 512"
    assert [int(row["state_bytes"]) for row in rows] == [2000, 1000, 900]


def test_the_figure_is_a_png_written_in_one_piece(tmp_path, monkeypatch):
    png = figure_png(TRIALS, "bpc")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert figure_png([], "perplexity").startswith(b"\x89PNG")
    path = tmp_path / "figure.png"
    path.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    # A failing rename leaves the old file and no temporary beside it.
    monkeypatch.setattr(tf.io.gfile, "rename", fail)
    with pytest.raises(OSError, match="disk full"):
        write_figure(str(path), TRIALS, "bpc")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["figure.png"]


def test_a_continued_hyperband_trial_continues_the_schedule():
    """Hyperband reloads an earlier trial's weights into a new model: its
    learning rate goes on from where that trial stopped, not from the
    warm-up (where it is 0)."""
    experiment = Experiment(num_layers=1, d_model=16, num_heads=2, d_ff=16,
                            batch_size=2, segment_length=4, train_steps=6,
                            warmup_steps=2, jit_compile=False)
    hypermodel = MemoryHyperModel(experiment, 20, policies=["none"],
                                  short_lengths=[4])
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    windows = np.random.default_rng(0).integers(0, 20, (8, 5))
    data = tf.data.Dataset.from_tensor_slices(windows).batch(2).repeat()
    hypermodel.fit(hp, model, data, epochs=3, initial_epoch=2,
                   steps_per_epoch=2, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2 * 2 + 2


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """One tiny corpus prepared for every tuner's search."""
    return tmp_path_factory.mktemp("tuners")


# Two trials each, tiny: a 2-layer d32 model, 3 steps, 256 tokens scored,
# without XLA (tests/test_recipes.py runs the quickstart's training with it).
FLAGS = ["--tiny", "--strategy", "cpu", "--verbose", "0", "--max_trials",
         "2", "--corpus_max_bytes", "100000", "--train_steps", "3",
         "--eval_tokens", "256", "--no-jit_compile"]
# The random search takes the recipe's --tiny search space (every policy);
# the others one policy and the short memory length's range.
SPACE = ["--search_policies", "last", "--search_short_lengths", "4:64"]


@pytest.mark.slow
@pytest.mark.parametrize("tuner", ["random", "bayesian", "hyperband",
                                   "grid"])
def test_each_tuner_runs_two_trials_and_draws_figure_4(tuner, prepared):
    if tuner == "bayesian":
        pytest.importorskip("sklearn")
    extra = [] if tuner == "random" else SPACE
    if tuner == "hyperband":
        extra += ["--hyperband_max_epochs", "3"]
    checkpoints = prepared / tuner
    results = TUNE.main([*FLAGS, "--tuner", tuner, *extra, "--data_dir",
                         str(prepared / "tfrecords"), "--checkpoint_dir",
                         str(checkpoints), "--log_dir",
                         str(prepared / "logs")])
    run_dir = checkpoints / "tune-tiny"
    trials = results["trials"]
    assert results["tuner"] == tuner and len(trials) == 2
    assert results["metric"] == "bpc"
    scores = [trial["bpc"] for trial in trials]
    assert np.isfinite(scores).all() and scores == sorted(scores)
    lengths = [trial["hyperparameters"]["short_length"] for trial in trials]
    assert all(4 <= n <= 64 and type(n) is int for n in lengths)
    for trial in trials:
        values = trial["hyperparameters"]
        placement = Placement(values["policy"], values["num_long"],
                              values["long_length"], values["short_length"])
        assert trial["memory_lengths"] == placement.memory_lengths(2)
        # One stream's state: 2 layers of d_model 32 float32, and `filled`.
        assert trial["state_bytes"] == \
            sum(trial["memory_lengths"]) * 32 * 4 + 4
    with open(run_dir / "tuning.json") as f:
        assert json.load(f) == results
    (oracle,) = glob.glob(str(run_dir / "tuner-*" / "oracle.json"))
    with open(oracle) as f:
        state = json.load(f)
    if tuner == "grid":
        # The log grid doubles from the range's start.
        assert sorted(lengths) == [4, 8]
    if tuner == "hyperband":
        assert state["max_epochs"] == 3
        assert {t["hyperparameters"]["tuner/epochs"] for t in trials} == {1}
    if tuner == "bayesian":
        assert "num_initial_points" in state
    with open(run_dir / TRIALS_FILE) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"policy", "short_length", "val_bpc",
                               "state_bytes"} <= set(rows[0])
    by_trial = {trial["trial"]: trial for trial in trials}
    for row in rows:
        trial = by_trial[row["trial"]]
        assert math.isclose(float(row["val_bpc"]), trial["bpc"])
        assert int(row["state_bytes"]) == trial["state_bytes"]
    assert (run_dir / FIGURE_FILE).read_bytes().startswith(b"\x89PNG")
    assert sorted(os.listdir(run_dir)) == sorted(
        ["tuning.json", TRIALS_FILE, FIGURE_FILE,
         os.path.basename(os.path.dirname(oracle))])
