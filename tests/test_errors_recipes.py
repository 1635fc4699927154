"""Bad input to every recipe flag, `Experiment`, `MemoryHyperModel` and
`run_search`: each fails at once, before any data are prepared, with an
error that names the flag or argument (docs/errors.md)."""

import dataclasses
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from keras_lrm.training import Experiment
from keras_lrm.training.cli import parse_experiment
from keras_lrm.tuning import IntRange
from keras_lrm.tuning import MemoryHyperModel
from tests.test_recipes import ROOT
from tests.test_recipes import load_recipe

QUICKSTART = load_recipe("quickstart")
TUNE = load_recipe("tune")
SMALL = Experiment(num_layers=4, d_model=16, num_heads=2, d_ff=32,
                   batch_size=2, segment_length=8)

# (recipe flags, the start of the message). Each one is a row of
# docs/errors.md: "recipes (every flag) | --flag value | ValueError: ...".
FLAG_ROWS = [
    (["--name", ""], "`name` must be a plain folder name"),
    (["--name", "../elsewhere"], "`name` must be a plain folder name"),
    (["--corpus", "enwik9"], "`corpus` must be one of"),
    (["--corpus_max_bytes", "-1"], "`corpus_max_bytes` must be an integer"),
    (["--corpus", "enwik8", "--corpus_max_bytes", "5"],
     "`corpus_max_bytes` applies to the 'stdlib' and 'text' corpora only"),
    (["--corpus_allow_short"],
     "`corpus_allow_short` applies to the 'enwik8' corpus only"),
    (["--tokenizer", "chars"], "`tokenizer` must be one of"),
    (["--data_dir", ""], "`data_dir` must name a folder"),
    (["--num_layers", "0"], "`num_layers` must be an integer >= 1"),
    (["--d_model", "0"], "`d_model` must be an integer >= 1"),
    (["--num_heads", "0"], "`num_heads` must be an integer >= 1"),
    (["--num_heads", "3", "--d_model", "64"],
     "`d_model` must be divisible by `num_heads`"),
    (["--d_model", "63", "--num_heads", "1"], "`d_model` must be even"),
    (["--d_ff", "0"], "`d_ff` must be an integer >= 1"),
    (["--dropout", "1.5"], "`dropout` must be a number in [0, 1)"),
    (["--dropout", "nan"], "`dropout` must be a number in [0, 1)"),
    (["--attention_dropout", "-0.1"], "`attention_dropout` must be a number"),
    (["--clamp_len", "-1"], "`clamp_len` must be an integer >= 0"),
    (["--placement", "top"], "`placement` must be one of"),
    (["--num_long", "-1"], "`num_long` must be an integer >= 0"),
    (["--decay_max", "-0.5"], "`decay_max` must be a finite number >= 0"),
    (["--init_std", "-0.1"], "`init_std` must be a finite number >= 0"),
    (["--pool_size", "0"], "`pool_size` must be an integer >= 1"),
    (["--las_layers", "middle"], "`las_layers` must be one of"),
    (["--num_memory_tokens", "-1"],
     "`num_memory_tokens` must be an integer >= 0"),
    (["--num_long", "7"], "`num_long` must be <= num_layers=6"),
    (["--num_layers", "2", "--num_long", "3"],
     "`num_long` must be <= num_layers=2"),
    (["--placement", "all", "--num_long", "2"],
     "`num_long` has no effect with placement='all'"),
    (["--placement", "none", "--num_long", "2"],
     "`num_long` has no effect with placement='none'"),
    (["--long_length", "-1"], "`long_length` must be an integer >= 0"),
    (["--placement", "none", "--long_length", "64"],
     "`long_length` has no effect with placement='none'"),
    (["--short_length", "-1"], "`short_length` must be an integer >= 0"),
    (["--placement", "all", "--short_length", "64"],
     "`short_length` has no effect with placement='all'"),
    (["--eval_long_length", "-1"], "`eval_long_length` must be an integer"),
    (["--placement", "none", "--eval_long_length", "64"],
     "`eval_long_length` has no effect with placement='none'"),
    (["--eval_short_length", "-1"], "`eval_short_length` must be an"),
    (["--placement", "all", "--eval_short_length", "8"],
     "`eval_short_length` has no effect with placement='all'"),
    (["--batch_size", "0"], "`batch_size` must be an integer >= 1"),
    (["--segment_length", "0"], "`segment_length` must be an integer >= 1"),
    (["--bptt_segments", "0"], "`bptt_segments` must be an integer >= 1"),
    (["--gradient_segments", "-1"],
     "`gradient_segments` must be an integer >= 0"),
    (["--bptt_segments", "2", "--gradient_segments", "3"],
     "`gradient_segments` must be at most `bptt_segments` (2)"),
    (["--train_steps", "-5"], "`train_steps` must be an integer >= 0"),
    (["--learning_rate", "-1"], "`learning_rate` must be a finite number"),
    (["--learning_rate", "inf"], "`learning_rate` must be a finite number"),
    (["--warmup_steps", "-1"], "`warmup_steps` must be an integer >= 0"),
    (["--min_learning_rate_ratio", "1.5"],
     "`min_learning_rate_ratio` must be in [0, 1]"),
    (["--clip_norm", "-1"], "`clip_norm` must be a finite number >= 0"),
    (["--clip_norm", "inf"], "`clip_norm` must be a finite number >= 0"),
    (["--seed", "-1"], "`seed` must be an integer >= 0"),
    (["--seed", str(2**32)], "`seed` must be <= 4294967295"),
    (["--eval_batch_size", "0"], "`eval_batch_size` must be an integer"),
    (["--eval_segment_length", "-1"], "`eval_segment_length` must be an"),
    (["--num_memory_tokens", "2", "--eval_segment_length", "64"],
     "`eval_segment_length` must be a multiple of `segment_length` (128)"),
    (["--eval_tokens", "-1"], "`eval_tokens` must be an integer >= 0"),
    (["--eval_tokens", "1"], "`eval_tokens` must be 0 (the whole split)"),
    (["--strategy", "gpus"], "`strategy` must be one of"),
    (["--strategy", "cpu", "--tpu", "my-tpu"],
     '`tpu` is used only with strategy "tpu" or "auto"'),
    (["--precision", "fp16"], "`precision` must be \"auto\" or a"),
    (["--precision", "int8"], "`precision` must be \"auto\" or a"),
    (["--steps_per_execution", "0"], "`steps_per_execution` must be an"),
    (["--checkpoint_dir", ""], "`checkpoint_dir` must name a folder"),
    (["--log_dir", ""], "`log_dir` must name a folder"),
    (["--save_every", "0"], "`save_every` must be an integer >= 1"),
    (["--export_dir", "", "--sample_prompt", "def"],
     "`sample_prompt` has no effect with export_dir=''"),
    (["--sample_tokens", "0"], "`sample_tokens` must be an integer >= 1"),
    (["--sample_prompt", "", "--sample_tokens", "5"],
     "`sample_tokens` has no effect with sample_prompt=''"),
    (["--verbose", "loud"], '`verbose` must be "auto", 0'),
    (["--verbose", "3"], '`verbose` must be "auto", 0'),
]


@pytest.mark.parametrize("flags,message", FLAG_ROWS,
                         ids=[" ".join(row[0]) for row in FLAG_ROWS])
def test_a_bad_flag_names_itself(flags, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_experiment(QUICKSTART.DEFAULTS, QUICKSTART.TINY, flags)


# Values a flag cannot give (no flag parses to them), through the API.
FIELD_ROWS = [
    (dict(pre_norm="yes"), "`pre_norm` must be True or False"),
    (dict(test=1), "`test` must be True or False"),
    (dict(jit_compile=None), "`jit_compile` must be True or False"),
    (dict(num_layers=2.0), "`num_layers` must be an integer"),
    (dict(num_memory_tokens=2.0), "`num_memory_tokens` must be an integer"),
    (dict(learning_rate="0.1"), "`learning_rate` must be a number"),
    (dict(name=None), "`name` must be a string"),
    (dict(verbose=None), '`verbose` must be "auto", 0'),
    (dict(model=3), "`model` must be a ModelConfig (or a dict of its"),
]


@pytest.mark.parametrize("fields,message", FIELD_ROWS,
                         ids=[str(row[0]) for row in FIELD_ROWS])
def test_a_bad_field_names_itself(fields, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        Experiment(**fields)


def test_good_verbose_values_are_what_keras_takes():
    from keras_lrm.training.experiment_checks import verbose_value

    assert [verbose_value(v) for v in ("auto", "0", "2", 1)] == \
        ["auto", 0, 2, 1]


def test_flags_whose_defaults_do_not_apply_are_ignored_unless_given():
    """Only a flag given explicitly fails for having no effect: the
    recipe's own defaults (enwik8's 4 long memories) do not."""
    enwik8 = load_recipe("enwik8")
    experiment = parse_experiment(enwik8.DEFAULTS, enwik8.TINY,
                                  ["--placement", "all"])
    assert experiment.placement == "all" and experiment.num_long == 4
    experiment = parse_experiment(QUICKSTART.DEFAULTS, QUICKSTART.TINY,
                                  ["--corpus", "enwik8"])
    assert experiment.corpus_max_bytes == 4_000_000


TUNE_ROWS = [
    (["--max_trials", "0"], "`max_trials` must be an integer >= 1"),
    (["--search_policies", "top"], "`search_policies` must be a non-empty"),
    (["--search_policies", ""], "`search_policies` must be a non-empty"),
    (["--search_policies", "last,last"], "`search_policies` must be a"),
    (["--search_num_long", "1,x"],
     "`search_num_long` must be comma-separated integers"),
    (["--search_num_long", "3"], "`search_num_long` must be <= num_layers=2"),
    (["--search_long_lengths", "-5"], "`search_long_lengths` must be a"),
    (["--search_short_lengths", "8,8"], "`search_short_lengths` must be a"),
    (["--search_short_lengths", ""],
     "`search_short_lengths` must be comma-separated integers"),
    (["--long_length", "64"], "`long_length` is not used by this recipe"),
    (["--placement", "last"], "`placement` is not used by this recipe"),
    (["--eval_batch_size", "4"], "`eval_batch_size` is not used by this"),
    (["--test"], "`test` is not used by this recipe"),
    (["--export_dir", "out"], "`export_dir` is not used by this recipe"),
    (["--num_heads", "3"], "`d_model` must be divisible by `num_heads`"),
    (["--strategy", "multiworker"], "A search runs on one worker"),
    (["--search_short_lengths", "64:32"], "`search_short_lengths` must be "
     "a range MIN:MAX[:STEP] with 0 <= MIN <= MAX"),
    (["--search_short_lengths", "8:64:x"], "`search_short_lengths` must be "
     "comma-separated integers, or a range"),
    (["--search_short_lengths", "0:64"],
     "`search_short_lengths` must start at >= 1 on a log scale"),
    (["--search_long_lengths", "8:64:1"],
     "`search_long_lengths` must have a step >= 2 on a log scale"),
    (["--search_num_long", "1:3"],
     "`search_num_long` must be <= num_layers=2"),
    (["--search_num_memory_tokens", "0,2", "--num_memory_tokens", "2"],
     "`num_memory_tokens` has no effect with --search_num_memory_tokens"),
    (["--tuner", "hyperband", "--hyperband_max_epochs", "9"],
     "`hyperband_max_epochs` must be <= train_steps (6)"),
    (["--hyperband_factor", "1"], "`hyperband_factor` must be an integer"),
]


@pytest.mark.parametrize("flags,message", TUNE_ROWS,
                         ids=[" ".join(row[0]) for row in TUNE_ROWS])
def test_a_bad_search_flag_names_itself(flags, message, tmp_path):
    data_dir = tmp_path / "tfrecords"
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        TUNE.main(["--tiny", "--strategy", "cpu", "--data_dir",
                   str(data_dir), "--checkpoint_dir",
                   str(tmp_path / "checkpoints"), *flags])
    assert not data_dir.exists()


HYPERMODEL_ROWS = [
    (dict(experiment="quickstart"), "`experiment` must be a keras_lrm"),
    (dict(vocab_size=0), "`vocab_size` must be an integer >= 1"),
    (dict(policies=["top"]), "`policies` must be a non-empty list"),
    (dict(policies=[]), "`policies` must be a non-empty list"),
    (dict(policies="last"), "`policies` must be a non-empty list"),
    (dict(num_long=[5]), "`num_long` must be <= num_layers=4"),
    (dict(num_long=[1.5]), "`num_long` must be a non-empty list"),
    (dict(long_lengths=[-1]), "`long_lengths` must be a non-empty list"),
    (dict(long_lengths=np.array([16])), "`long_lengths` must be a"),
    (dict(short_lengths=[8, 8]), "`short_lengths` must be a non-empty"),
    (dict(metric="accuracy"), "`metric` must be one of"),
    (dict(short_lengths=IntRange(0, 64)),
     "`short_lengths` must start at >= 1 on a log scale"),
    (dict(long_lengths=IntRange(8, 64, step=1)),
     "`long_lengths` must have a step >= 2 on a log scale"),
    (dict(num_long=IntRange(1, 5)), "`num_long` must be <= num_layers=4"),
    (dict(num_memory_tokens=[-1]),
     "`num_memory_tokens` must be a non-empty list"),
    (dict(num_memory_tokens=IntRange(0, 4, sampling="log")),
     "`num_memory_tokens` must start at >= 1 on a log scale"),
]


@pytest.mark.parametrize("kwargs,message", HYPERMODEL_ROWS,
                         ids=[str(row[0]) for row in HYPERMODEL_ROWS])
def test_a_bad_hypermodel_argument_names_itself(kwargs, message):
    arguments = {"experiment": SMALL, "vocab_size": 40, **kwargs}
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        MemoryHyperModel(**arguments)


SEARCH_ROWS = [
    (dict(max_trials=0), "`max_trials` must be an integer >= 1"),
    (dict(max_trials="8"), "`max_trials` must be an integer >= 1"),
    (dict(experiment="quickstart"), "`experiment` must be a keras_lrm"),
    (dict(polices=["last"]), "`run_search` takes the choices"),
    (dict(num_long=[9]), "`num_long` must be <= num_layers=2"),
    (dict(short_lengths=[]), "`short_lengths` must be a non-empty list"),
    (dict(strategy="multiworker"), "A search runs on one worker"),
    (dict(results="not ours"), "is not the results of a memory search"),
    (dict(results="{\"trials\": []}"), "is not the results of a memory"),
    (dict(tuner="annealing"), "`tuner` must be one of"),
    (dict(tuner="hyperband", hyperband_max_epochs=2000),
     "`hyperband_max_epochs` must be <= train_steps (1000)"),
    (dict(hyperband_factor=1), "`hyperband_factor` must be an integer >= 2"),
]


@pytest.mark.parametrize("kwargs,message", SEARCH_ROWS,
                         ids=[str(row[0]) for row in SEARCH_ROWS])
def test_a_bad_search_argument_fails_before_the_data(kwargs, message,
                                                    tmp_path):
    from keras_lrm.tuning.search import run_search

    experiment = Experiment(
        name="search", num_layers=2, d_model=16, num_heads=2, d_ff=32,
        corpus_max_bytes=100_000, strategy="cpu",
        data_dir=str(tmp_path / "tfrecords"),
        checkpoint_dir=str(tmp_path / "checkpoints"))
    kwargs = {"experiment": experiment, **kwargs}
    if "strategy" in kwargs:
        kwargs["experiment"] = dataclasses.replace(
            experiment, strategy=kwargs.pop("strategy"))
    results = kwargs.pop("results", None)
    if results is not None:
        os.makedirs(experiment.run_dir)
        with open(os.path.join(experiment.run_dir, "tuning.json"), "w") as f:
            f.write(results)
    with pytest.raises(ValueError, match=re.escape(message)):
        run_search(**kwargs)
    assert not (tmp_path / "tfrecords").exists()
    if results is not None:
        # Not ours: left as it was.
        with open(os.path.join(experiment.run_dir, "tuning.json")) as f:
            assert f.read() == results


# Real processes: the message on stderr, no traceback, exit status 1 (2 for
# what argparse refuses), and nothing prepared.
PROCESS_ROWS = [
    ("quickstart", ["--num_heads", "3", "--d_model", "64"], 1,
     "error: `d_model` must be divisible by `num_heads`. Received: "
     "d_model=64, num_heads=3"),
    ("enwik8", ["--verbose", "loud"], 1, "error: `verbose` must be"),
    ("tune", ["--search_num_long", "1,x"], 1,
     "error: `search_num_long` must be comma-separated integers"),
    ("pg19", ["--d_model", "63", "--num_heads", "1"], 1,
     "error: `d_model` must be even"),
    # The corpus is looked for before anything is written.
    ("quickstart", ["--corpus", "text"], 1,
     "error: Corpus 'text' needs `path`"),
    ("enwik8", ["--corpus_path", "missing.zip"], 1,
     "error: No enwik8 file at `path`"),
    ("wikitext103", ["--num_layers", "two"], 2,
     "argument --num_layers: invalid int value: 'two'"),
]


@pytest.mark.parametrize("recipe,flags,status,message", PROCESS_ROWS,
                         ids=[row[0] for row in PROCESS_ROWS])
def test_a_recipe_prints_the_error_and_exits(recipe, flags, status, message,
                                            tmp_path):
    environment = {key: value for key, value in os.environ.items()
                   if key != "KERAS_LRM_TRACEBACK"}
    environment["PYTHONPATH"] = ROOT
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "recipes", f"{recipe}.py"),
         *flags], cwd=tmp_path, env=environment, capture_output=True,
        text=True, timeout=120)
    assert done.returncode == status, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert os.listdir(tmp_path) == []


def test_run_main_reports_a_folder_tensorflow_cannot_make(tmp_path, capsys):
    """`tf.io.gfile` raises TensorFlow's own file errors, not `OSError`: a
    recipe still prints one line naming the path and exits 1."""
    import tensorflow as tf

    from keras_lrm.errors import run_main

    blocked = tmp_path / "a_file"
    blocked.write_text("x")
    target = str(blocked / "checkpoints")

    def main(argv):
        tf.io.gfile.makedirs(target)

    with pytest.raises(SystemExit) as exited:
        run_main(main)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(blocked) in err, err

    def buggy(argv):
        raise KeyError("a bug keeps its traceback")

    with pytest.raises(KeyError):
        run_main(buggy)
