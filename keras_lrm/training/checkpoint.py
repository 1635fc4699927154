"""Checkpoints that let a resumed run continue its streams mid-pass.

Keras' `BackupAndRestore` restarts an interrupted epoch from its first batch
and saves only the first replica's value of a per-replica variable. A
memory model needs more: the step (to resume the streams at the next
window) and every replica's memory (to continue each replica's rows). This
callback saves both, beside the weights and the optimizer.

A step counts as saved only when it is committed: its files are written,
then its number is added to the folder's record (`steps.json`, replaced
atomically). The weights and every worker's memory are separate folders,
so a kill can leave a step with weights but no memory (or the reverse);
`restore` takes the newest step that every folder has committed, so the
memory always belongs to the weights. Old checkpoints are removed only
when `max_to_keep` newer complete steps exist, and nothing non-finite is
ever saved, so a good checkpoint is never rotated out for a bad one.
"""

import json
import logging
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_lrm.arguments import check_positive
from keras_lrm.data.files.temporaries import atomic_write
from keras_lrm.data.files.temporaries import remove_temp_files
from keras_lrm.distribute import is_chief
from keras_lrm.errors import NonFiniteError
from keras_lrm.training.checkpoint_files import LAYOUT
from keras_lrm.training.checkpoint_files import RECORD
from keras_lrm.training.checkpoint_files import all_finite
from keras_lrm.training.checkpoint_files import read_record
from keras_lrm.training.checkpoint_files import remove_step_files
from keras_lrm.training.checkpoint_files import step_files
from keras_lrm.training.checkpoint_files import worker_tag
from keras_lrm.training.checkpoint_files import worker_tags
from keras_lrm.training.checkpoint_files import write_record

# Stream layout keys added after the first checkpoints were written, and
# the value those checkpoints had.
LAYOUT_DEFAULTS = {"bptt_segments": 1, "num_memory_tokens": 0}


class StreamCheckpoint(keras.callbacks.Callback):
    """Saves and restores weights, optimizer, step and per-replica memory.

    Call `restore()` before `fit` (inside the strategy scope) to learn the
    step to resume from; `keras_lrm.training.run_experiment` does this and
    starts the training streams at the matching window.

    Layout of `directory`: `weights/` (model, optimizer and dropout seed
    states, written by the chief), `memory-<worker>/` (each worker's
    replicas' training memory), each with its `steps.json` record of the
    committed steps, and `stream_layout.json` (the batch size, replicas,
    workers, segment and memory lengths, the segments per window and the
    memory tokens, and `layout`). Checkpoint numbers
    are training steps. Only these names are ever written or removed.

    Safety:
        - A step whose weights, optimizer state or memory hold a NaN or an
          infinity is never saved, nor is anything saved after a
          non-finite loss: training stops and `fit` raises
          `keras_lrm.errors.NonFiniteError` naming the step and the last
          good checkpoint (kept).
        - `restore` takes the newest step committed in the weights and in
          every worker's memory; it skips (with a warning naming it) a
          checkpoint whose weights are not finite, and removes the newer,
          incomplete steps that the resumed run will write again.
        - `restore` refuses, with a `ValueError` naming both values, a
          checkpoint saved with another stream layout.

    The record of each step also keeps the training seconds (summed over
    the runs that led to it) and the mean loss since its epoch began, so a
    resumed run reports the figures of an uninterrupted one (`progress`).

    Args:
        directory: folder (local or `gs://`).
        model: the `StatefulLM` being trained (compiled).
        save_every: steps between saves.
        max_to_keep: complete checkpoints kept.
        layout: dict of further values that must not change on resume
            (e.g. the data layout's windows per pass), JSON-serializable.
    """

    def __init__(self, directory, model, save_every=1000, max_to_keep=2,
                 layout=None):
        super().__init__()
        check_positive("save_every", save_every)
        check_positive("max_to_keep", max_to_keep)
        if layout is not None and not isinstance(layout, dict):
            raise ValueError(
                "`layout` must be a dict of JSON values. Received: "
                f"layout={layout!r}"
            )
        self.directory = directory
        self.stateful = model
        self.save_every = save_every
        self.max_to_keep = max_to_keep
        self.strategy = model.distribute_strategy
        self.layout = {
            "batch_size": model.batch_size,
            "replicas": self.strategy.num_replicas_in_sync,
            "workers": len(worker_tags(self.strategy)),
            "segment_length": model.lm.segment_length,
            "memory_lengths": list(model.lm.memory_lengths),
            "bptt_segments": model.bptt_segments,
            "num_memory_tokens": model.lm.num_memory_tokens,
            **(layout or {}),
        }
        self.last_saved = None
        self.non_finite_step = None
        self.seconds = 0.0
        self.attempt = 1
        self._loss_epoch = None
        self._loss_base = (0.0, 0)
        self._loss_now = (0.0, 0)
        self._fit_started = None
        self._trained = False
        self._seconds_at_fit_start = 0.0
        self._checkpoints = None

    # Folders.
    @property
    def weights_dir(self):
        return os.path.join(self.directory, "weights")

    def memory_dir(self, tag):
        return os.path.join(self.directory, f"memory-{tag}")

    def _own_dirs(self):
        """Folders this worker writes (and may clean)."""
        own = [self.memory_dir(worker_tag(self.strategy))]
        if is_chief(self.strategy):
            own.append(self.weights_dir)
        return own

    def _build(self):
        if self._checkpoints is not None:
            return self._checkpoints
        optimizer = self.stateful.optimizer
        optimizer.build(self.stateful.lm.trainable_variables)
        lm = self.stateful.lm
        # Dropout seed states are model variables that tf.train.Checkpoint
        # does not reach through the layers: save them by hand so that a
        # resumed run draws the same masks as an uninterrupted one.
        weight_ids = {id(w) for w in lm.weights}
        self._random_states = [v for v in lm.variables
                               if id(v) not in weight_ids]
        random_states = tf.train.Checkpoint(**{
            f"state_{index}": variable
            for index, variable in enumerate(self._random_states)})
        weights = tf.train.Checkpoint(lm=lm, optimizer=optimizer,
                                      random_states=random_states)
        memory_variables = {}
        for key, variable in self.stateful.memories["train"].items():
            components = self.strategy.experimental_local_results(
                variable.value)
            for replica, component in enumerate(components):
                memory_variables[f"replica_{replica}_{key}"] = component
        self._memory_variables = list(memory_variables.values())
        memory = tf.train.Checkpoint(**memory_variables)
        self._checkpoints = (weights, memory)
        return self._checkpoints

    def _weight_variables(self):
        return list(self.stateful.lm.weights) + list(
            self.stateful.optimizer.variables)

    @property
    def step(self):
        return int(self.stateful.optimizer.iterations.numpy())

    def complete_steps(self):
        """Steps committed in the weights and in every worker's memory."""
        steps = set(read_record(self.weights_dir))
        for tag in worker_tags(self.strategy):
            steps &= set(read_record(self.memory_dir(tag)))
        return sorted(steps)

    @property
    def last_good_checkpoint(self):
        """Path of the newest complete checkpoint's weights, or None."""
        steps = self.complete_steps()
        return os.path.join(self.weights_dir, f"ckpt-{steps[-1]}") \
            if steps else None

    @property
    def progress(self):
        """Figures of the training so far, over every resumed run.

        `seconds`: training time inside `fit`, summed over the runs up to
        the current step (the steps a killed run made after its last
        checkpoint are not counted: they were made again); `last_loss`:
        the mean training loss since the current epoch (pass) began, as
        Keras logs it for an uninterrupted epoch; `attempts`: how many runs
        trained towards this step.
        """
        total, count = self._loss_now
        return {"steps": self.step, "seconds": self.seconds,
                "last_loss": total / count if count else None,
                "attempts": self.attempt if self._trained
                else max(1, self.attempt - 1)}

    # Layout.
    def _check_layout(self):
        path = os.path.join(self.directory, LAYOUT)
        if not tf.io.gfile.exists(path):
            return
        try:
            with tf.io.gfile.GFile(path, "r") as f:
                saved = json.loads(f.read())
            if not isinstance(saved, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            raise ValueError(
                f"The stream layout file {path} is damaged ({error}). "
                "Restore it, or start afresh with another `--name` or "
                f"`--checkpoint_dir`. Received: path={path!r}"
            ) from error
        current = json.loads(json.dumps(self.layout))
        # A layout written before a key existed had its default value.
        saved = {**LAYOUT_DEFAULTS, **saved}
        differences = [(key, saved[key], current[key]) for key in current
                       if key in saved and saved[key] != current[key]]
        if differences:
            listed = "; ".join(f"{key}: checkpoint {old}, this run {new}"
                               for key, old, new in differences)
            key, _, new = differences[0]
            raise ValueError(
                f"The checkpoint in {self.directory} was saved with another "
                f"stream layout ({listed}): its streams and memory cannot "
                "continue in this run. Resume with the checkpoint's "
                "settings, or start afresh with another `--name` or "
                f"`--checkpoint_dir`. Received: {key}={new!r}"
            )

    def _write_layout(self):
        path = os.path.join(self.directory, LAYOUT)
        if is_chief(self.strategy) and not tf.io.gfile.exists(path):
            tf.io.gfile.makedirs(self.directory)
            atomic_write(path, json.dumps(self.layout, indent=1))

    # Restore.
    def _check_format(self):
        legacy = os.path.join(self.weights_dir, "checkpoint")
        if tf.io.gfile.exists(legacy) and not tf.io.gfile.exists(
                os.path.join(self.weights_dir, RECORD)):
            raise ValueError(
                f"The checkpoints in {self.directory} were written by an "
                "earlier keras_lrm version, which saved weights and memory "
                "without a common record: they cannot be resumed exactly. "
                "Start afresh with another `--name` or `--checkpoint_dir`. "
                f"Received: directory={self.directory!r}"
            )

    def _clean(self, directory, keep):
        """Removes our uncommitted step files and stale temporaries.

        Only in a folder marked as ours: `stream_layout.json` is written
        before the first checkpoint, so files of a folder without it are
        someone else's and stay.
        """
        if not tf.io.gfile.exists(os.path.join(self.directory, LAYOUT)):
            return
        remove_temp_files(directory, {RECORD})
        remove_step_files(directory, step_files(directory) - set(keep))

    def _restore_weights(self, path):
        weights, _ = self._build()
        try:
            weights.read(path).assert_existing_objects_matched()
        except (AssertionError, ValueError,
                tf.errors.InvalidArgumentError) as error:
            raise ValueError(
                f"The checkpoint {path} does not match this model (another "
                "configuration or library version). Resume with the same "
                "settings, or start afresh with another `--name` or "
                f"`--checkpoint_dir`. Received: directory={self.directory!r}"
            ) from error

    def _restore_memory(self, path):
        _, memory = self._build()
        try:
            memory.read(path).assert_existing_objects_matched()
        except (AssertionError, ValueError,
                tf.errors.InvalidArgumentError) as error:
            raise ValueError(
                f"The memory checkpoint {path} does not match this run's "
                "memory: the batch size, the number of replicas or the "
                "memory lengths differ from the run that saved it. Resume "
                "with the same settings, or start afresh with another "
                "`--name` or `--checkpoint_dir`. Received: "
                f"batch_size={self.stateful.batch_size}"
            ) from error
        if not all_finite(self._memory_variables):
            raise NonFiniteError(
                f"The memory checkpoint {path} holds non-finite values. "
                "Start afresh with another `--name` or `--checkpoint_dir`."
            )

    def restore(self):
        """Restores the newest complete, finite checkpoint; returns its step.

        Returns 0 (and restores nothing) when there is no checkpoint. Our
        own leftovers of a killed save (uncommitted step files, stale
        temporaries) are removed.

        Raises:
            ValueError: the checkpoint was saved with another layout or
                model, or no step has both weights and every worker's
                memory.
            NonFiniteError: every checkpoint holds non-finite weights.
        """
        self._build()
        self._check_format()
        self._check_layout()
        weights_steps = read_record(self.weights_dir)
        own_tag = worker_tag(self.strategy)
        memory_steps = {tag: read_record(self.memory_dir(tag))
                        for tag in worker_tags(self.strategy)}
        if is_chief(self.strategy):
            remove_temp_files(self.directory, {LAYOUT})
        if not weights_steps:
            for directory in self._own_dirs():
                self._clean(directory, read_record(directory))
            return 0
        complete = set(weights_steps)
        for steps in memory_steps.values():
            complete &= set(steps)
        if not complete:
            listed = ", ".join(f"memory-{tag}: {sorted(steps)}"
                               for tag, steps in memory_steps.items())
            raise ValueError(
                f"The checkpoints in {self.directory} have weights for "
                f"steps {sorted(weights_steps)} but no step with every "
                f"worker's memory ({listed}): the run cannot continue its "
                "streams exactly. Start afresh with another `--name` or "
                f"`--checkpoint_dir`. Received: directory={self.directory!r}"
            )
        skipped = []
        for step in sorted(complete, reverse=True):
            path = os.path.join(self.weights_dir, f"ckpt-{step}")
            self._restore_weights(path)
            if all_finite(self._weight_variables()):
                break
            logging.warning("Skipping checkpoint %s: its weights or "
                            "optimizer state are not finite.", path)
            skipped.append(path)
        else:
            raise NonFiniteError(
                f"Every checkpoint in {self.directory} holds non-finite "
                f"weights ({', '.join(skipped)}). Start afresh with another "
                "`--name` or `--checkpoint_dir`."
            )
        self._restore_memory(os.path.join(self.memory_dir(own_tag),
                                          f"ckpt-{step}"))
        # Newer steps (incomplete, or skipped) belong to a run that will
        # not continue: forget them, and write them again when reached.
        for directory in self._own_dirs():
            record = read_record(directory)
            kept = {s: info for s, info in record.items() if s <= step}
            if len(kept) != len(record):
                write_record(directory, kept)
            self._clean(directory, kept)
        info = weights_steps[step]
        self.seconds = float(info.get("seconds", 0.0))
        self.attempt = int(info.get("attempt", 1)) + 1
        self._loss_epoch = info.get("epoch")
        self._loss_base = self._loss_now = (
            float(info.get("loss_total", 0.0)), int(info.get("loss_steps", 0)))
        self.last_saved = step
        logging.info("Restored %s at step %d", path, step)
        return step

    # Save.
    def _non_finite(self, step, what):
        self.non_finite_step = step
        if self.model is not None:
            self.model.stop_training = True
        logging.error("Non-finite %s at step %d: not saved.", what, step)

    def save(self):
        """Saves the current step; returns False if it is not finite."""
        step = self.step
        if step == self.last_saved:
            return True
        weights, memory = self._build()
        if not all_finite(self._weight_variables()):
            self._non_finite(step, "weights or optimizer state")
            return False
        if not all_finite(self._memory_variables):
            self._non_finite(step, "memory")
            return False
        self._write_layout()
        memory_dir = self.memory_dir(worker_tag(self.strategy))
        self._write(memory, memory_dir, step, {})
        if is_chief(self.strategy):
            total, count = self._loss_now
            self._write(weights, self.weights_dir, step, {
                "seconds": self.seconds, "attempt": self.attempt,
                "epoch": self._loss_epoch, "loss_total": total,
                "loss_steps": count})
        else:
            # Every worker takes part in writing the (mirrored) weights;
            # the others' copies go to a scratch folder and are removed.
            scratch = os.path.join(
                self.directory, f"scratch-{worker_tag(self.strategy)}")
            weights.write(os.path.join(scratch, f"ckpt-{step}"))
            remove_step_files(scratch, {step})
        self._prune()
        self.last_saved = step
        return True

    def _write(self, checkpoint, directory, step, info):
        record = read_record(directory)
        if step in record:
            # Written by a run that did not continue: uncommit it first,
            # so that a kill while writing it again leaves no half step.
            del record[step]
            write_record(directory, record)
        checkpoint.write(os.path.join(directory, f"ckpt-{step}"))
        record[step] = info
        write_record(directory, record)

    def _prune(self):
        # A worker other than the chief sees the weights the chief has
        # committed so far, so it may keep a step or two more for a while.
        complete = self.complete_steps()
        if len(complete) <= self.max_to_keep:
            return
        oldest_kept = complete[-self.max_to_keep]
        for directory in self._own_dirs():
            record = read_record(directory)
            old = {s for s in record if s < oldest_kept}
            if old:
                write_record(directory, {s: info for s, info in
                                          record.items() if s not in old})
                remove_step_files(directory, old)

    # Callback.
    def on_train_begin(self, logs=None):
        self._fit_started = time.perf_counter()
        self._seconds_at_fit_start = self.seconds
        self.non_finite_step = None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch != self._loss_epoch:
            self._loss_epoch = epoch
            self._loss_base = self._loss_now = (0.0, 0)

    def on_train_batch_end(self, batch, logs=None):
        self._trained = True
        self.seconds = self._seconds_at_fit_start + (
            time.perf_counter() - self._fit_started)
        loss = (logs or {}).get("loss")
        if loss is not None:
            loss = float(np.mean(loss))
            if not math.isfinite(loss):
                self._non_finite(self.step, f"loss ({loss})")
                return
            total, count = self._loss_base
            self._loss_now = (total + loss * (batch + 1), count + batch + 1)
        if self.step - (self.last_saved or 0) >= self.save_every:
            self.save()

    def on_train_end(self, logs=None):
        self._loss_base = self._loss_now
        if self.non_finite_step is None:
            self.save()
        if self.non_finite_step is not None:
            kept = self.last_good_checkpoint
            kept = kept or "none (no step was saved)"
            raise NonFiniteError(
                "Training produced a non-finite loss, weight or optimizer "
                f"value at step {self.non_finite_step}; nothing of it was "
                f"saved. The last good checkpoint, kept, is {kept}. Lower "
                "the learning rate or clip the gradients (`clip_norm`) and "
                "resume from it, or start afresh."
            )
