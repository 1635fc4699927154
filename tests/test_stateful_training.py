"""Memory carried across batches in `fit`, under strategies, and resumed."""

import dataclasses
import functools

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
from keras_lrm.data.streams import eval_layout
from keras_lrm.data.streams import stream_dataset
from keras_lrm.data.streams import train_layout
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.training import Experiment
from keras_lrm.training import ResetMemory
from keras_lrm.training import StatefulLM
from keras_lrm.training import evaluate_stream
from keras_lrm.training import run_experiment


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("stateful")
    rng = np.random.default_rng(1)
    lines = [bytes(rng.integers(97, 123, 40).astype(np.uint8))
             for _ in range(800)]
    (root / "text.txt").write_bytes(b"\n".join(lines) + b"\n")
    return prepare(TextFilesCorpus(str(root / "text.txt")), ByteTokenizer(),
                   output_dir=str(root / "records"), chunk_size=128,
                   progress=False)


@pytest.fixture(scope="module")
def source(manifest):
    return StreamSource.from_manifest(manifest, "train")


def tiny_lm():
    return MemoryTransformerLM(256, 2, 16, 2, 32, 8,
                               Placement("last", 1, 16, 8))


def compile_for_test(model):
    model.compile(optimizer=keras.optimizers.SGD(0.05))


@functools.lru_cache(maxsize=None)
def two_cpu_strategy():
    """The one MirroredStrategy on two logical CPUs of this process.

    A second instance starts its collective instance keys where the first
    did, so a model trained under it fails with a shape mismatch in the
    collective (when both run in one pytest process).
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def test_each_replica_keeps_the_memory_of_its_rows(source):
    """(a) MirroredStrategy on two logical CPUs, compared per replica."""
    layout = train_layout(source.num_tokens, 4, 8)
    strategy = two_cpu_strategy()
    with strategy.scope():
        lm = tiny_lm()
        initial = lm.get_weights()
        model = StatefulLM(lm, 4)
        compile_for_test(model)
    steps = 6
    model.fit(distribute_streams(strategy, source, layout), epochs=1,
              steps_per_epoch=steps, shuffle=False, verbose=0)
    replicas = model.replica_memory("train")
    assert len(replicas) == 2
    # The weights were updated with the gradients of all rows; replay the
    # same updates on one device, replica by replica, to get each memory.
    reference = tiny_lm()
    reference.set_weights(initial)
    single = StatefulLM(reference, 4)
    compile_for_test(single)
    single.fit(stream_dataset(source, layout), epochs=1,
               steps_per_epoch=steps, shuffle=False, verbose=0)
    for weights, expected in zip(lm.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(weights, expected, atol=1e-5)
    memory = single.replica_memory("train")[0]
    for replica, state in enumerate(replicas):
        rows = slice(2 * replica, 2 * replica + 2)
        for key, value in state.items():
            np.testing.assert_allclose(np.asarray(value),
                                       np.asarray(memory[key])[rows],
                                       atol=1e-5)
        assert np.asarray(state["filled"]).tolist() == [16, 16]


def test_evaluation_does_not_disturb_the_training_memory(source):
    layout = train_layout(source.num_tokens, 2, 8)
    model = StatefulLM(tiny_lm(), 2)
    compile_for_test(model)
    data = stream_dataset(source, layout)
    model.fit(data, epochs=1, steps_per_epoch=3, shuffle=False, verbose=0)
    before = {k: np.asarray(v) for k, v in
              model.replica_memory("train")[0].items()}
    model.evaluate(data, steps=2, verbose=0)
    after = model.replica_memory("train")[0]
    for key in before:
        np.testing.assert_array_equal(before[key], np.asarray(after[key]))
    assert np.asarray(model.replica_memory("eval")[0]["filled"]).tolist() \
        == [16, 16]
    model.reset_memory()
    assert not np.asarray(model.replica_memory("train")[0]["filled"]).any()


@pytest.mark.parametrize("batch_size", [1, 3])
def test_evaluation_on_the_cache_gives_the_losses_of_the_memory(
        manifest, source, batch_size):
    # The evaluation memory is a key/value cache: its mean loss must be
    # that of stepping each row through the memory state.
    keras.utils.set_random_seed(2)
    lm = tiny_lm()
    count = 200
    result = evaluate_stream(lm, source, batch_size=batch_size,
                             max_tokens=count, verbose=0)
    tokens = read_tokens(manifest, "train")[:count]
    layout = eval_layout(count, batch_size, 8)
    losses = []
    for row, targets in enumerate(layout.row_targets):
        start = row * layout.row_length
        ids = tokens[start:start + targets + 1][None]
        memory = lm.initial_memory(1)
        for first in range(0, targets, 8):
            piece = ids[:, first:min(first + 8, targets)]
            logits, memory = lm.call_with_memory(piece, memory)
            labels = ids[:, first + 1:first + 1 + piece.shape[1]]
            losses.append(np.asarray(
                keras.losses.sparse_categorical_crossentropy(
                    labels, logits, from_logits=True)).ravel())
    losses = np.concatenate(losses)
    assert result["tokens"] == losses.size == count - 1
    np.testing.assert_allclose(result["nll"], losses.mean(), rtol=1e-5)


def test_reset_memory_callback_starts_every_predict_afresh(source):
    layout = train_layout(source.num_tokens, 2, 8)
    data = stream_dataset(source, layout).take(2)
    model = StatefulLM(tiny_lm(), 2)
    compile_for_test(model)
    first, second = (model.predict(data, verbose=0,
                                   callbacks=[ResetMemory()])
                     for _ in range(2))
    np.testing.assert_array_equal(first, second)
    carried = model.predict(data, verbose=0)
    assert not np.allclose(carried, first)


def test_reset_memory_callback_empties_memory_at_each_epoch(source):
    layout = train_layout(source.num_tokens, 2, 8)
    data = stream_dataset(source, layout).take(1).repeat()
    for callbacks, filled in [([ResetMemory()], 8), ([], 16)]:
        model = StatefulLM(tiny_lm(), 2)
        compile_for_test(model)
        model.fit(data, epochs=2, steps_per_epoch=1, shuffle=False, verbose=0,
                  callbacks=callbacks)
        state = model.replica_memory("train")[0]
        assert np.asarray(state["filled"]).tolist() == [filled] * 2


def copy_task(num_episodes, segment, vocab, rows, seed):
    """Episodes [A, B, A]: a segment repeats the one two segments back."""
    rng = np.random.default_rng(seed)
    data = np.stack([
        np.concatenate([part for _ in range(num_episodes)
                        for part in _episode(rng, segment, vocab)])
        for _ in range(rows)]).astype("int32")
    windows = (data.shape[1] - 1) // segment
    return tf.data.Dataset.from_tensor_slices(np.stack([
        data[:, k * segment:(k + 1) * segment + 1] for k in range(windows)]))


def _episode(rng, segment, vocab):
    first = rng.integers(0, vocab, segment)
    return first, rng.integers(0, vocab, segment), first


@pytest.mark.slow
def test_memory_learns_what_no_memory_cannot():
    """(c) Only a memory of two segments can predict the repeated segment."""
    vocab, segment, rows = 16, 8, 16
    chance = np.log(vocab)
    losses = {}
    for memory in (2 * segment, 0):
        keras.utils.set_random_seed(0)
        lm = MemoryTransformerLM(vocab, 2, 32, 2, 64, segment,
                                 Placement("all", None, memory, memory),
                                 pre_norm=True)
        model = StatefulLM(lm, rows)
        model.compile(optimizer=keras.optimizers.Adam(1e-2),
                      jit_compile=True)
        model.fit(copy_task(40, segment, vocab, rows, seed=0), epochs=6,
                  shuffle=False, verbose=0, callbacks=[ResetMemory()])
        losses[memory] = model.evaluate(
            copy_task(10, segment, vocab, rows, seed=1), verbose=0,
            callbacks=[ResetMemory()], return_dict=True)["loss"]
    assert losses[2 * segment] < chance - 0.3
    assert losses[0] > chance - 0.05


def resume_experiment(tmp_path, steps, corpus_path, jit_compile):
    return Experiment(
        name="resume", corpus="text", corpus_path=corpus_path,
        data_dir=str(tmp_path / "records"),
        checkpoint_dir=str(tmp_path / "checkpoints"),
        log_dir=str(tmp_path / "logs"),
        num_layers=2, d_model=16, num_heads=2, d_ff=32, dropout=0.1,
        placement="last", num_long=1, long_length=16, short_length=8,
        batch_size=2, segment_length=8, train_steps=steps,
        learning_rate=1e-3, min_learning_rate_ratio=1.0, eval_batch_size=2,
        eval_tokens=64, strategy="cpu", save_every=1000, verbose=0,
        export_dir="", jit_compile=jit_compile)


# Resuming is exact with or without XLA; compiling for XLA triples the
# time of these tiny runs, so CI checks the logic and a nightly run XLA.
@pytest.mark.slow
@pytest.mark.parametrize("jit_compile", [
    False, pytest.param(True, marks=pytest.mark.optin)])
def test_resumed_run_continues_its_streams_exactly(tmp_path, jit_compile):
    """Stop mid-pass, resume: same weights and memory as one long run (a
    run that restarted its streams would give other weights)."""
    text = tmp_path / "text.txt"
    rng = np.random.default_rng(2)
    text.write_bytes(b"\n".join(
        bytes(rng.integers(97, 123, 30).astype(np.uint8))
        for _ in range(300)) + b"\n")
    whole = resume_experiment(tmp_path / "whole", 9, str(text), jit_compile)
    expected = run_experiment(whole)
    split = resume_experiment(tmp_path / "split", 4, str(text), jit_compile)
    first = run_experiment(split)
    assert first["windows_per_pass"] > 9
    second = run_experiment(dataclasses.replace(split, train_steps=9))
    # results.json reads as the uninterrupted run's (issue 19, item 7).
    assert second["before"] == expected["before"] == first["before"]
    assert second["after"]["nll"] == expected["after"]["nll"]
    assert second["train"]["steps"] == 9
    assert second["train"]["attempts"] == 2
    np.testing.assert_allclose(second["train"]["last_loss"],
                               expected["train"]["last_loss"], rtol=1e-5)
    assert second["train"]["tokens_per_second"] > 0
    assert [a["first_step"] for a in second["attempts"]] == [0, 4]
    a = keras.saving.load_model(f"{whole.run_dir}/model.keras")
    b = keras.saving.load_model(f"{split.run_dir}/model.keras")
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(x, y, atol=1e-6)


def test_resuming_with_another_batch_size_names_the_memory(source,
                                                           tmp_path):
    from keras_lrm.training.checkpoint import StreamCheckpoint

    layout = train_layout(source.num_tokens, 2, 8)
    model = StatefulLM(tiny_lm(), 2)
    compile_for_test(model)
    saver = StreamCheckpoint(str(tmp_path), model)
    model.fit(stream_dataset(source, layout).take(1), verbose=0,
              shuffle=False, callbacks=[saver])
    other = StatefulLM(tiny_lm(), 4)
    compile_for_test(other)
    with pytest.raises(ValueError, match="stream layout .batch_size: "
                       "checkpoint 2, this run 4.*Received: batch_size=4"):
        StreamCheckpoint(str(tmp_path), other).restore()


@pytest.mark.parametrize("flags,argument", [
    (["--train_steps", "-5"], "train_steps"),
    (["--steps_per_execution", "0"], "steps_per_execution"),
    (["--sample_tokens", "0"], "sample_tokens"),
    (["--dropout", "1.5"], "dropout"),
    (["--learning_rate", "-1"], "learning_rate"),
    (["--strategy", "gpus"], "strategy"),
    (["--placement", "top"], "placement"),
    (["--corpus", "enwik9"], "corpus"),
    (["--tokenizer", "chars"], "tokenizer"),
    (["--tokenizer", "sentencepiece"], "tokenizer"),
    (["--precision", "fp16"], "precision"),
    (["--precision", "int8"], "precision"),
    (["--precision", "float8_e4m3fn"], "precision"),
])
def test_bad_recipe_flags_fail_before_anything_runs(flags, argument):
    from keras_lrm.training.cli import parse_experiment

    with pytest.raises(ValueError, match=f"`{argument}`"):
        parse_experiment(Experiment(), argv=flags)


def test_perplexity_of_a_diverged_model_is_infinite():
    from keras_lrm.training.evaluation import perplexity

    assert perplexity(800.0) == float("inf")
    np.testing.assert_allclose(perplexity(1.0), np.e)


def test_fit_traces_the_training_step_once():
    """The optimizer's slots are made at `compile`, so the first training
    step does not create variables (a `tf.function` that does is traced,
    and compiled, twice); a model compiled for evaluation gets none."""
    lm = MemoryTransformerLM(vocab_size=50, num_layers=1, d_model=16,
                             num_heads=2, d_ff=32, segment_length=8,
                             memory_lengths=[8])
    model = StatefulLM(lm, 4)
    calls = []
    call = model.call

    def counted(*args, **kwargs):
        calls.append(kwargs.get("training"))
        return call(*args, **kwargs)

    model.call = counted
    model.compile(optimizer="adam")
    assert model.optimizer.built
    windows = np.random.RandomState(0).randint(0, 50, (12, 9))
    data = tf.data.Dataset.from_tensor_slices(windows.astype("int32"))
    model.fit(data.batch(4, drop_remainder=True), epochs=2, shuffle=False,
              verbose=0)
    assert calls == [True]
    evaluator = StatefulLM(lm, 4)
    evaluator.compile()
    assert not evaluator.optimizer.built
