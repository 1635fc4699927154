"""Training with memory tokens over K segments per step (issue 21): the
windows, `StatefulLM(bptt_segments=K)` under strategies and XLA, and an
`Experiment` that trains, evaluates, exports and resumes."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lrm import Placement
from keras_lrm.data import ByteTokenizer
from keras_lrm.data import TextFilesCorpus
from keras_lrm.data import prepare
from keras_lrm.data import read_tokens
from keras_lrm.data.streams import StreamSource
from keras_lrm.data.streams import distribute_streams
from keras_lrm.data.streams import stream_dataset
from keras_lrm.data.streams import train_layout
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.training import Experiment
from keras_lrm.training import StatefulLM
from keras_lrm.training import StreamCheckpoint
from keras_lrm.training import run_experiment
from keras_lrm.training import set_up
from keras_lrm.training.cli import parse_experiment
from tests.test_checkpoint_faults import tiny_experiment
from tests.test_checkpoint_faults import write_text
from tests.test_stateful_training import two_cpu_strategy

SEGMENT = 8


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("rmt_training")
    text = write_text(root / "text.txt", seed=5, lines=200)
    return prepare(TextFilesCorpus(text), ByteTokenizer(),
                   output_dir=str(root / "records"), chunk_size=64,
                   progress=False)


@pytest.fixture(scope="module")
def source(manifest):
    return StreamSource.from_manifest(manifest, "train")


def rmt_lm(tokens=2, placement=None, seed=3):
    keras.utils.set_random_seed(seed)
    return MemoryTransformerLM(
        256, 1, 16, 2, 32, SEGMENT,
        placement or Placement("last", 1, 16, 8), num_memory_tokens=tokens)


def rmt_model(batch_size=4, bptt_segments=2, gradient_segments=None,
              jit_compile=False, **lm_args):
    model = StatefulLM(rmt_lm(**lm_args), batch_size,
                       bptt_segments=bptt_segments,
                       gradient_segments=gradient_segments)
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  jit_compile=jit_compile)
    return model


@pytest.mark.parametrize("segments", [1, 3])
def test_training_windows_hold_k_consecutive_segments(manifest, source,
                                                      segments):
    """`train_layout(bptt_segments=K)`: `(batch, K*S + 1)` windows, static,
    each row continuing its stream where the window before stopped."""
    layout = train_layout(source.num_tokens, 2, SEGMENT,
                          bptt_segments=segments)
    window = segments * SEGMENT
    assert layout.segment_length == window
    assert layout.num_windows == (source.num_tokens // 2 - 1) // window
    dataset = stream_dataset(source, layout)
    assert dataset.element_spec.shape.as_list() == [2, window + 1]
    tokens = read_tokens(manifest, "train")
    for index, batch in enumerate(dataset.take(3)):
        for row in range(2):
            start = row * layout.row_length + index * window
            np.testing.assert_array_equal(
                batch[row], tokens[start:start + window + 1])


def test_each_replica_reads_k_segment_windows_of_its_rows(source):
    layout = train_layout(source.num_tokens, 4, SEGMENT, bptt_segments=2)
    strategy = two_cpu_strategy()
    dataset = distribute_streams(strategy, source, layout)
    # Static per replica (XLA, TPUs): no dimension left unknown.
    specs = tf.nest.flatten(dataset.element_spec, expand_composites=True)
    assert [spec.shape.as_list() for spec in specs] == [[2, 17], [2, 17]]
    batch = next(iter(dataset))
    parts = strategy.experimental_local_results(batch)
    assert [tuple(part.shape) for part in parts] == [(2, 17), (2, 17)]
    whole = next(iter(stream_dataset(source, layout)))
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_mirrored_training_with_memory_tokens_matches_one_device(source,
                                                                 tmp_path):
    """Two replicas: the same weights as one device, each replica's state
    (XL memory and memory tokens) that of its rows, and a checkpoint gives
    every replica its own state back."""
    layout = train_layout(source.num_tokens, 4, SEGMENT, bptt_segments=2)
    strategy = two_cpu_strategy()
    steps = 3
    with strategy.scope():
        model = rmt_model()
        initial = model.lm.get_weights()
        saver = StreamCheckpoint(str(tmp_path), model)
    model.fit(distribute_streams(strategy, source, layout), epochs=1,
              steps_per_epoch=steps, shuffle=False, verbose=0,
              callbacks=[saver])
    single = rmt_model()
    single.lm.set_weights(initial)
    single.fit(stream_dataset(source, layout), epochs=1,
               steps_per_epoch=steps, shuffle=False, verbose=0)
    for weights, expected in zip(model.lm.get_weights(),
                                 single.lm.get_weights()):
        np.testing.assert_allclose(weights, expected, atol=1e-5)
    replicas = model.replica_memory("train")
    memory = single.replica_memory("train")[0]
    for replica, state in enumerate(replicas):
        assert state["memory_tokens"].shape == (2, 2, 16)
        rows = slice(2 * replica, 2 * replica + 2)
        for key, value in state.items():
            np.testing.assert_allclose(np.asarray(value),
                                       np.asarray(memory[key])[rows],
                                       atol=1e-5)
    with strategy.scope():
        again = rmt_model()
        assert StreamCheckpoint(str(tmp_path), again).restore() == steps
    np.testing.assert_array_equal(again.lm.memory_token_start.numpy(),
                                  model.lm.memory_token_start.numpy())
    restored = again.replica_memory("train")
    for replica in range(2):
        np.testing.assert_array_equal(
            restored[replica]["memory_tokens"],
            replicas[replica]["memory_tokens"])
    assert not np.array_equal(restored[0]["memory_tokens"],
                              restored[1]["memory_tokens"])


def test_a_compiled_step_reads_k_segments_with_static_shapes(source):
    """`jit_compile=True`, no strategy: the K-segment step compiles, trains
    M_0 (a trainable weight) and equals the step without XLA."""
    layout = train_layout(source.num_tokens, 2, SEGMENT, bptt_segments=3)
    losses, starts = [], []
    for jit_compile in (True, False):
        model = rmt_model(batch_size=2, bptt_segments=3, gradient_segments=2,
                          jit_compile=jit_compile)
        before = model.lm.memory_token_start.numpy()
        history = model.fit(stream_dataset(source, layout).take(2),
                            shuffle=False, verbose=0)
        losses.append(history.history["loss"][-1])
        starts.append(model.lm.memory_token_start.numpy())
        assert not np.allclose(starts[-1], before)
        assert model.memories["train"]["memory_tokens"].shape == (2, 2, 16)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    np.testing.assert_allclose(starts[0], starts[1], atol=1e-5)


def test_a_layout_saved_before_memory_tokens_reads_as_none(source,
                                                           tmp_path):
    """A stream_layout.json without `bptt_segments`/`num_memory_tokens`
    (written before they existed) resumes a run of one segment and no
    memory tokens, and refuses a run with memory tokens."""
    layout = train_layout(source.num_tokens, 2, SEGMENT)
    model = rmt_model(batch_size=2, bptt_segments=1, tokens=0)
    model.fit(stream_dataset(source, layout).take(1), verbose=0,
              shuffle=False, callbacks=[StreamCheckpoint(str(tmp_path),
                                                         model)])
    path = tmp_path / "stream_layout.json"
    saved = json.loads(path.read_text())
    assert saved["bptt_segments"] == 1 and saved["num_memory_tokens"] == 0
    del saved["bptt_segments"], saved["num_memory_tokens"]
    path.write_text(json.dumps(saved))
    again = rmt_model(batch_size=2, bptt_segments=1, tokens=0)
    assert StreamCheckpoint(str(tmp_path), again).restore() == 1
    other = rmt_model(batch_size=2, bptt_segments=1, tokens=2)
    with pytest.raises(ValueError, match="num_memory_tokens: checkpoint 0, "
                       "this run 2"):
        StreamCheckpoint(str(tmp_path), other).restore()


def rmt_experiment(root, text, **changes):
    fields = dict(num_memory_tokens=2, bptt_segments=2, gradient_segments=1,
                  train_steps=4, save_every=2, eval_tokens=24)
    fields.update(changes)
    return tiny_experiment(root, text, **fields)


@pytest.mark.slow
def test_an_experiment_with_memory_tokens_trains_evaluates_exports_and_resumes(
        tmp_path):
    """m=2, K=2: stopped after 2 steps and resumed to 4, the run ends as an
    uninterrupted one (weights, M_0, evaluation), and exports."""
    text = write_text(tmp_path / "text.txt", seed=6)
    whole = rmt_experiment(tmp_path / "whole", text)
    with set_up(whole) as run:
        assert run.train_layout.segment_length == 2 * 8
        with run.strategy.scope():
            model = run.build_model()
        assert (model.bptt_segments, model.gradient_segments) == (2, 1)
        assert model.lm.num_memory_tokens == 2
    expected = run_experiment(whole)
    # The same records: prepared once.
    split = rmt_experiment(tmp_path / "split", text, train_steps=2,
                           data_dir=whole.data.data_dir,
                           export_dir=str(tmp_path / "saved_models"))
    first = run_experiment(split)
    assert first["train"]["steps"] == 2
    assert first["status"] == "complete"
    assert os.path.exists(os.path.join(split.export_dir, split.name,
                                       "saved_model.pb"))
    second = run_experiment(dataclasses.replace(split, train_steps=4))
    assert [a["first_step"] for a in second["attempts"]] == [0, 2]
    assert second["after"]["nll"] == expected["after"]["nll"]
    assert second["before"] == expected["before"]
    assert expected["experiment"]["num_memory_tokens"] == 2
    assert expected["train"]["tokens_per_second"] > 0
    a = keras.saving.load_model(f"{whole.run_dir}/model.keras")
    b = keras.saving.load_model(f"{split.run_dir}/model.keras")
    assert a.num_memory_tokens == b.num_memory_tokens == 2
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(x, y, atol=1e-6)
    with pytest.raises(ValueError, match="bptt_segments: checkpoint 2, this "
                       "run 1"):
        run_experiment(dataclasses.replace(split, train_steps=6,
                                           bptt_segments=1,
                                           gradient_segments=0))


def test_recipe_flags_set_the_memory_tokens_and_segments():
    from tests.test_recipes import load_recipe

    for name in ("quickstart", "enwik8", "wikitext103", "pg19"):
        recipe = load_recipe(name)
        experiment = parse_experiment(
            recipe.DEFAULTS, recipe.TINY,
            ["--tiny", "--num_memory_tokens", "4", "--bptt_segments", "3",
             "--gradient_segments", "2"])
        assert experiment.model.num_memory_tokens == 4
        assert experiment.training.bptt_segments == 3
        assert experiment.training.gradient_segments == 2
        assert experiment.window_length == 3 * experiment.segment_length
        defaults = parse_experiment(recipe.DEFAULTS, recipe.TINY, [])
        assert (defaults.num_memory_tokens, defaults.bptt_segments,
                defaults.gradient_segments) == (0, 1, 0)


def test_an_experiment_recorded_before_these_fields_loads_with_defaults():
    flat = Experiment(name="old", num_layers=2).flat_dict()
    for name in ("num_memory_tokens", "bptt_segments", "gradient_segments"):
        del flat[name]
    old = Experiment(**flat)
    assert (old.num_memory_tokens, old.bptt_segments,
            old.gradient_segments) == (0, 1, 0)
    grouped = dataclasses.asdict(Experiment(name="old"))
    del grouped["model"]["num_memory_tokens"]
    del grouped["training"]["bptt_segments"]
    assert Experiment(**grouped) == Experiment(name="old")


def test_evaluation_with_memory_tokens_reads_whole_segments(manifest):
    """Evaluating on windows of 2 segments equals windows of 1: the memory
    tokens are written at the end of every segment either way."""
    from keras_lrm.training import evaluate_stream

    lm = rmt_lm()
    valid = StreamSource.from_manifest(manifest, "valid")
    one = evaluate_stream(lm, valid, batch_size=2, max_tokens=60,
                          jit_compile=False, verbose=0)
    two = evaluate_stream(lm, valid, batch_size=2, segment_length=16,
                          max_tokens=60, jit_compile=False, verbose=0)
    np.testing.assert_allclose(one["nll"], two["nll"], rtol=1e-5)
    assert one["tokens"] == two["tokens"] == 59
    assert tf.math.is_finite(one["nll"])


@pytest.mark.slow
def test_an_experiment_with_memory_tokens_runs_on_two_replicas(
        tmp_path, monkeypatch):
    """`run_experiment` under MirroredStrategy (two logical CPUs): K-segment
    windows split by rows, trained, evaluated and resumed with each
    replica's memory tokens."""
    from keras_lrm.training import setup

    monkeypatch.setattr(setup, "resolve_strategy",
                        lambda name, tpu=None: two_cpu_strategy())
    text = write_text(tmp_path / "text.txt", seed=7)
    run = rmt_experiment(tmp_path, text, strategy="mirrored", batch_size=4,
                         train_steps=2, eval_batch_size=2, dropout=0.0)
    first = run_experiment(run)
    assert first["replicas"] == 2 and first["train"]["steps"] == 2
    second = run_experiment(dataclasses.replace(run, train_steps=3))
    assert [a["first_step"] for a in second["attempts"]] == [0, 2]
    assert np.isfinite(second["after"]["nll"])
    layout = json.loads((tmp_path / "checkpoints" / "run" /
                         "stream_layout.json").read_text())
    assert (layout["replicas"], layout["bptt_segments"],
            layout["num_memory_tokens"]) == (2, 2, 2)
