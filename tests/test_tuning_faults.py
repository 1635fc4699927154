"""A memory search killed during a trial: the rerun finishes it and scores
every trial as an uninterrupted search does."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.test_recipes import ROOT

# Two trials (policy "last" and "first"), small and without XLA so that a
# search takes seconds.
FLAGS = ["--tiny", "--strategy", "cpu", "--verbose", "0", "--max_trials", "2",
         "--corpus_max_bytes", "100000", "--train_steps", "3",
         "--eval_tokens", "256", "--no-jit_compile",
         "--search_policies", "last,first", "--search_num_long", "1",
         "--search_long_lengths", "16", "--search_short_lengths", "8"]


def _tune(tmp_path, checkpoints, *extra):
    environment = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "recipes", "tune.py"), *FLAGS,
         *extra, "--data_dir", str(tmp_path / "tfrecords"),
         "--checkpoint_dir", str(checkpoints), "--log_dir",
         str(tmp_path / "logs")],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)


def _finish(process):
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr


def _scores(run_dir):
    with open(os.path.join(run_dir, "tuning.json")) as f:
        trials = json.load(f)["trials"]
    return {trial["hyperparameters"]["policy"]: trial["bpc"]
            for trial in trials}


@pytest.mark.slow
def test_a_search_killed_in_its_second_trial_resumes_exactly(tmp_path):
    whole = tmp_path / "whole"
    _finish(_tune(tmp_path, whole))
    expected = _scores(whole / "tune-tiny")
    assert sorted(expected) == ["first", "last"]

    killed = tmp_path / "killed"
    run_dir = killed / "tune-tiny"
    process = _tune(tmp_path, killed)
    deadline = time.monotonic() + 300
    # The second trial has started: its folder holds its trial.json.
    while not glob.glob(str(run_dir / "tuner-*" / "trial_1" / "trial.json")):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Into the trial (KerasTuner has written that file), well before its
    # end: building and compiling a model takes longer.
    time.sleep(0.2)
    assert process.poll() is None, "the search ended before the kill"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run_dir / "tuning.json").exists()

    # What a kill while writing tuning.json leaves, and a user's files.
    stale = run_dir / "tuning.json.tmp-0123456789ab"
    stale.write_text('{"metric": ')
    (run_dir / "notes.txt").write_text("mine")
    (run_dir / "tuning.json.tmp-mine").write_text("mine too")
    _finish(_tune(tmp_path, killed))
    assert _scores(run_dir) == expected
    assert not stale.exists()
    assert (run_dir / "notes.txt").read_text() == "mine"
    assert (run_dir / "tuning.json.tmp-mine").read_text() == "mine too"


@pytest.mark.slow
def test_a_damaged_tuner_state_is_named(tmp_path):
    """KerasTuner writes its JSON in place; a kill in that write leaves a
    file the rerun cannot read: the error names the folder to move."""
    checkpoints = tmp_path / "checkpoints"
    # One trial writes the state (`max_trials` is not in its folder's
    # hash: the rerun of two trials finds it).
    process = _tune(tmp_path, checkpoints, "--max_trials", "1")
    _finish(process)
    (oracle,) = glob.glob(str(checkpoints / "tune-tiny" / "tuner-*" /
                              "oracle.json"))
    with open(oracle, "r+") as f:
        f.truncate(10)
    process = _tune(tmp_path, checkpoints)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1
    assert f"error: The tuner's state in {os.path.dirname(oracle)} " \
        "cannot be read" in stderr
    assert "Traceback" not in stderr
