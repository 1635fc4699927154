"""A training run for tests/test_checkpoint_faults.py (run as a subprocess).

Usage: python -m tests.checkpoint_worker EXPERIMENT.json [PAUSE]

Runs `run_experiment` on the experiment's fields. PAUSE, `<where>:<step>`,
makes the run stop still at one moment, write `<run_dir>.paused` and sleep,
so that the test can kill it there with a real SIGKILL:

- `batch:<step>`: after training step `<step>` (between checkpoints);
- `memory:<step>`: once this worker's memory of `<step>` is committed and
  before its weights are written (in the middle of a save);
- `weights:<step>`: once the weights of `<step>` are written, before they
  are committed;
- `saved:<step>`: right after checkpoint `<step>` is committed;
- `model:0`: once `model.keras` is written under its temporary name,
  before it is renamed.
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from keras_lrm.training import Experiment  # noqa: E402
from keras_lrm.training import StreamCheckpoint  # noqa: E402
from keras_lrm.training import checkpoint_files  # noqa: E402
from keras_lrm.training import run_experiment  # noqa: E402


def pause(marker):
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    while True:
        time.sleep(60)


def install_pause(where, step, marker):
    if where == "batch":
        original = StreamCheckpoint.on_train_batch_end

        def on_train_batch_end(self, batch, logs=None):
            original(self, batch, logs)
            if self.step == step:
                pause(marker)

        StreamCheckpoint.on_train_batch_end = on_train_batch_end
    elif where in ("memory", "weights", "saved"):
        folder = "memory-worker-0" if where == "memory" else "weights"
        original = checkpoint_files.atomic_write

        def atomic_write(path, data):
            lists_step = path.endswith(os.path.join(folder, "steps.json")) \
                and str(step) in json.loads(data)["steps"]
            if lists_step and where == "weights":
                pause(marker)
            original(path, data)
            if lists_step:
                pause(marker)

        checkpoint_files.atomic_write = atomic_write
    elif where == "model":
        original = tf.io.gfile.rename

        def rename(source, target, overwrite=False):
            if target.endswith("model.keras"):
                pause(marker)
            original(source, target, overwrite=overwrite)

        tf.io.gfile.rename = rename
    else:
        raise ValueError(f"Unknown pause {where!r}")


def main(config_path, pause_at=None):
    with open(config_path) as f:
        experiment = Experiment(**json.load(f))
    if pause_at:
        where, step = pause_at.split(":")
        install_pause(where, int(step), experiment.run_dir + ".paused")
    results = run_experiment(experiment)
    print("RESULTS " + json.dumps(results["train"]), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
