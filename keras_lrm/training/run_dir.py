"""The files of a run folder (`<checkpoint_dir>/<name>/`) that are ours.

A run writes `results.json`, `model.keras`, `tokenizer/` and its
checkpoints (`keras_lrm.training.StreamCheckpoint`) there. `results.json`
is written first, when training starts, and marks the folder as a run's:
a folder whose `model.keras` or `tokenizer/` exists without our
`results.json` beside it holds someone else's files, and a run refuses to
replace them. Other files in the folder are never touched.

`model.keras` is saved under `.tmp-<pid>-<machine>-model.keras` and
renamed; `remove_stale_temporaries` removes such files (and the other
temporaries of our files) once the process that wrote them has ended.
"""

import json
import os
import re

import tensorflow as tf

from keras_lrm.data.files.temporaries import machine_id
from keras_lrm.data.files.temporaries import process_alive
from keras_lrm.data.files.temporaries import remove_quietly
from keras_lrm.data.files.temporaries import remove_temp_files

RESULTS = "results.json"
MODEL = "model.keras"
TOKENIZER = "tokenizer"
_MODEL_TEMP = re.compile(
    r"^\.tmp-(?P<pid>\d+)(?:-(?P<machine>[0-9a-f]{8}))?-model\.keras$")


def model_temp_path(run_dir):
    """Where `model.keras` is written before it is renamed into place."""
    return os.path.join(
        run_dir, f".tmp-{os.getpid()}-{machine_id()}-{MODEL}")


def read_results(run_dir):
    """The run's earlier `results.json` (a dict), or None if there is none.

    Raises:
        ValueError: `run_dir` holds a `results.json`, `model.keras` or
            `tokenizer/` that a run did not write.
    """
    path = os.path.join(run_dir, RESULTS)
    if tf.io.gfile.exists(path):
        try:
            with tf.io.gfile.GFile(path, "r") as f:
                results = json.loads(f.read())
        except (ValueError, UnicodeDecodeError):
            results = None
        if not isinstance(results, dict) or "experiment" not in results:
            raise ValueError(
                f"{path} is not the results file of a keras_lrm run, so "
                f"{run_dir} is not a run folder: nothing in it is "
                "replaced. Choose another `--name` or `--checkpoint_dir`. "
                f"Received: run_dir={run_dir!r}"
            )
        return results
    for name in (MODEL, TOKENIZER):
        if tf.io.gfile.exists(os.path.join(run_dir, name)):
            raise ValueError(
                f"{os.path.join(run_dir, name)} exists but {run_dir} has no "
                f"{RESULTS} of a keras_lrm run: it is not ours and is not "
                "replaced. Choose another `--name` or `--checkpoint_dir`. "
                f"Received: run_dir={run_dir!r}"
            )
    return None


def remove_stale_temporaries(run_dir):
    """Removes the temporaries that killed runs left in `run_dir`.

    Only our own names whose writer has ended: `.tmp-<pid>-model.keras`
    files of this machine, and `temp_path` names of `results.json` and of
    the tokenizer's files. A run still going keeps its temporaries.

    Returns:
        The removed paths.
    """
    if not tf.io.gfile.isdir(run_dir):
        return []
    removed = remove_temp_files(run_dir, {RESULTS})
    tokenizer = os.path.join(run_dir, TOKENIZER)
    removed += remove_temp_files(tokenizer, lambda name: True)
    for name in tf.io.gfile.listdir(run_dir):
        match = _MODEL_TEMP.match(name)
        if match is None:
            continue
        if match.group("machine") not in (None, machine_id()):
            continue
        pid = int(match.group("pid"))
        if pid == os.getpid() or process_alive(pid):
            continue
        path = os.path.join(run_dir, name)
        remove_quietly(path)
        removed.append(path)
    return removed

