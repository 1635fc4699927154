"""Real processes killed at every moment of a save resume exactly.

Each run is `tests/checkpoint_worker.py` in a subprocess; it stops still at
a chosen moment and is killed there with SIGKILL. Then a run with the same
settings resumes, and at the end its weights, evaluation and results equal
those of a run that was never killed (issue 19, items 3, 7 and 8).
"""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_lrm.training import Experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_text(path, seed=2, lines=300):
    rng = np.random.default_rng(seed)
    path.write_bytes(b"\n".join(
        bytes(rng.integers(97, 123, 30).astype(np.uint8))
        for _ in range(lines)) + b"\n")
    return str(path)


def tiny_experiment(root, text, **changes):
    fields = dict(
        name="run", corpus="text", corpus_path=text,
        data_dir=str(root / "records"),
        checkpoint_dir=str(root / "checkpoints"),
        log_dir=str(root / "logs"), export_dir="",
        num_layers=2, d_model=16, num_heads=2, d_ff=32, dropout=0.1,
        placement="last", num_long=1, long_length=16, short_length=8,
        batch_size=2, segment_length=8, train_steps=12, save_every=4,
        learning_rate=1e-3, min_learning_rate_ratio=1.0, eval_batch_size=2,
        eval_tokens=64, strategy="cpu", jit_compile=False, verbose=0)
    fields.update(changes)
    return Experiment(**fields)


def worker_env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT,
               CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    return env


def start(experiment, pause=None):
    config = experiment.run_dir + ".json"
    os.makedirs(os.path.dirname(config), exist_ok=True)
    with open(config, "w") as f:
        json.dump(dataclasses.asdict(experiment), f)
    command = [sys.executable, "-m", "tests.checkpoint_worker", config]
    return subprocess.Popen(command + ([pause] if pause else []), cwd=ROOT,
                            env=worker_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def finish(process, timeout=240):
    output, _ = process.communicate(timeout=timeout)
    output = output.decode()
    assert process.returncode == 0, output[-3000:]
    line = [x for x in output.splitlines() if x.startswith("RESULTS ")][-1]
    return json.loads(line[len("RESULTS "):])


def kill_when_paused(experiment, process, timeout=240):
    """Waits until the run stops at its pause, then SIGKILLs it."""
    marker = experiment.run_dir + ".paused"
    deadline = time.monotonic() + timeout
    while not os.path.exists(marker):
        if process.poll() is not None:
            output = process.stdout.read().decode()
            raise AssertionError(f"the run ended before its pause:\n"
                                 f"{output[-3000:]}")
        assert time.monotonic() < deadline, "the run never paused"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    os.remove(marker)
    assert process.returncode == -signal.SIGKILL


def results_of(experiment):
    with open(os.path.join(experiment.run_dir, "results.json")) as f:
        return json.load(f)


def committed(experiment, folder):
    path = os.path.join(experiment.run_dir, folder, "steps.json")
    with open(path) as f:
        return sorted(int(step) for step in json.load(f)["steps"])


# The moments a run is killed at, each with the weight steps committed
# after the kill: between checkpoints 4 and 8; the memory of 8 committed,
# its weights not yet written; right after checkpoint 8; the weights of 12
# written, not committed; trained, with model.keras under its temporary
# name.
BETWEEN_SAVES = ("batch:6", [4])
MEMORY_ONLY = ("memory:8", [4])
JUST_SAVED = ("saved:8", [4, 8])
WEIGHTS_WRITTEN = ("weights:12", [4, 8])
MODEL_WRITTEN = ("model:0", [8, 12])
EVERY_MOMENT = [BETWEEN_SAVES, MEMORY_ONLY, JUST_SAVED, WEIGHTS_WRITTEN,
                MODEL_WRITTEN]
# The three moments inside a save, each the run after the one before.
INSIDE_A_SAVE = [MEMORY_ONLY, WEIGHTS_WRITTEN, MODEL_WRITTEN]


@pytest.mark.slow
@pytest.mark.parametrize("moments", [
    pytest.param(INSIDE_A_SAVE, id="inside_a_save"),
    pytest.param(EVERY_MOMENT, id="every_moment",
                 marks=pytest.mark.optin)])
def test_killed_at_every_moment_of_a_save_the_run_resumes_exactly(
        tmp_path, moments):
    """Runs killed one after the other, each resuming where the one
    before stopped, end as a run that was never killed.

    CI's `inside_a_save` kills inside saves (memory committed and not its
    weights, weights written and not committed, `model.keras` not yet
    renamed). The opt-in `every_moment` adds a kill between checkpoints
    and one right after a commit: the same resume from the last committed
    step, which `inside_a_save` covers, and a kill between checkpoints
    is also CI's `test_multiworker.py::test_a_killed_worker_resumes_...`.
    """
    text = write_text(tmp_path / "text.txt")
    whole = tiny_experiment(tmp_path / "whole", text)
    reference = start(whole)
    killed = tiny_experiment(tmp_path / "killed", text)
    first_steps = [0]
    for pause, weights in moments:
        kill_when_paused(killed, start(killed, pause))
        assert committed(killed, "weights") == weights, pause
        first_steps.append(weights[-1])
        if pause == "memory:8":
            assert committed(killed, "memory-worker-0") == [4, 8]
        elif pause == "weights:12":
            assert os.path.exists(
                os.path.join(killed.run_dir, "weights", "ckpt-12.index"))
        elif pause == "model:0":
            leftovers = [n for n in os.listdir(killed.run_dir)
                         if n.startswith(".tmp-")]
            assert leftovers and not os.path.exists(
                os.path.join(killed.run_dir, "model.keras"))
    resumed = finish(start(killed))
    expected = finish(reference)
    assert not [n for n in os.listdir(killed.run_dir)
                if n.startswith(".tmp-")]
    assert committed(killed, "weights") == [8, 12]

    a = keras.saving.load_model(os.path.join(whole.run_dir, "model.keras"))
    b = keras.saving.load_model(os.path.join(killed.run_dir, "model.keras"))
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
    got, want = results_of(killed), results_of(whole)
    assert got["after"] == want["after"]
    assert got["before"] == want["before"]
    assert resumed["steps"] == expected["steps"] == 12
    np.testing.assert_allclose(resumed["last_loss"], expected["last_loss"],
                               rtol=1e-5)
    assert resumed["tokens_per_second"] > 0
    assert [a["first_step"] for a in got["attempts"]] == first_steps
