"""(b) Two MultiWorkerMirroredStrategy workers on 127.0.0.1 train together."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from keras_lrm.data import ByteTokenizer
from keras_lrm.data import TextFilesCorpus
from keras_lrm.data import prepare

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def worker_env(cluster, index):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    if cluster:
        env["TF_CONFIG"] = json.dumps(
            {"cluster": {"worker": cluster},
             "task": {"type": "worker", "index": index}})
    else:
        env.pop("TF_CONFIG", None)
    return env


@pytest.mark.slow
def test_two_workers_agree_and_each_continues_its_rows(tmp_path):
    rng = np.random.default_rng(3)
    text = tmp_path / "text.txt"
    text.write_bytes(b"\n".join(
        bytes(rng.integers(97, 123, 30).astype(np.uint8))
        for _ in range(400)) + b"\n")
    manifest = prepare(TextFilesCorpus(str(text)), ByteTokenizer(),
                       output_dir=str(tmp_path / "records"),
                       chunk_size=256, progress=False)
    command = [sys.executable, "-m", "tests.multiworker_worker",
               manifest.directory]
    cluster = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workers = [
        subprocess.Popen(command + [str(tmp_path / f"worker{i}.npz")],
                         cwd=ROOT, env=worker_env(cluster, i),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for i in range(2)
    ]
    # The same training on one device: the reference for weights and rows.
    single = subprocess.run(
        command + [str(tmp_path / "single.npz"), "cpu"], cwd=ROOT,
        env=worker_env(None, 0), capture_output=True, timeout=300)
    assert single.returncode == 0, single.stdout + single.stderr
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output.decode()[-3000:]
    results = [np.load(tmp_path / f"worker{i}.npz") for i in range(2)]
    reference = np.load(tmp_path / "single.npz")
    weights = sorted(k for k in reference if k.startswith("weight_"))
    for key in weights:
        np.testing.assert_array_equal(results[0][key], results[1][key])
        np.testing.assert_allclose(results[0][key], reference[key],
                                   atol=1e-5)
    for worker, result in enumerate(results):
        rows = slice(2 * worker, 2 * worker + 2)
        for key in reference:
            if key.startswith("replica_0_"):
                np.testing.assert_allclose(result[key],
                                           reference[key][rows], atol=1e-5)


def start_worker(config, cluster, index, pause=None):
    command = [sys.executable, "-m", "tests.checkpoint_worker", config]
    return subprocess.Popen(command + ([pause] if pause else []), cwd=ROOT,
                            env=worker_env(cluster, index),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finished(process, timeout=300):
    output, _ = process.communicate(timeout=timeout)
    output = output.decode()
    assert process.returncode == 0, output[-3000:]
    return output


@pytest.mark.slow
def test_a_killed_worker_resumes_with_the_other_from_the_last_checkpoint(
        tmp_path):
    """Kill one of two workers mid-run; restart both: the run resumes."""
    import dataclasses
    import signal
    import time

    import keras
    import tensorflow as tf

    from keras_lrm.training.experiment import prepare_data
    from tests.test_checkpoint_faults import tiny_experiment
    from tests.test_checkpoint_faults import write_text

    text = write_text(tmp_path / "text.txt", lines=400)
    # No clipping: Keras clips each replica's gradients before they are
    # summed, so a clipped run differs from one device's.
    experiment = tiny_experiment(
        tmp_path / "multi", text, strategy="multiworker", batch_size=4,
        dropout=0.0, train_steps=8, save_every=2, learning_rate=1e-2,
        clip_norm=0.0)
    prepare_data(experiment)
    config = str(tmp_path / "experiment.json")
    with open(config, "w") as f:
        json.dump(dataclasses.asdict(experiment), f)
    single = dataclasses.replace(
        experiment, strategy="cpu", checkpoint_dir=str(tmp_path / "single"))
    single_config = str(tmp_path / "single.json")
    with open(single_config, "w") as f:
        json.dump(dataclasses.asdict(single), f)
    reference = start_worker(single_config, None, 0)

    cluster = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workers = [start_worker(config, cluster, 0),
               start_worker(config, cluster, 1, pause="batch:5")]
    marker = experiment.run_dir + ".paused"
    deadline = time.monotonic() + 300
    while not os.path.exists(marker):
        assert workers[1].poll() is None, workers[1].stdout.read()[-3000:]
        assert time.monotonic() < deadline, "worker 1 never paused"
        time.sleep(0.05)
    os.kill(workers[1].pid, signal.SIGKILL)
    workers[1].wait(timeout=30)
    # The other worker waits for it in a collective: restart both.
    time.sleep(2)
    if workers[0].poll() is None:
        os.kill(workers[0].pid, signal.SIGKILL)
    workers[0].wait(timeout=30)
    os.remove(marker)
    weights = os.path.join(experiment.run_dir, "weights")
    with open(os.path.join(weights, "steps.json")) as f:
        assert sorted(map(int, json.load(f)["steps"])) == [2, 4]

    cluster = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workers = [start_worker(config, cluster, i) for i in range(2)]
    for worker in workers:
        finished(worker)
    finished(reference)
    with open(os.path.join(experiment.run_dir, "results.json")) as f:
        results = json.load(f)
    assert [a["first_step"] for a in results["attempts"]] == [0, 4]
    assert results["train"]["steps"] == 8
    # Every kept checkpoint reads back whole, with finite values.
    for folder in ("weights", "memory-worker-0", "memory-worker-1"):
        with open(os.path.join(experiment.run_dir, folder,
                               "steps.json")) as f:
            steps = sorted(map(int, json.load(f)["steps"]))
        # The other worker prunes by the weights the chief had committed
        # when it looked, so it may keep older steps for a while.
        assert steps[-2:] == [6, 8], folder
        assert folder == "memory-worker-1" or steps == [6, 8], folder
        for step in steps:
            reader = tf.train.load_checkpoint(os.path.join(
                experiment.run_dir, folder, f"ckpt-{step}"))
            for name in reader.get_variable_to_shape_map():
                value = np.asarray(reader.get_tensor(name))
                if value.dtype.kind == "f":
                    assert np.isfinite(value).all(), (folder, step, name)
    a = keras.saving.load_model(os.path.join(experiment.run_dir,
                                             "model.keras"))
    b = keras.saving.load_model(os.path.join(single.run_dir, "model.keras"))
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(x, y, atol=1e-5)
