"""ListOps: labels checked by an independent evaluator, lengths, depths,
seeds, splits, the 18-token vocabulary and the padded tf.data batches."""

import numpy as np
import pytest

from keras_lrm.data import listops


def evaluate(expression):
    """The value of `expression`, by a stack of open operators (written
    apart from the generator, with NumPy's median), and the deepest
    nesting and the argument counts seen."""
    frames = [["top"]]
    depth, counts = 1, []
    for token in expression.split():
        if token in ("[MAX", "[MIN", "[MED", "[SM"):
            frames.append([token])
            depth = max(depth, len(frames))
        elif token == "]":
            operator, *args = frames.pop()
            counts.append(len(args))
            if operator == "[MAX":
                value = max(args)
            elif operator == "[MIN":
                value = min(args)
            elif operator == "[MED":
                value = int(np.median(args))
            else:
                value = int(np.sum(args)) % 10
            frames[-1].append(value)
        else:
            assert token in "0123456789" and len(token) == 1, token
            frames[-1].append(int(token))
    assert len(frames) == 1 and len(frames[0]) == 2, expression
    return frames[0][1], depth, counts


@pytest.fixture(scope="module")
def examples():
    return listops.generate(300, seed=7, min_length=5, max_length=120,
                            max_depth=6, max_args=5)


def test_every_label_matches_an_independent_evaluator(examples):
    expressions, labels = examples
    assert len(expressions) == 300 and labels.shape == (300,)
    assert labels.dtype == np.int32
    for expression, label in zip(expressions, labels):
        value, _, _ = evaluate(expression)
        assert value == label, expression
    # All four operators and many labels are drawn.
    tokens = set(" ".join(expressions).split())
    assert {"[MAX", "[MIN", "[MED", "[SM"} <= tokens
    assert len(set(labels.tolist())) >= 8


def test_lra_lengths_and_labels():
    expressions, labels = listops.generate(30, seed=1)
    for expression, label in zip(expressions, labels):
        value, depth, counts = evaluate(expression)
        assert value == label
        assert 500 <= len(expression.split()) <= 2000
        assert depth <= 10 and 2 <= min(counts) and max(counts) <= 10


def test_lengths_depths_and_arguments_keep_to_the_options(examples):
    expressions, _ = examples
    for expression in expressions:
        _, depth, counts = evaluate(expression)
        assert 5 <= len(expression.split()) <= 120
        assert depth <= 6
        assert all(2 <= count <= 5 for count in counts)
    # The bounds are inclusive: a length of exactly 1 is a lone digit.
    digits, labels = listops.generate(5, seed=0, min_length=1,
                                      max_length=1)
    assert all(d == str(v) for d, v in zip(digits, labels))


def test_a_seed_repeats_and_another_differs():
    first = listops.generate(20, seed=3, min_length=10, max_length=60)
    again = listops.generate(20, seed=3, min_length=10, max_length=60)
    other = listops.generate(20, seed=4, min_length=10, max_length=60)
    assert first[0] == again[0]
    np.testing.assert_array_equal(first[1], again[1])
    assert first[0] != other[0]
    assert listops.generate(0, seed=3)[0] == []


def test_expressions_are_distinct_and_exclude_is_respected():
    expressions, _ = listops.generate(60, seed=0, min_length=3,
                                      max_length=8, max_depth=3,
                                      max_args=3)
    assert len(set(expressions)) == 60
    more, _ = listops.generate(60, seed=0, min_length=3, max_length=8,
                               max_depth=3, max_args=3,
                               exclude=expressions[:30])
    assert not set(more) & set(expressions[:30])


def test_too_few_possible_expressions_is_an_error_not_a_hang(monkeypatch):
    monkeypatch.setattr(listops, "MAX_FRUITLESS_DRAWS", 2_000)
    # Only 10 expressions have one token.
    with pytest.raises(ValueError, match="num_examples"):
        listops.generate(11, seed=0, min_length=1, max_length=1)


def test_longest_counts_tokens_of_a_full_tree():
    assert listops.longest(1, 10) == 1
    assert listops.longest(2, 3) == 2 + 3
    assert listops.longest(3, 2) == 2 + 2 * (2 + 2)


def test_splits_have_their_sizes_and_share_no_expression():
    options = dict(min_length=4, max_length=12, max_depth=3, max_args=3)
    data = listops.splits(seed=5, train_size=50, valid_size=20,
                          test_size=20, **options)
    assert [len(data[name][0]) for name in ("train", "valid", "test")] == \
        [50, 20, 20]
    sets = {name: set(data[name][0]) for name in data}
    assert not sets["train"] & sets["valid"]
    assert not sets["train"] & sets["test"]
    assert not sets["valid"] & sets["test"]
    # The evaluation splits do not depend on the size of train.
    fewer = listops.splits(seed=5, train_size=0, valid_size=20,
                           test_size=20, **options)
    assert fewer["valid"][0] == data["valid"][0]
    assert fewer["test"][0] == data["test"][0]
    assert fewer["train"][0] == []
    assert listops.SPLIT_SIZES == {"train": 96_000, "valid": 2_000,
                                   "test": 2_000}


def test_the_vocabulary_has_18_tokens_with_the_brackets():
    assert listops.VOCAB_SIZE == 18 == len(set(listops.VOCABULARY))
    assert listops.VOCABULARY[:3] == ("<pad>", "<unk>", "<eos>")
    assert listops.VOCABULARY[3:8] == ("[MAX", "[MIN", "[MED", "[SM", "]")
    assert listops.VOCABULARY[8:] == tuple("0123456789")


def test_encode_and_decode():
    [ids] = listops.encode(["[MAX 2 [SM 9 4 ] ]"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [3, 10, 6, 17, 12, 7, 7]
    assert listops.decode(ids) == "[MAX 2 [SM 9 4 ] ]"
    # LRA's files group the binary tree with ( and ): dropped.
    [lra] = listops.encode(["( ( ( [MAX 2 ) [SM 9 4 ] ) ] )"])
    assert lra.tolist() == ids.tolist()
    [unknown] = listops.encode(["[MAX 2 x ]"], append_eos=True)
    assert unknown.tolist() == [3, 10, 1, 7, 2]
    assert listops.decode([[3, 10, 10, 7, 0, 0]]) == ["[MAX 2 2 ]"]


def test_pad_puts_padding_at_the_end():
    ids, mask = listops.pad(["[MIN 1 2 ]", "7"], max_length=6,
                            append_eos=True)
    assert ids.tolist() == [[4, 9, 10, 7, 2, 0], [15, 2, 0, 0, 0, 0]]
    assert mask.tolist() == [[True] * 5 + [False],
                             [True] * 2 + [False] * 4]
    small, _ = listops.pad(["[MIN 1 2 ]", "7"], 6, True, dtype="uint8")
    assert small.dtype == np.uint8 and small.tolist() == ids.tolist()
    with pytest.raises(ValueError, match="max_length"):
        listops.pad(["[MIN 1 2 ]"], max_length=3)


def test_dataset_batches_have_static_shapes_and_masks():
    expressions, labels = listops.generate(21, seed=2, min_length=4,
                                           max_length=30)
    data = listops.dataset(expressions, labels, batch_size=4,
                           max_length=32)
    features, targets = data.element_spec
    assert features["token_ids"].shape == (4, 32)
    assert features["padding_mask"].shape == (4, 32)
    assert targets.shape == (4,)
    batches = list(data.as_numpy_iterator())
    assert len(batches) == 5  # 21 // 4, the remainder dropped
    features, targets = batches[0]
    ids, expected = listops.pad(expressions[:4], 32)
    np.testing.assert_array_equal(features["token_ids"], ids)
    np.testing.assert_array_equal(features["padding_mask"], expected)
    np.testing.assert_array_equal(targets, labels[:4])
    whole = listops.dataset(expressions, labels, 4, 32,
                            drop_remainder=False)
    assert sum(len(t) for _, t in whole.as_numpy_iterator()) == 21


def test_a_shuffled_dataset_repeats_for_a_seed():
    expressions, labels = listops.generate(16, seed=2, min_length=4,
                                           max_length=30)

    def order(seed):
        data = listops.dataset(expressions, labels, 16, 32, shuffle=True,
                               seed=seed)
        return next(data.as_numpy_iterator())[0]["token_ids"]

    np.testing.assert_array_equal(order(1), order(1))
    shuffled = order(1)
    assert sorted(map(tuple, shuffled)) == sorted(
        map(tuple, listops.pad(expressions, 32)[0]))
