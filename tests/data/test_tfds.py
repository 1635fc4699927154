"""TFDS corpora through tfds.testing.mock_data, and the not-prepared error."""

import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_lrm.data import SPLITS
from keras_lrm.data import ByteTokenizer
from keras_lrm.data import TFDSCorpus
from keras_lrm.data import get_corpus
from keras_lrm.data import prepare
from keras_lrm.data import read_tokens


@pytest.mark.parametrize("name,key", [("pg19", "book_text"),
                                      ("tiny_shakespeare", "text")])
def test_tfds_corpus_reads_each_split_in_a_fixed_order(tmp_path, name, key):
    corpus = get_corpus(name, str(tmp_path))
    assert corpus.text_key == key
    with tfds.testing.mock_data(num_examples=3):
        for split in SPLITS:
            texts = list(corpus.texts(split))
            assert len(texts) == 3
            assert all(isinstance(t, bytes) for t in texts)
            assert list(corpus.texts(split)) == texts
        sources = corpus.sources()
    assert sources[0]["version"] == str(
        tfds.builder(name, data_dir=str(tmp_path)).info.version)
    assert corpus.get_config() == {"name": name, "data_dir": str(tmp_path),
                                   "text_key": key}


def test_tfds_corpus_prepares_tfrecords(tmp_path):
    corpus = TFDSCorpus("tiny_shakespeare", data_dir=str(tmp_path))
    with tfds.testing.mock_data(num_examples=2):
        manifest = prepare(corpus, ByteTokenizer(),
                           output_dir=str(tmp_path / "out"), chunk_size=7,
                           progress=False)
        for split in SPLITS:
            expected = b"".join(corpus.texts(split))
            tokens = read_tokens(manifest, split)
            np.testing.assert_array_equal(tokens, np.frombuffer(
                expected, np.uint8))


def test_missing_tfds_data_fails_fast_with_instructions(tmp_path):
    corpus = TFDSCorpus("pg19", data_dir=str(tmp_path))
    start = time.monotonic()
    with pytest.raises(FileNotFoundError,
                       match=r"'pg19' is not prepared.*tfds build pg19 "
                             r"--data_dir=DIR.*download=True"):
        next(corpus.texts("valid"))
    assert time.monotonic() - start < 10


def test_tfds_corpus_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="Received: split='validation'"):
        next(TFDSCorpus("pg19", data_dir=str(tmp_path)).texts("validation"))
    with pytest.raises(ValueError, match="Received: text_key='title'"):
        with tfds.testing.mock_data(num_examples=1):
            next(TFDSCorpus("tiny_shakespeare", text_key="title").texts(
                "train"))
