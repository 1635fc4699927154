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
