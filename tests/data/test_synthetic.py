"""The synthetic RMT tasks: layouts, determinism, loss mask, pipeline and
accuracy."""

import numpy as np
import pytest
import tensorflow as tf

from keras_lrm.data.synthetic import DIGIT_0
from keras_lrm.data.synthetic import KEY_0
from keras_lrm.data.synthetic import PAD
from keras_lrm.data.synthetic import PRESETS
from keras_lrm.data.synthetic import QUERY
from keras_lrm.data.synthetic import SEP
from keras_lrm.data.synthetic import VOCAB_SIZE
from keras_lrm.data.synthetic import answer_accuracy
from keras_lrm.data.synthetic import dataset
from keras_lrm.data.synthetic import generate
from keras_lrm.data.synthetic import get_task
from keras_lrm.data.synthetic import longest_length
from keras_lrm.data.synthetic import render
from keras_lrm.data.synthetic import split_windows

DIGITS = range(DIGIT_0, DIGIT_0 + 10)
KEYS = range(KEY_0, KEY_0 + 26)


def one_hot(ids):
    return np.eye(VOCAB_SIZE, dtype=np.float32)[ids]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_lay_out_whole_windows_of_k_segments(name):
    task = PRESETS[name]
    examples = generate(name, 5, seed=0)
    width = task.num_segments * task.segment_length + 1
    assert examples.tokens.shape == (5, width)
    assert examples.targets.shape == (5, width - 1)
    assert examples.windows.shape == (5, width)
    for array in (examples.tokens, examples.targets, examples.windows):
        assert array.dtype == np.int32
    assert examples.tokens.min() >= 0
    assert examples.tokens.max() < VOCAB_SIZE


def test_reference_sizes():
    # booydar/LM-RMT: copy of 24 in 72 tokens (answer 48), copy120 in 360
    # (answer 240), reverse120 in 240 (answer 120).
    assert (PRESETS["copy24"].total_length,
            PRESETS["copy24"].answer_length) == (72, 48)
    assert PRESETS["copy24"].num_segments == 6
    assert get_task("copy24", num_segments=9,
                    segment_length=8).total_length == 72
    assert (PRESETS["copy120"].total_length,
            PRESETS["copy120"].answer_length) == (360, 240)
    assert (PRESETS["copy240"].total_length,
            PRESETS["copy240"].num_segments) == (720, 6)
    assert (PRESETS["reverse120"].total_length,
            PRESETS["reverse120"].answer_length) == (240, 120)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_the_longest_tasks_of_their_segments(name):
    task = PRESETS[name]
    assert task.needed_tokens == task.window_length  # no PAD
    assert get_task(name, fill=True) == task
    assert longest_length(task.kind, task.num_segments, task.segment_length,
                          task.repeats) == task.length


def test_fill_grows_the_task_with_the_segments():
    # Accuracy against the number of segments at a fixed segment length.
    lengths = [get_task("copy24", num_segments=k, fill=True).length
               for k in (1, 3, 6, 9)]
    assert lengths == [4, 12, 24, 36]
    task = get_task("reverse", num_segments=3, segment_length=10, fill=True)
    assert (task.length, task.needed_tokens) == (15, 31)
    # Retrieval is capped by its 26 keys, then padded.
    task = get_task("retrieval8", num_segments=20, fill=True)
    assert (task.length, task.window_length) == (26, 121)
    # Without fill, new segments keep the task and pad it.
    task = get_task("copy24", num_segments=9)
    assert (task.length, task.total_length) == (24, 108)
    examples = generate("copy24", 2, seed=0, num_segments=2, fill=True)
    assert examples.tokens.shape == (2, 25)
    assert examples.task.length == 8


def test_same_seed_same_examples_other_seed_others():
    first = generate("copy24", 20, seed=3)
    again = generate("copy24", 20, seed=3)
    other = generate("copy24", 20, seed=4)
    np.testing.assert_array_equal(first.tokens, again.tokens)
    np.testing.assert_array_equal(first.targets, again.targets)
    assert not np.array_equal(first.tokens, other.tokens)
    # Examples within a set differ too.
    assert len({row.tobytes() for row in first.tokens}) == 20


def test_copy_writes_the_source_after_a_separator_then_the_answer():
    examples = generate("copy", 50, seed=1, length=7, num_segments=4,
                        segment_length=5)
    tokens = examples.tokens
    source = tokens[:, :7]
    assert np.isin(source, DIGITS).all()
    # 7 digits, 6 PADs, SEP, 7 digits: 21 = 4 * 5 + 1 tokens.
    assert (tokens[:, 7:13] == PAD).all()
    assert (tokens[:, 13] == SEP).all()
    np.testing.assert_array_equal(tokens[:, 14:], source)
    np.testing.assert_array_equal(examples.answers, source)
    assert render(tokens[0]) == (render(source[0]) + "______|"
                                 + render(source[0]))


def test_copy_preset_repeats_the_source_twice_without_padding():
    tokens = generate("copy24", 10, seed=2).tokens
    source = tokens[:, :24]
    assert (tokens[:, 24] == SEP).all()
    np.testing.assert_array_equal(tokens[:, 25:49], source)
    np.testing.assert_array_equal(tokens[:, 49:], source)


def test_reverse_answers_the_source_reversed():
    examples = generate("reverse", 50, seed=1, length=6, num_segments=2,
                        segment_length=8)
    tokens = examples.tokens
    source = tokens[:, :6]
    assert (tokens[:, 6:10] == PAD).all()
    assert (tokens[:, 10] == SEP).all()
    np.testing.assert_array_equal(examples.answers, source[:, ::-1])
    assert not np.array_equal(source, source[:, ::-1])


def test_retrieval_answers_the_value_of_the_queried_key():
    examples = generate("retrieval", 200, seed=5, length=8, num_segments=3,
                        segment_length=8)
    tokens = examples.tokens
    assert tokens.shape == (200, 25)
    keys, values = tokens[:, 0:16:2], tokens[:, 1:16:2]
    assert np.isin(keys, KEYS).all() and np.isin(values, DIGITS).all()
    for row in keys:
        assert len(set(row)) == 8  # distinct keys
    assert (tokens[:, 16:22] == PAD).all()
    assert (tokens[:, -3] == QUERY).all()
    query = tokens[:, -2]
    for row in range(200):
        (where,) = np.nonzero(keys[row] == query[row])
        assert len(where) == 1
        assert tokens[row, -1] == values[row, where[0]]
    # The queried pair is not always the same slot.
    slots = [int(np.nonzero(keys[r] == query[r])[0][0]) for r in range(200)]
    assert len(set(slots)) == 8
    assert examples.answers.shape == (200, 1)


@pytest.mark.parametrize("name", ["copy24", "reverse24", "retrieval24"])
def test_only_the_answer_is_scored(name):
    examples = generate(name, 8, seed=0)
    task = PRESETS[name]
    scored = examples.targets >= 0
    # Target t is token t + 1: the answer tokens, and nothing else.
    expected = np.zeros_like(scored)
    expected[:, task.answer_start - 1:] = True
    np.testing.assert_array_equal(scored, expected)
    assert scored.sum(axis=1).tolist() == [task.answer_length] * 8
    np.testing.assert_array_equal(
        examples.targets[scored], examples.tokens[:, 1:][scored])


def test_windows_carry_tokens_and_mask_and_split_back():
    examples = generate("copy", 6, seed=0, length=4, num_segments=3,
                        segment_length=4)
    windows = examples.windows
    # Unscored entries are negative, scored ones the tokens themselves.
    assert (windows[:, :examples.task.answer_start] < 0).all()
    np.testing.assert_array_equal(
        windows[:, examples.task.answer_start:], examples.answers)
    token_ids, targets = split_windows(windows)
    np.testing.assert_array_equal(token_ids, examples.tokens[:, :-1])
    np.testing.assert_array_equal(targets, examples.targets)
    # Plain windows with -1 padding decode as StatefulLM reads them.
    plain = np.array([[5, 6, -1, -1]], np.int32)
    token_ids, targets = split_windows(plain)
    np.testing.assert_array_equal(token_ids, [[5, 6, 0]])
    np.testing.assert_array_equal(targets, [[6, -1, -1]])


def test_dataset_yields_static_int32_windows_of_the_examples():
    data = dataset("copy24", 70, seed=9, batch_size=32)
    assert data.element_spec == tf.TensorSpec((32, 73), tf.int32)
    batches = [batch.numpy() for batch in data]
    assert len(batches) == 2  # the remainder (6) dropped
    np.testing.assert_array_equal(
        np.concatenate(batches), generate("copy24", 70, 9).windows[:64])


def test_dataset_overrides_segments_shuffles_and_repeats():
    data = dataset("copy24", 8, seed=1, segment_length=8, num_segments=10,
                   batch_size=4, shuffle=True, repeat=True)
    assert data.element_spec.shape == (4, 81)
    batches = [batch.numpy() for batch, _ in zip(data, range(6))]
    windows = generate("copy24", 8, 1, num_segments=10,
                       segment_length=8).windows
    passes = [np.concatenate(batches[i:i + 2]) for i in (0, 2, 4)]
    for one_pass in passes:  # each pass holds every example once
        assert sorted(map(bytes, one_pass)) == sorted(map(bytes, windows))
    assert not all(np.array_equal(passes[0], p) for p in passes[1:])
    again = dataset("copy24", 8, seed=1, segment_length=8, num_segments=10,
                    batch_size=4, shuffle=True, repeat=True)
    np.testing.assert_array_equal(next(iter(again)), batches[0])


def test_dataset_splits_static_windows_over_replicas():
    from tests.test_stateful_training import two_cpu_strategy

    strategy = two_cpu_strategy()
    data = strategy.experimental_distribute_dataset(
        dataset("reverse24", 16, seed=0, batch_size=8))
    batch = next(iter(data))
    parts = strategy.experimental_local_results(batch)
    assert [tuple(part.shape) for part in parts] == [(4, 49), (4, 49)]
    np.testing.assert_array_equal(
        np.concatenate([part.numpy() for part in parts]),
        generate("reverse24", 16, 0).windows[:8])


def test_accuracy_of_perfect_wrong_and_partly_wrong_logits():
    examples = generate("reverse24", 4, seed=0)
    windows = examples.windows
    perfect = one_hot(examples.tokens[:, 1:])
    assert answer_accuracy(perfect, windows) == {
        "token_accuracy": 1.0, "answer_accuracy": 1.0,
        "num_tokens": 4 * 24, "num_answers": 4}
    # Wrong everywhere off the answers changes nothing.
    ids = examples.tokens[:, 1:].copy()
    ids[:, :examples.task.answer_start - 1] = SEP
    assert answer_accuracy(one_hot(ids), windows)["answer_accuracy"] == 1.0
    wrong = one_hot(np.full(ids.shape, PAD))
    result = answer_accuracy(wrong, windows)
    assert result["token_accuracy"] == result["answer_accuracy"] == 0.0
    # One token wrong in one answer: 1 of 96 tokens, 1 of 4 answers.
    ids = examples.tokens[:, 1:].copy()
    ids[2, -1] = (ids[2, -1] - DIGIT_0 + 1) % 10 + DIGIT_0
    result = answer_accuracy(one_hot(ids), windows)
    assert result["token_accuracy"] == pytest.approx(95 / 96)
    assert result["answer_accuracy"] == 0.75
    # Predicted ids and tensors are accepted too.
    assert answer_accuracy(tf.constant(ids), tf.constant(windows)) == result


def train_copy(memory_length, steps, batch_size=64):
    """A 1-layer LM trained on a copy of 4 digits over 3 segments of 4
    (question in segment 1, answer in segment 3), read segment by segment
    with its memory carried; its accuracy on other examples."""
    import keras

    from keras_lrm.models import MemoryTransformerLM

    task = get_task("copy", length=4, num_segments=3, segment_length=4)
    size = task.segment_length
    keras.utils.set_random_seed(0)
    lm = MemoryTransformerLM(
        vocab_size=VOCAB_SIZE, num_layers=1, d_model=32, num_heads=2,
        d_ff=64, segment_length=size, memory_lengths=[memory_length],
        pre_norm=True)
    optimizer = keras.optimizers.Adam(3e-3)

    def forward(token_ids, training):
        state, logits = lm.initial_memory(token_ids.shape[0]), []
        for k in range(task.num_segments):
            part, state = lm.call_with_memory(
                token_ids[:, k * size:(k + 1) * size], state,
                training=training)
            logits.append(part)
        return tf.concat(logits, axis=1)

    @tf.function(jit_compile=True)
    def train_step(windows):
        token_ids, targets = split_windows(windows)
        with tf.GradientTape() as tape:
            nll = keras.losses.sparse_categorical_crossentropy(
                tf.maximum(targets, 0), forward(token_ids, True),
                from_logits=True)
            scored = tf.cast(targets >= 0, nll.dtype)
            loss = tf.reduce_sum(nll * scored) / tf.reduce_sum(scored)
        weights = lm.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))

    for windows in dataset(task, 8192, seed=1, batch_size=batch_size,
                           shuffle=True, repeat=True).take(steps):
        train_step(windows)
    test = generate(task, 256, seed=2).windows
    token_ids, _ = split_windows(test)
    return answer_accuracy(forward(token_ids, False), test)


def test_the_answer_needs_what_crossed_the_segments():
    # With a memory reaching the first segment, the copy is learned; with
    # none, the answer segment holds nothing of the source: chance (0.1).
    assert train_copy(memory_length=8, steps=350)["answer_accuracy"] >= 0.9
    assert train_copy(memory_length=0, steps=100)["token_accuracy"] < 0.3
