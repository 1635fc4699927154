"""The bad-input table of keras_lrm.training (docs/errors.md): every row.

Each case gives a bad input to a public entry point and checks the error's
type and the start of its message, as the table lists them.
"""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from keras_lrm import Placement
from keras_lrm.data import ByteTokenizer
from keras_lrm.data import TextFilesCorpus
from keras_lrm.data import prepare
from keras_lrm.data.streams import StreamSource
from keras_lrm.data.streams import stream_dataset
from keras_lrm.data.streams import train_layout
from keras_lrm.errors import NonFiniteError
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.training import StatefulLM
from keras_lrm.training import StreamCheckpoint
from keras_lrm.training import evaluate_stream
from keras_lrm.training import run_experiment
from tests.test_checkpoint_faults import tiny_experiment
from tests.test_checkpoint_faults import write_text
from tests.test_stateful_training import two_cpu_strategy


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors_training")
    text = write_text(root / "text.txt", seed=4, lines=200)
    manifest = prepare(TextFilesCorpus(text), ByteTokenizer(),
                       output_dir=str(root / "records"), chunk_size=128,
                       progress=False)
    return StreamSource.from_manifest(manifest, "train")


def tiny_lm(d_model=16, segment_length=8, num_memory_tokens=0):
    keras.utils.set_random_seed(3)
    return MemoryTransformerLM(256, 1, d_model, 2, 32, segment_length,
                               Placement("last", 1, 16, 8),
                               num_memory_tokens=num_memory_tokens)


def stateful(batch_size=2, bptt_segments=1, **lm_args):
    model = StatefulLM(tiny_lm(**lm_args), batch_size,
                       bptt_segments=bptt_segments)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    return model


def saved(directory, source, steps=2, batch_size=2):
    """A StreamCheckpoint folder with checkpoints of steps 1..`steps`."""
    model = stateful(batch_size)
    layout = train_layout(source.num_tokens, batch_size, 8)
    model.fit(stream_dataset(source, layout).take(steps), verbose=0,
              shuffle=False,
              callbacks=[StreamCheckpoint(str(directory), model,
                                          save_every=1, max_to_keep=5)])
    return str(directory)


def restore(directory, **model_args):
    return StreamCheckpoint(str(directory), stateful(**model_args)).restore()


def two_replicas_batch_of_three(tmp_path, source):
    with two_cpu_strategy().scope():
        StatefulLM(tiny_lm(), 3)


def damaged(tmp_path, source, name):
    directory = saved(tmp_path, source)
    with open(os.path.join(directory, name), "w") as f:
        f.write("{half")
    restore(directory)


def earlier_version(tmp_path, source):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-3"\n')
    restore(tmp_path)


def without_memory(tmp_path, source):
    directory = saved(tmp_path, source)
    with open(os.path.join(directory, "memory-worker-0", "steps.json"),
              "w") as f:
        json.dump({"format": 1, "steps": {}}, f)
    restore(directory)


def all_non_finite(tmp_path, source, monkeypatch):
    from keras_lrm.training import checkpoint as checkpoint_module

    model = stateful()
    weight = model.lm.trainable_weights[0]
    weight.assign(np.full(weight.shape, np.nan, "float32"))
    model.optimizer.iterations.assign(1)
    monkeypatch.setattr(checkpoint_module, "all_finite", lambda v: True)
    StreamCheckpoint(str(tmp_path), model).save()
    monkeypatch.undo()
    restore(tmp_path)


class NaNAt(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            weight = self.model.lm.trainable_weights[0]
            weight.assign(np.full(weight.shape, np.nan, "float32"))


def nan_in_fit(tmp_path, source):
    model = stateful()
    layout = train_layout(source.num_tokens, 2, 8)
    model.fit(stream_dataset(source, layout).take(4), verbose=0,
              shuffle=False,
              callbacks=[StreamCheckpoint(str(tmp_path), model,
                                          save_every=1), NaNAt()])


def experiment(tmp_path, **changes):
    text = str(tmp_path / "text.txt")
    if not os.path.exists(text):
        write_text(tmp_path / "text.txt", seed=4, lines=200)
    return tiny_experiment(tmp_path, text, train_steps=2, save_every=1,
                           **changes)


def foreign_run_dir_file(tmp_path, source, name, content):
    run = experiment(tmp_path)
    os.makedirs(run.run_dir)
    with open(os.path.join(run.run_dir, name), "w") as f:
        f.write(content)
    try:
        run_experiment(run)
    finally:
        with open(os.path.join(run.run_dir, name)) as f:
            assert f.read() == content
        assert sorted(os.listdir(run.run_dir)) == [name]


def resume_with(tmp_path, source, **changes):
    run = experiment(tmp_path)
    run_experiment(run)
    run_experiment(dataclasses.replace(run, train_steps=3, **changes))


CASES = {
    # StatefulLM.
    "StatefulLM lm not a MemoryTransformerLM": (
        lambda t, s: StatefulLM("transformer", 2),
        ValueError, "`lm` must be a keras_lrm MemoryTransformerLM"),
    "StatefulLM batch_size=0": (
        lambda t, s: StatefulLM(tiny_lm(), 0),
        ValueError, "`batch_size` must be an integer >= 1"),
    "StatefulLM batch_size=2.5": (
        lambda t, s: StatefulLM(tiny_lm(), 2.5),
        ValueError, "`batch_size` must be an integer >= 1"),
    "StatefulLM metric='accuracy'": (
        lambda t, s: StatefulLM(tiny_lm(), 2, metric="accuracy"),
        ValueError, "`metric` must be one of"),
    "StatefulLM batch_size=3 on 2 replicas": (
        two_replicas_batch_of_three,
        ValueError, "`batch_size` must be divisible by the 2 replicas"),
    "StatefulLM call with 3 rows for batch_size=2": (
        lambda t, s: stateful()(np.zeros((3, 9), "int32")),
        ValueError, "Exception encountered when calling StatefulLM.call()"
        " ... Each replica reads windows of shape (2, T + 1)"),
    "StatefulLM call with rank-1 windows": (
        lambda t, s: stateful()(np.zeros((9,), "int32")),
        ValueError, "Exception encountered when calling StatefulLM.call()"
        " ... Each replica reads windows of shape (2, T + 1)"),
    "StatefulLM bptt_segments=0": (
        lambda t, s: StatefulLM(tiny_lm(), 2, bptt_segments=0),
        ValueError, "`bptt_segments` must be an integer >= 1"),
    "StatefulLM gradient_segments=3 for bptt_segments=2": (
        lambda t, s: StatefulLM(tiny_lm(), 2, bptt_segments=2,
                                gradient_segments=3),
        ValueError, "`gradient_segments` must be at most `bptt_segments` "
        "(2)"),
    "StatefulLM training call with one segment for bptt_segments=2": (
        lambda t, s: stateful(bptt_segments=2)(np.zeros((2, 9), "int32"),
                                               training=True),
        ValueError, "Exception encountered when calling StatefulLM.call()"
        " ... With bptt_segments=2, training windows must hold "
        "bptt_segments * segment_length + 1 = 17 tokens per row"),
    # StreamCheckpoint.
    "StreamCheckpoint save_every=0": (
        lambda t, s: StreamCheckpoint(str(t), stateful(), save_every=0),
        ValueError, "`save_every` must be an integer >= 1"),
    "StreamCheckpoint max_to_keep=0": (
        lambda t, s: StreamCheckpoint(str(t), stateful(), max_to_keep=0),
        ValueError, "`max_to_keep` must be an integer >= 1"),
    "StreamCheckpoint layout='windows'": (
        lambda t, s: StreamCheckpoint(str(t), stateful(), layout="windows"),
        ValueError, "`layout` must be a dict of JSON values"),
    "restore with another segment_length": (
        lambda t, s: restore(saved(t, s), segment_length=4),
        ValueError, "The checkpoint in {tmp} was saved with another stream "
        "layout (segment_length: checkpoint 8, this run 4)"),
    "restore with another batch_size": (
        lambda t, s: restore(saved(t, s), batch_size=4),
        ValueError, "The checkpoint in {tmp} was saved with another stream "
        "layout (batch_size: checkpoint 2, this run 4)"),
    "restore with memory tokens": (
        lambda t, s: restore(saved(t, s), num_memory_tokens=2),
        ValueError, "The checkpoint in {tmp} was saved with another stream "
        "layout (num_memory_tokens: checkpoint 0, this run 2)"),
    "restore into another model (d_model)": (
        lambda t, s: restore(saved(t, s), d_model=32),
        ValueError, "The checkpoint {tmp}/weights/ckpt-2 does not match "
        "this model"),
    "restore with a damaged steps.json": (
        lambda t, s: damaged(t, s, "weights/steps.json"),
        ValueError, "The checkpoint record {tmp}/weights/steps.json is "
        "damaged"),
    "restore with a damaged stream_layout.json": (
        lambda t, s: damaged(t, s, "stream_layout.json"),
        ValueError, "The stream layout file {tmp}/stream_layout.json is "
        "damaged"),
    "restore a checkpoint of an earlier version": (
        earlier_version,
        ValueError, "The checkpoints in {tmp} were written by an earlier "
        "keras_lrm version"),
    "restore weights without memory": (
        without_memory,
        ValueError, "The checkpoints in {tmp} have weights for steps [1, 2] "
        "but no step with every worker's memory"),
    "restore when every checkpoint is non-finite": (
        all_non_finite,
        NonFiniteError, "Every checkpoint in {tmp} holds non-finite weights"),
    "fit with a NaN weight at step 2": (
        nan_in_fit,
        NonFiniteError, "Training produced a non-finite loss, weight or "
        "optimizer value at step 3; nothing of it was saved. The last good "
        "checkpoint, kept, is {tmp}/weights/ckpt-2"),
    # run_experiment.
    "run_experiment run dir with a foreign model.keras": (
        lambda t, s: foreign_run_dir_file(t, s, "model.keras", "mine"),
        ValueError, "{tmp}/checkpoints/run/model.keras exists but "
        "{tmp}/checkpoints/run has no results.json of a keras_lrm run"),
    "run_experiment run dir with a foreign results.json": (
        lambda t, s: foreign_run_dir_file(t, s, "results.json", "[1, 2]"),
        ValueError, "{tmp}/checkpoints/run/results.json is not the results "
        "file of a keras_lrm run"),
    "run_experiment resumed with another segment_length": (
        lambda t, s: resume_with(t, s, segment_length=4),
        ValueError, "The checkpoint in {tmp}/checkpoints/run was saved with "
        "another stream layout (segment_length: checkpoint 8, this run 4; "
        "windows_per_pass:"),
    # evaluate_stream.
    "evaluate_stream lm not a MemoryTransformerLM": (
        lambda t, s: evaluate_stream("model", s),
        ValueError, "`lm` must be a keras_lrm MemoryTransformerLM"),
    "evaluate_stream source not a StreamSource": (
        lambda t, s: evaluate_stream(tiny_lm(), "valid.txt"),
        ValueError, "`source` must be a keras_lrm.data.streams.StreamSource"),
    "evaluate_stream batch_size=0": (
        lambda t, s: evaluate_stream(tiny_lm(), s, batch_size=0),
        ValueError, "`batch_size` must be an integer >= 1"),
    "evaluate_stream segment_length=0": (
        lambda t, s: evaluate_stream(tiny_lm(), s, segment_length=0),
        ValueError, "`segment_length` must be an integer >= 1"),
    "evaluate_stream segment_length=12 with memory tokens": (
        lambda t, s: evaluate_stream(tiny_lm(num_memory_tokens=2), s,
                                     segment_length=12),
        ValueError, "`segment_length` must be a multiple of the model's "
        "segment_length (8) with memory tokens"),
    "evaluate_stream max_tokens=1": (
        lambda t, s: evaluate_stream(tiny_lm(), s, max_tokens=1),
        ValueError, "`max_tokens` must be at least 2"),
    "evaluate_stream max_tokens=-3": (
        lambda t, s: evaluate_stream(tiny_lm(), s, max_tokens=-3),
        ValueError, "`max_tokens` must be an integer >= 1"),
    "evaluate_stream memory_lengths for 3 layers (of 1)": (
        lambda t, s: evaluate_stream(tiny_lm(), s, memory_lengths=[8, 8, 8],
                                     verbose=0),
        ValueError, "`memory_lengths` must be a list with one length per "
        "layer (1)"),
    "evaluate_stream verbose='loud'": (
        lambda t, s: evaluate_stream(tiny_lm(), s, verbose="loud"),
        ValueError, "`verbose` must be 'auto', 0, 1 or 2"),
}


# How docs/errors.md lists each case: (entry point, bad input).
TABLE = {
    "StatefulLM lm not a MemoryTransformerLM": (
        "StatefulLM(lm, batch_size)",
        'lm not a MemoryTransformerLM ("transformer")'),
    "StatefulLM batch_size=0": ("StatefulLM", "batch_size=0"),
    "StatefulLM batch_size=2.5": ("StatefulLM", "batch_size=2.5"),
    "StatefulLM metric='accuracy'": ("StatefulLM", 'metric="accuracy"'),
    "StatefulLM batch_size=3 on 2 replicas": (
        "StatefulLM", "batch_size=3 under a strategy of 2 replicas"),
    "StatefulLM call with 3 rows for batch_size=2": (
        "StatefulLM.__call__", "windows of 3 rows for batch_size=2"),
    "StatefulLM call with rank-1 windows": (
        "StatefulLM.__call__", "windows of rank 1"),
    "StatefulLM bptt_segments=0": ("StatefulLM", "bptt_segments=0"),
    "StatefulLM gradient_segments=3 for bptt_segments=2": (
        "StatefulLM", "gradient_segments=3 with bptt_segments=2"),
    "StatefulLM training call with one segment for bptt_segments=2": (
        "StatefulLM.__call__", "a training window of one segment (9 "
        "tokens) with bptt_segments=2"),
    "StreamCheckpoint save_every=0": (
        "StreamCheckpoint(directory, model, ...)", "save_every=0"),
    "StreamCheckpoint max_to_keep=0": ("StreamCheckpoint", "max_to_keep=0"),
    "StreamCheckpoint layout='windows'": (
        "StreamCheckpoint", 'layout="windows" (not a dict)'),
    "restore with another segment_length": (
        "StreamCheckpoint.restore",
        "another segment_length than the checkpoint's"),
    "restore with another batch_size": (
        "StreamCheckpoint.restore",
        "another batch_size (or replicas, workers, memory lengths)"),
    "restore with memory tokens": (
        "StreamCheckpoint.restore", "another num_memory_tokens (or "
        "bptt_segments) than the checkpoint's"),
    "restore into another model (d_model)": (
        "StreamCheckpoint.restore", "a model of another d_model"),
    "restore with a damaged steps.json": (
        "StreamCheckpoint.restore", "a damaged weights/steps.json"),
    "restore with a damaged stream_layout.json": (
        "StreamCheckpoint.restore", "a damaged stream_layout.json"),
    "restore a checkpoint of an earlier version": (
        "StreamCheckpoint.restore",
        "checkpoints of an earlier keras_lrm version (no steps.json)"),
    "restore weights without memory": (
        "StreamCheckpoint.restore",
        "weights committed but no step with every worker's memory (a kill "
        "between the two)"),
    "restore when every checkpoint is non-finite": (
        "StreamCheckpoint.restore", "every checkpoint holds non-finite "
        "weights (a newer non-finite one alone is skipped with a warning)"),
    "fit with a NaN weight at step 2": (
        "fit(..., callbacks=[StreamCheckpoint])",
        "a NaN weight at step 2"),
    "run_experiment run dir with a foreign model.keras": (
        "run_experiment", "a run folder holding a model.keras (or "
        "tokenizer/) without our results.json"),
    "run_experiment run dir with a foreign results.json": (
        "run_experiment", "a run folder whose results.json is not a run's"),
    "run_experiment resumed with another segment_length": (
        "run_experiment", "resumed with another segment_length"),
    "evaluate_stream lm not a MemoryTransformerLM": (
        "evaluate_stream(lm, source, ...)", "lm not a MemoryTransformerLM"),
    "evaluate_stream source not a StreamSource": (
        "evaluate_stream", "source not a StreamSource (a path)"),
    "evaluate_stream batch_size=0": ("evaluate_stream", "batch_size=0"),
    "evaluate_stream segment_length=0": (
        "evaluate_stream", "segment_length=0"),
    "evaluate_stream segment_length=12 with memory tokens": (
        "evaluate_stream", "segment_length=12 for a model of segments of 8 "
        "with memory tokens"),
    "evaluate_stream max_tokens=1": ("evaluate_stream", "max_tokens=1"),
    "evaluate_stream max_tokens=-3": ("evaluate_stream", "max_tokens=-3"),
    "evaluate_stream memory_lengths for 3 layers (of 1)": (
        "evaluate_stream", "memory_lengths with 3 entries for a 1-layer "
        "model"),
    "evaluate_stream verbose='loud'": ("evaluate_stream", 'verbose="loud"'),
}


def markdown():
    """The rows of docs/errors.md's training table, from the cases."""
    lines = []
    for case in CASES:
        entry, bad_input = TABLE[case]
        _, error, message = CASES[case]
        message = message.format(tmp="DIR").replace(" ... ", " … ")
        lines.append(f"| `{entry}` | {bad_input} | `{error.__name__}`: "
                     f"{message} ... |")
    return "\n".join(lines) + "\n"


def test_every_case_has_its_row():
    assert set(TABLE) == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gets_the_tabled_error(case, source, tmp_path,
                                         monkeypatch):
    call, error, message = CASES[case]
    with pytest.raises(error) as raised:
        if call is all_non_finite:
            call(tmp_path, source, monkeypatch)
        else:
            call(tmp_path, source)
    # Keras wraps an error raised in `call`: " ... " stands for its frame.
    text = str(raised.value)
    start, _, inside = message.format(tmp=tmp_path).partition(" ... ")
    assert text.startswith(start) and inside in text, text
