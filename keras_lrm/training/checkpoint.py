"""Checkpoints that let a resumed run continue its streams mid-pass.

Keras' `BackupAndRestore` restarts an interrupted epoch from its first batch
and saves only the first replica's value of a per-replica variable. A
memory model needs more: the step (to resume the streams at the next
window) and every replica's memory (to continue each replica's rows). This
callback saves both, beside the weights and the optimizer, with
`tf.train.CheckpointManager` (atomic: files are written, then the index).
"""

import logging
import os

import keras
import tensorflow as tf

from keras_lrm.arguments import check_positive
from keras_lrm.distribute import is_chief


def _worker_tag(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None) if resolver else None
    if not task_type:
        return "worker-0"
    return f"{task_type}-{resolver.task_id}"


class StreamCheckpoint(keras.callbacks.Callback):
    """Saves and restores weights, optimizer, step and per-replica memory.

    Call `restore()` before `fit` (inside the strategy scope) to learn the
    step to resume from; `keras_lrm.training.run_experiment` does this and
    starts the training streams at the matching window.

    Layout: `<directory>/weights/` (model and optimizer, written by the
    chief) and `<directory>/memory-<worker>/` (each worker's replicas'
    training memory). Checkpoint numbers are training steps.

    Args:
        directory: folder (local or `gs://`).
        model: the `StatefulLM` being trained (compiled).
        save_every: steps between saves.
        max_to_keep: checkpoints kept.
    """

    def __init__(self, directory, model, save_every=1000, max_to_keep=2):
        super().__init__()
        check_positive("save_every", save_every)
        self.directory = directory
        self.stateful = model
        self.save_every = save_every
        self.max_to_keep = max_to_keep
        self.strategy = model.distribute_strategy
        self.last_saved = None
        self._managers = None

    def _build_managers(self):
        if self._managers is not None:
            return self._managers
        optimizer = self.stateful.optimizer
        optimizer.build(self.stateful.lm.trainable_variables)
        lm = self.stateful.lm
        # Dropout seed states are model variables that tf.train.Checkpoint
        # does not reach through the layers: save them by hand so that a
        # resumed run draws the same masks as an uninterrupted one.
        weight_ids = {id(w) for w in lm.weights}
        random_states = tf.train.Checkpoint(**{
            f"state_{index}": variable for index, variable in enumerate(
                v for v in lm.variables if id(v) not in weight_ids)})
        weights = tf.train.Checkpoint(lm=lm, optimizer=optimizer,
                                      random_states=random_states)
        memory_variables = {}
        for key, variable in self.stateful.memories["train"].items():
            components = self.strategy.experimental_local_results(
                variable.value)
            for replica, component in enumerate(components):
                memory_variables[f"replica_{replica}_{key}"] = component
        memory = tf.train.Checkpoint(**memory_variables)
        weights_dir = os.path.join(self.directory, "weights")
        if not is_chief(self.strategy):
            weights_dir = os.path.join(
                self.directory, f".tmp-{_worker_tag(self.strategy)}")
        memory_dir = os.path.join(
            self.directory, f"memory-{_worker_tag(self.strategy)}")
        self._managers = (
            tf.train.CheckpointManager(weights, weights_dir,
                                       self.max_to_keep),
            tf.train.CheckpointManager(memory, memory_dir, self.max_to_keep),
        )
        return self._managers

    @property
    def step(self):
        return int(self.stateful.optimizer.iterations.numpy())

    def restore(self):
        """Restores the newest checkpoint, if any; returns its step (or 0)."""
        weights, memory = self._build_managers()
        # Every worker reads the chief's weights; non-chief workers only
        # write theirs to a scratch folder (collective saving).
        latest = tf.train.latest_checkpoint(
            os.path.join(self.directory, "weights"))
        if latest is None:
            return 0
        try:
            weights.checkpoint.restore(latest) \
                .assert_existing_objects_matched()
        except (AssertionError, ValueError) as error:
            raise ValueError(
                f"The checkpoint {latest} does not match this model (another "
                "configuration or library version). Resume with the same "
                "settings, or start afresh with another `--name` or "
                f"`--checkpoint_dir`. Received: directory={self.directory!r}"
            ) from error
        step = self.step
        wanted = os.path.join(memory.directory, f"ckpt-{step}")
        if memory.latest_checkpoint == wanted:
            try:
                memory.checkpoint.restore(wanted) \
                    .assert_existing_objects_matched()
            except (AssertionError, ValueError,
                    tf.errors.InvalidArgumentError) as error:
                raise ValueError(
                    f"The memory checkpoint {wanted} does not match this "
                    "run's memory: the batch size, the number of replicas "
                    "or the memory lengths differ from the run that saved "
                    "it. Resume with the same settings, or start afresh "
                    "with another `--name` or `--checkpoint_dir`. Received: "
                    f"batch_size={self.stateful.batch_size}"
                ) from error
        else:
            logging.warning(
                "No memory checkpoint for step %d in %s: the streams resume "
                "with an empty memory.", step, memory.directory)
            self.stateful.reset_memory("train")
        self.last_saved = step
        logging.info("Restored %s at step %d", latest, step)
        return step

    def save(self):
        step = self.step
        if step == self.last_saved:
            return
        weights, memory = self._build_managers()
        weights.save(checkpoint_number=step)
        memory.save(checkpoint_number=step)
        self.last_saved = step

    def on_train_batch_end(self, batch, logs=None):
        if self.step - (self.last_saved or 0) >= self.save_every:
            self.save()

    def on_train_end(self, logs=None):
        self.save()
