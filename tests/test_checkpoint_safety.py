"""StreamCheckpoint never saves nor resumes poison, and keeps pairs whole.

Issue 19, items 2, 3, 6 and 8, in one process (tests/test_checkpoint_faults.py
kills real processes).
"""

import json
import logging
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lrm import Placement
from keras_lrm.data import ByteTokenizer
from keras_lrm.data import TextFilesCorpus
from keras_lrm.data import prepare
from keras_lrm.data.files.temporaries import machine_id
from keras_lrm.data.files.temporaries import temp_path
from keras_lrm.data.streams import StreamSource
from keras_lrm.data.streams import distribute_streams
from keras_lrm.data.streams import stream_dataset
from keras_lrm.data.streams import train_layout
from keras_lrm.errors import NonFiniteError
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.training import StatefulLM
from keras_lrm.training import StreamCheckpoint
from keras_lrm.training import checkpoint as checkpoint_module
from keras_lrm.training import run_experiment
from keras_lrm.training.run_dir import remove_stale_temporaries
from tests.test_checkpoint_faults import tiny_experiment
from tests.test_checkpoint_faults import write_text
from tests.test_stateful_training import two_cpu_strategy


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety")
    rng = np.random.default_rng(1)
    (root / "text.txt").write_bytes(b"\n".join(
        bytes(rng.integers(97, 123, 40).astype(np.uint8))
        for _ in range(300)) + b"\n")
    manifest = prepare(TextFilesCorpus(str(root / "text.txt")),
                       ByteTokenizer(), output_dir=str(root / "records"),
                       chunk_size=128, progress=False)
    return StreamSource.from_manifest(manifest, "train")


def tiny_model(batch_size=2, segment_length=8):
    keras.utils.set_random_seed(5)
    lm = MemoryTransformerLM(256, 1, 16, 2, 32, segment_length,
                             Placement("last", 1, 16, 8))
    model = StatefulLM(lm, batch_size)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    return model


def train(model, source, steps, callbacks, batch_size=2):
    layout = train_layout(source.num_tokens, batch_size, 8)
    model.fit(stream_dataset(source, layout).take(steps), verbose=0,
              shuffle=False, callbacks=callbacks)


class PoisonAt(keras.callbacks.Callback):
    """Puts a NaN into a weight at the end of step `step`."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            weight = self.model.lm.trainable_weights[0]
            weight.assign(np.full(weight.shape, np.nan, "float32"))


def records(directory, folder):
    with open(os.path.join(directory, folder, "steps.json")) as f:
        return sorted(int(s) for s in json.load(f)["steps"])


@pytest.mark.parametrize("poison_first,bad_step,last_good", [
    (False, 6, 4),  # NaN weights at step 5: the loss of step 6 is NaN.
    (True, 4, 2),   # NaN put in before the save of step 4: not saved.
])
def test_a_nan_run_saves_nothing_and_keeps_the_last_good_checkpoint(
        source, tmp_path, poison_first, bad_step, last_good):
    model = tiny_model()
    saver = StreamCheckpoint(str(tmp_path), model, save_every=2,
                             max_to_keep=1)
    poison = PoisonAt(4 if poison_first else 5)
    callbacks = [poison, saver] if poison_first else [saver, poison]
    good = f"{tmp_path}/weights/ckpt-{last_good}"
    with pytest.raises(NonFiniteError, match=(
            f"at step {bad_step}; nothing of it was saved. The last good "
            f"checkpoint, kept, is {good}")):
        train(model, source, 10, callbacks)
    assert records(tmp_path, "weights") == [last_good]
    assert records(tmp_path, "memory-worker-0") == [last_good]
    assert not any(name.startswith(f"ckpt-{bad_step}")
                   for name in os.listdir(tmp_path / "weights"))
    # A rerun resumes the good checkpoint, not the poison.
    again = tiny_model()
    assert StreamCheckpoint(str(tmp_path), again).restore() == last_good
    assert all(np.isfinite(w).all() for w in again.lm.get_weights())


def test_restore_skips_a_checkpoint_with_non_finite_weights(
        source, tmp_path, monkeypatch, caplog):
    model = tiny_model()
    saver = StreamCheckpoint(str(tmp_path), model, save_every=2)
    train(model, source, 2, [saver])
    # A checkpoint with a NaN weight, as an unchecked save wrote them.
    weight = model.lm.trainable_weights[0]
    weight.assign(np.full(weight.shape, np.nan, "float32"))
    model.optimizer.iterations.assign(4)
    monkeypatch.setattr(checkpoint_module, "all_finite", lambda v: True)
    saver.save()
    monkeypatch.undo()
    assert records(tmp_path, "weights") == [2, 4]
    again = tiny_model()
    with caplog.at_level(logging.WARNING):
        step = StreamCheckpoint(str(tmp_path), again).restore()
    assert step == 2
    assert f"{tmp_path}/weights/ckpt-4" in caplog.text
    assert all(np.isfinite(w).all() for w in again.lm.get_weights())
    assert records(tmp_path, "weights") == [2]
    assert not os.path.exists(tmp_path / "weights" / "ckpt-4.index")


def test_weights_without_their_memory_are_never_resumed_silently(
        source, tmp_path):
    model = tiny_model()
    train(model, source, 4, [StreamCheckpoint(str(tmp_path), model,
                                              save_every=2)])
    # As a kill between the two writes of step 2 (and 4) left them.
    (tmp_path / "memory-worker-0" / "steps.json").write_text(
        json.dumps({"format": 1, "steps": {}}))
    with pytest.raises(ValueError, match=(
            r"weights for steps \[2, 4\] but no step with every worker's "
            r"memory \(memory-worker-0: \[\]\)")):
        StreamCheckpoint(str(tmp_path), tiny_model()).restore()


def test_restore_takes_the_newest_step_that_has_weights_and_memory(
        source, tmp_path):
    model = tiny_model()
    train(model, source, 4, [StreamCheckpoint(str(tmp_path), model,
                                              save_every=2)])
    path = tmp_path / "memory-worker-0" / "steps.json"
    record = json.loads(path.read_text())
    del record["steps"]["4"]
    path.write_text(json.dumps(record))
    again = tiny_model()
    saver = StreamCheckpoint(str(tmp_path), again)
    assert saver.restore() == 2
    # The unmatched weights of step 4 are forgotten, and written again.
    assert records(tmp_path, "weights") == [2]
    reference = tiny_model()
    train(reference, source, 2, [])
    for key, value in reference.replica_memory("train")[0].items():
        np.testing.assert_array_equal(
            np.asarray(value), np.asarray(again.replica_memory()[0][key]))


@pytest.mark.parametrize("changes,message", [
    ({"segment_length": 4}, "segment_length: checkpoint 8, this run 4"),
    ({"layout": {"windows_per_pass": 12}},
     "windows_per_pass: checkpoint 10, this run 12"),
])
def test_resuming_with_another_layout_is_refused_naming_both_values(
        source, tmp_path, changes, message):
    model = tiny_model()
    train(model, source, 1, [StreamCheckpoint(
        str(tmp_path), model, layout={"windows_per_pass": 10})])
    other = tiny_model(segment_length=changes.get("segment_length", 8))
    saver = StreamCheckpoint(str(tmp_path), other, layout=changes.get(
        "layout", {"windows_per_pass": 10}))
    with pytest.raises(ValueError, match=message):
        saver.restore()


def test_each_replica_gets_its_own_memory_back(source, tmp_path):
    strategy = two_cpu_strategy()
    layout = train_layout(source.num_tokens, 4, 8)
    with strategy.scope():
        model = tiny_model(batch_size=4)
        saver = StreamCheckpoint(str(tmp_path), model)
    model.fit(distribute_streams(strategy, source, layout), epochs=1,
              steps_per_epoch=3, shuffle=False, verbose=0,
              callbacks=[saver])
    saved = [{k: np.asarray(v) for k, v in state.items()}
             for state in model.replica_memory("train")]
    with strategy.scope():
        again = tiny_model(batch_size=4)
        assert StreamCheckpoint(str(tmp_path), again).restore() == 3
    restored = again.replica_memory("train")
    for replica in range(2):
        for key, value in saved[replica].items():
            np.testing.assert_array_equal(np.asarray(
                restored[replica][key]), value)
    floats = [k for k, v in saved[0].items() if v.dtype.kind == "f"]
    assert any(not np.array_equal(saved[0][k], saved[1][k]) for k in floats)


def dead_pid():
    process = subprocess.run([sys.executable, "-c", "import os; "
                              "print(os.getpid())"], capture_output=True)
    return int(process.stdout)


def test_only_stale_temporaries_of_our_own_files_are_removed(tmp_path):
    dead, alive = dead_pid(), os.getppid()
    names = {
        f".tmp-{dead}-model.keras": False,
        f".tmp-{dead}-{machine_id()}-model.keras": False,
        f".tmp-{alive}-{machine_id()}-model.keras": True,
        f".tmp-{dead}-00000000-model.keras": True,  # another machine's
        ".tmp-notes-model.keras": True,
        "model.keras": True,
        "notes.txt": True,
    }
    for name in names:
        (tmp_path / name).write_text("x")
    results_temp = temp_path(str(tmp_path / "results.json")).replace(
        f"tmp-{os.getpid()}-", f"tmp-{dead}-")
    with open(results_temp, "w") as f:
        f.write("{")
    remove_stale_temporaries(str(tmp_path))
    for name, kept in names.items():
        assert (tmp_path / name).exists() == kept, name
    assert not os.path.exists(results_temp)


def test_a_diverging_run_stops_naming_the_step_and_the_good_checkpoint(
        tmp_path):
    # Adam steps of 1e30 overflow the activations at the second step.
    run = tiny_experiment(tmp_path, write_text(tmp_path / "text.txt"),
                          learning_rate=1e30, clip_norm=0.0, dropout=0.0,
                          save_every=1, train_steps=8)
    good = os.path.join(run.run_dir, "weights", "ckpt-1")
    message = (f"at step 2; nothing of it was saved. The last good "
               f"checkpoint, kept, is {good}")
    for _ in range(2):  # The rerun resumes the good checkpoint, not poison.
        with pytest.raises(NonFiniteError, match=message):
            run_experiment(run)
        assert records(run.run_dir, "weights") == [1]
    reader = tf.train.load_checkpoint(good)
    for name in reader.get_variable_to_shape_map():
        value = np.asarray(reader.get_tensor(name))
        assert value.dtype.kind != "f" or np.isfinite(value).all(), name


def test_files_in_a_folder_that_is_not_ours_are_never_removed(tmp_path):
    # Someone's own checkpoint files where our folders would be.
    for folder in ("weights", "memory-worker-0"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "ckpt-3.index").write_text("theirs")
    assert StreamCheckpoint(str(tmp_path), tiny_model()).restore() == 0
    for folder in ("weights", "memory-worker-0"):
        assert (tmp_path / folder / "ckpt-3.index").read_text() == "theirs"


def test_uncommitted_step_files_of_our_own_are_cleaned(source, tmp_path):
    model = tiny_model()
    train(model, source, 2, [StreamCheckpoint(str(tmp_path), model,
                                              save_every=2)])
    # What a kill while writing step 4 leaves.
    (tmp_path / "weights" / "ckpt-4.index").write_text("half")
    (tmp_path / "weights" / "ckpt-4_temp").mkdir()
    (tmp_path / "weights" / "ckpt-4_temp" / "part-00000").write_text("x")
    (tmp_path / "weights" / "notes.txt").write_text("mine")
    assert StreamCheckpoint(str(tmp_path), tiny_model()).restore() == 2
    assert sorted(os.listdir(tmp_path / "weights")) == [
        "ckpt-2.data-00000-of-00001", "ckpt-2.index", "notes.txt",
        "steps.json"]


def test_a_rerun_after_training_keeps_the_figures_of_the_run(tmp_path):
    """As after a kill during the export: results.json loses nothing."""
    run = tiny_experiment(tmp_path, write_text(tmp_path / "text.txt"),
                          train_steps=4, save_every=2)
    first = run_experiment(run)
    stale = os.path.join(run.run_dir, f".tmp-{dead_pid()}-model.keras")
    with open(stale, "w") as f:
        f.write("half a model")
    again = run_experiment(run)
    assert not os.path.exists(stale)
    assert again["before"] == first["before"]
    assert again["after"] == first["after"]
    assert again["train"] == first["train"]
    assert first["train"]["last_loss"] is not None
    assert first["train"]["tokens_per_second"] > 0
    with open(os.path.join(run.run_dir, "results.json")) as f:
        saved = json.load(f)
    assert saved["train"] == first["train"]
    assert [a["first_step"] for a in saved["attempts"]] == [0, 4]
