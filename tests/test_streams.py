"""Transformer-XL stream batching read back from real TFRecord shards."""

import numpy as np
import pytest
import tensorflow as tf

from keras_lrm.data import ByteTokenizer
from keras_lrm.data import TextFilesCorpus
from keras_lrm.data import prepare
from keras_lrm.data import read_tokens
from keras_lrm.data.streams import StreamSource
from keras_lrm.data.streams import distribute_streams
from keras_lrm.data.streams import eval_layout
from keras_lrm.data.streams import stream_dataset
from keras_lrm.data.streams import train_layout


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("streams")
    text = root / "book.txt"
    rng = np.random.default_rng(0)
    words = [bytes(rng.integers(97, 123, rng.integers(1, 9)).astype(np.uint8))
             for _ in range(6000)]
    lines = [b" ".join(words[i:i + 10]) for i in range(0, len(words), 10)]
    text.write_bytes(b"\n".join(lines) + b"\n")
    # Small records so that rows start mid-record and cross records.
    manifest = prepare(TextFilesCorpus(str(text)), ByteTokenizer(),
                       output_dir=str(root / "tfrecords"), chunk_size=97,
                       shard_tokens=1000, progress=False)
    tokens = read_tokens(manifest, "train")
    # The shards hold the file's own bytes (train is its first 90%).
    assert bytes(tokens.astype(np.uint8)) == text.read_bytes()[:len(tokens)]
    return manifest, tokens


def collect(dataset):
    return [tf.nest.map_structure(np.asarray, element)
            for element in dataset]


def test_rows_continue_from_batch_to_batch(prepared):
    manifest, tokens = prepared
    source = StreamSource.from_manifest(manifest, "train")
    assert len(source.files) > 3
    layout = train_layout(source.num_tokens, 5, 16)
    batches = collect(stream_dataset(source, layout))
    assert len(batches) == layout.num_windows
    row_length = len(tokens) // 5
    for step, windows in enumerate(batches):
        assert windows.shape == (5, 17)
        for row in range(5):
            start = row * row_length + step * 16
            np.testing.assert_array_equal(windows[row],
                                          tokens[start:start + 17])


def test_resuming_mid_pass_gives_the_remaining_windows(prepared):
    manifest, _ = prepared
    source = StreamSource.from_manifest(manifest, "train")
    layout = train_layout(source.num_tokens, 3, 20)
    whole = collect(stream_dataset(source, layout))
    rest = collect(stream_dataset(source, layout, start_window=7))
    assert len(rest) == len(whole) - 7
    for a, b in zip(whole[7:], rest, strict=True):
        np.testing.assert_array_equal(a, b)


def test_evaluation_predicts_every_token_exactly_once(prepared):
    manifest, _ = prepared
    tokens = read_tokens(manifest, "valid")
    source = StreamSource.from_manifest(manifest, "valid")
    layout = eval_layout(source.num_tokens, 3, 32)
    predicted = [[] for _ in range(3)]
    for windows in collect(stream_dataset(source, layout)):
        targets = windows[:, 1:]
        for row in range(3):
            predicted[row].extend(targets[row][targets[row] >= 0].tolist())
            # Padding (-1) only ever follows the real tokens of a row.
            assert (np.diff((targets[row] >= 0).astype(int)) <= 0).all()
    assert sum(len(p) for p in predicted) == len(tokens) - 1
    np.testing.assert_array_equal(np.concatenate(predicted), tokens[1:])


def test_datasets_know_their_length(prepared):
    """Keras averages `fit`/`evaluate` metrics over the steps it knows
    of: the filter inside must not hide the number of windows."""
    manifest, _ = prepared
    source = StreamSource.from_manifest(manifest, "train")
    layout = train_layout(source.num_tokens, 2, 8)
    assert int(stream_dataset(source, layout).cardinality()) == \
        layout.num_windows
    assert int(stream_dataset(source, layout, start_window=3)
               .cardinality()) == layout.num_windows - 3
    assert len(collect(stream_dataset(source, layout))) == \
        layout.num_windows


def test_layout_errors_name_the_arguments():
    with pytest.raises(ValueError, match="`batch_size`"):
        train_layout(100, 20, 8)
    with pytest.raises(ValueError, match="`segment_length`"):
        train_layout(100, 2, 0)
    with pytest.raises(ValueError, match="num_tokens"):
        eval_layout(1, 2, 8)


def test_each_replica_always_gets_the_same_rows(prepared):
    manifest, tokens = prepared
    source = StreamSource.from_manifest(manifest, "train")
    layout = train_layout(source.num_tokens, 4, 8)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    dataset = distribute_streams(strategy, source, layout)
    row_length = len(tokens) // 4
    for step, windows in enumerate(dataset):
        if step == 5:
            break
        parts = strategy.experimental_local_results(windows)
        for replica, part in enumerate(parts):
            for local_row in range(2):
                row = replica * 2 + local_row
                start = row * row_length + step * 8
                np.testing.assert_array_equal(np.asarray(part)[local_row],
                                              tokens[start:start + 9])
