"""The files of a `StreamCheckpoint` folder: records, steps, workers.

A checkpoint folder (`weights/`, `memory-<worker>/`) holds `ckpt-<step>.*`
files written by `tf.train.Checkpoint.write` and `steps.json`, the record
of the committed steps (replaced atomically once a step's files are all
written). Only these names are ever removed.
"""

import json
import os
import re

import tensorflow as tf

from keras_lrm.data.files.temporaries import atomic_write
from keras_lrm.data.files.temporaries import remove_quietly

RECORD = "steps.json"
LAYOUT = "stream_layout.json"
RECORD_FORMAT = 1
STEP_FILE = re.compile(r"^ckpt-(\d+)(?:\.|_temp)")


def worker_tags(strategy):
    """Names of the memory folders: one per worker of the cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return ["worker-0"]
    spec = resolver.cluster_spec()
    return [f"{job}-{index}" for job in ("chief", "worker")
            if job in spec.jobs for index in spec.task_indices(job)]


def worker_tag(strategy):
    """This worker's name among `worker_tags`."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return "worker-0"
    return f"{resolver.task_type}-{resolver.task_id}"


def all_finite(variables):
    """Whether every floating-point value of `variables` is finite."""
    checks = [tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v)))
              for v in variables if tf.as_dtype(v.dtype).is_floating]
    return bool(tf.reduce_all(tf.stack(checks))) if checks else True


def read_record(directory):
    """The committed steps of a checkpoint folder: `{step: info dict}`."""
    path = os.path.join(directory, RECORD)
    if not tf.io.gfile.exists(path):
        return {}
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            record = json.loads(f.read())
        return {int(step): info for step, info in record["steps"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"The checkpoint record {path} is damaged: expected JSON with "
            "the committed steps. Restore it, or start afresh with another "
            f"`--name` or `--checkpoint_dir`. Received: path={path!r}"
        ) from error


def write_record(directory, steps):
    atomic_write(os.path.join(directory, RECORD), json.dumps(
        {"format": RECORD_FORMAT,
         "steps": {str(step): steps[step] for step in sorted(steps)}},
        indent=1))


def remove_step_files(directory, steps):
    """Removes the files of checkpoint `steps` (ours: `ckpt-<step>...`)."""
    if not tf.io.gfile.isdir(directory):
        return
    for name in tf.io.gfile.listdir(directory):
        match = STEP_FILE.match(name)
        if match is None or int(match.group(1)) not in steps:
            continue
        path = os.path.join(directory, name.rstrip("/"))
        if tf.io.gfile.isdir(path):
            # TensorFlow's scratch folder of an interrupted write.
            for part in tf.io.gfile.listdir(path):
                remove_quietly(os.path.join(path, part))
            if not tf.io.gfile.listdir(path):
                tf.io.gfile.rmtree(path)
        else:
            remove_quietly(path)


def step_files(directory):
    """The step numbers that have files in `directory`."""
    if not tf.io.gfile.isdir(directory):
        return set()
    return {int(m.group(1)) for m in map(
        STEP_FILE.match, tf.io.gfile.listdir(directory)) if m}
