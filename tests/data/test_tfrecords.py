"""prepare(): the TFRecord contract, reuse, re-preparation, atomicity."""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_lrm import __version__
from keras_lrm.data import SPLITS
from keras_lrm.data import ByteTokenizer
from keras_lrm.data import Enwik8Corpus
from keras_lrm.data import StdlibCorpus
from keras_lrm.data import TextFilesCorpus
from keras_lrm.data import WikiText103Corpus
from keras_lrm.data import WordTokenizer
from keras_lrm.data import decode_record
from keras_lrm.data import load_manifest
from keras_lrm.data import prepare
from keras_lrm.data import read_tokens
from keras_lrm.data.shards.manifest_checks import token_dtype
from keras_lrm.data.shards.record_writer import encode_record
from tests.data import samples


def direct_tokens(corpus, tokenizer, split):
    """The split's token stream, tokenizing each document on its own."""
    parts = [tokenizer.tokenize([text]).flat_values.numpy()
             for text in corpus.texts(split)]
    return np.concatenate(parts) if parts else np.zeros([0], np.int32)


def record_lengths(manifest, split):
    lengths = []
    for path in manifest.files(split):
        for record in tf.data.TFRecordDataset(path):
            lengths.append(int(decode_record(record, manifest.dtype).shape[0]))
    return lengths


def snapshot(directory):
    """`{name: (mtime_ns, bytes)}` of every file in `directory`."""
    result = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        with open(path, "rb") as f:
            result[name] = (os.stat(path).st_mtime_ns, f.read())
    return result


def test_prepare_bytes_matches_direct_tokenization(tmp_path):
    _, archive, _ = samples.write_enwik8(tmp_path, num_bytes=200_000)
    corpus = Enwik8Corpus(str(archive), allow_short=True)
    tokenizer = ByteTokenizer()
    manifest = prepare(corpus, tokenizer, output_dir=str(tmp_path / "out"),
                       chunk_size=1000, shard_tokens=50_000, progress=False)
    directory = str(tmp_path / "out" / "enwik8" / "bytes")
    assert manifest.directory == directory
    assert manifest.dtype == "uint8" and manifest.vocab_size == 256
    for split in SPLITS:
        tokens = read_tokens(directory, split)
        assert tokens.dtype == np.int32
        np.testing.assert_array_equal(
            tokens, direct_tokens(corpus, tokenizer, split))
        lengths = record_lengths(manifest, split)
        assert all(n == 1000 for n in lengths[:-1])
        assert 0 < lengths[-1] <= 1000
        assert sum(lengths) == manifest.num_tokens(split) == len(tokens)
    train_files = [os.path.basename(p) for p in manifest.files("train")]
    assert train_files == [f"train-{i:05d}-of-00004.tfrecord"
                           for i in range(4)]
    with open(os.path.join(directory, "manifest.json")) as f:
        data = json.load(f)
    assert data["format_version"] == 1
    assert data["corpus"] == corpus.get_config()
    assert data["tokenizer"] == {"name": "bytes", "vocab_size": 256}
    assert data["sources"] == corpus.sources()
    assert data["library_version"] == __version__
    assert data["chunk_size"] == 1000 and "created" in data
    entry = data["splits"]["train"]["files"][0]
    assert entry["num_records"] == 50 and entry["num_tokens"] == 50_000
    assert entry["size_bytes"] == os.path.getsize(manifest.files("train")[0])
    assert isinstance(manifest.tokenizer(), ByteTokenizer)


def test_record_format_is_raw_little_endian():
    for dtype, ids in [("uint8", [0, 7, 255]), ("uint16", [0, 300, 65535]),
                       ("int32", [0, 70000, 2**31 - 1])]:
        record = encode_record(np.array(ids), dtype)
        example = tf.train.Example.FromString(record)
        raw = example.features.feature["tokens"].bytes_list.value
        assert len(raw) == 1
        assert raw[0] == np.array(ids, dtype=np.dtype(dtype).newbyteorder(
            "<")).tobytes()
        decoded = decode_record(tf.constant(record), dtype)
        assert decoded.dtype == tf.int32
        assert decoded.numpy().tolist() == ids
    assert [token_dtype(n) for n in (2, 256, 257, 65536, 65537)] == [
        "uint8", "uint8", "uint16", "uint16", "int32"]


def test_prepare_words_on_wikitext(tmp_path):
    corpus = WikiText103Corpus(str(samples.write_wikitext(tmp_path)))
    # A vocabulary over 256 words to store uint16 ids.
    extra = [f"w{i}" for i in range(300)]
    built = WordTokenizer.build(corpus.texts("train"), progress=False)
    tokenizer = WordTokenizer(built.vocabulary + extra)
    manifest = prepare(corpus, tokenizer, output_dir=str(tmp_path / "out"),
                       chunk_size=8, progress=False)
    assert manifest.dtype == "uint16"
    eos = tokenizer.eos_id
    for split in SPLITS:
        tokens = read_tokens(manifest, split)
        np.testing.assert_array_equal(
            tokens, direct_tokens(corpus, tokenizer, split))
        text = getattr(samples, f"WIKI_{split.upper()}")
        assert (tokens == eos).sum() == text.count("\n")
    assert {"manifest.json", "tokenizer.json", "vocab.txt",
            "train-00000-of-00001.tfrecord"} <= set(
                os.listdir(manifest.directory))
    assert manifest.tokenizer().vocabulary == tokenizer.vocabulary


def test_rerun_is_a_no_op(tmp_path, caplog):
    folder, _ = samples.write_text_files(tmp_path)
    corpus = TextFilesCorpus(str(folder))
    out = str(tmp_path / "out")
    first = prepare(corpus, ByteTokenizer(), output_dir=out, chunk_size=256,
                    shard_tokens=1024, progress=False)
    before = snapshot(first.directory)
    with caplog.at_level(logging.INFO, logger="keras_lrm.data"):
        again = prepare(TextFilesCorpus(str(folder)), ByteTokenizer(),
                        output_dir=out, chunk_size=256, shard_tokens=1024,
                        progress=False)
    assert "up to date" in caplog.text
    assert snapshot(first.directory) == before
    assert again.data == first.data


def test_changed_source_or_settings_prepare_again(tmp_path):
    folder, paths = samples.write_text_files(tmp_path)
    out = str(tmp_path / "out")
    first = prepare(TextFilesCorpus(str(folder)), ByteTokenizer(),
                    output_dir=out, chunk_size=256, progress=False)
    corpus = TextFilesCorpus(str(folder))
    changed = corpus.files("train")[0]
    with open(changed, "ab") as f:
        f.write(b"one more line\n")
    second = prepare(corpus, ByteTokenizer(), output_dir=out,
                     chunk_size=256, progress=False)
    assert second.num_tokens("train") == first.num_tokens("train") + 14
    np.testing.assert_array_equal(
        read_tokens(second.directory, "train"),
        direct_tokens(corpus, ByteTokenizer(), "train"))
    # A larger chunk: fewer shards; the stale ones are removed.
    third = prepare(corpus, ByteTokenizer(), output_dir=out,
                    chunk_size=100_000, shard_tokens=100_000,
                    progress=False)
    names = sorted(os.listdir(third.directory))
    assert names == [".keras_lrm_data", "manifest.json",
                     "test-00000-of-00001.tfrecord",
                     "tokenizer.json", "train-00000-of-00001.tfrecord"]
    # No file of these 12 hashes into valid: an empty split, no shard.
    assert third.splits["valid"] == {"num_tokens": 0, "files": []}
    assert read_tokens(third, "valid").shape == (0,)
    assert load_manifest(third.directory, verify="checksum").chunk_size == \
        100_000


class FailingTokenizer(ByteTokenizer):
    """Raises on its `fail_at`-th call, as if the run were interrupted."""

    def __init__(self, fail_at):
        super().__init__()
        self.calls = 0
        self.fail_at = fail_at

    def tokenize(self, texts):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt("simulated interruption")
        return super().tokenize(texts)


def test_interrupted_prepare_keeps_the_previous_one(tmp_path):
    corpus = StdlibCorpus(max_bytes=40_000)
    out = str(tmp_path / "out")
    first = prepare(corpus, ByteTokenizer(), output_dir=out,
                    chunk_size=512, shard_tokens=4096, progress=False)
    before = snapshot(first.directory)
    # A changed setting forces a new preparation, which then fails.
    with pytest.raises(KeyboardInterrupt):
        prepare(corpus, FailingTokenizer(fail_at=3), output_dir=out,
                chunk_size=1024, shard_tokens=4096, progress=False)
    assert snapshot(first.directory) == before
    loaded = load_manifest(first.directory, verify="checksum")
    assert loaded.chunk_size == 512


def test_stale_temp_files_are_removed(tmp_path):
    corpus = StdlibCorpus(max_bytes=10_000)
    out = tmp_path / "out"
    directory = out / "stdlib" / "bytes"
    directory.mkdir(parents=True)
    (directory / "train.tmp-0123456789ab").write_bytes(b"half a shard")
    prepare(corpus, ByteTokenizer(), output_dir=str(out), progress=False)
    assert not [n for n in os.listdir(directory) if ".tmp-" in n]


class OutOfRangeTokenizer(ByteTokenizer):
    """Claims 100 ids but emits bytes up to 255."""

    vocab_size = 100


def test_out_of_range_ids_are_rejected_naming_the_document(tmp_path):
    corpus = StdlibCorpus(max_bytes=5_000)
    with pytest.raises(ValueError, match=r"Token id 1\d\d is outside "
                                         r"\[0, 100\) in document \d+ of "
                                         r"split 'train' of corpus 'stdlib'"):
        prepare(corpus, OutOfRangeTokenizer(), output_dir=str(tmp_path),
                progress=False)
    assert not [n for n in os.listdir(tmp_path / "stdlib" / "bytes")
                if ".tmp-" in n]


def test_prepare_arguments_and_split_subset(tmp_path, capsys):
    corpus = StdlibCorpus(max_bytes=5_000)
    with pytest.raises(ValueError, match="Received: chunk_size=0"):
        prepare(corpus, ByteTokenizer(), output_dir=str(tmp_path),
                chunk_size=0)
    with pytest.raises(ValueError, match="Received: splits=\\('dev',\\)"):
        prepare(corpus, ByteTokenizer(), output_dir=str(tmp_path),
                splits="dev")
    manifest = prepare(corpus, ByteTokenizer(), output_dir=str(tmp_path),
                       splits=("valid",))
    assert list(manifest.splits) == ["valid"]
    assert "Tokenizing stdlib valid" in capsys.readouterr().out
    with pytest.raises(ValueError, match="Received: split='train'"):
        manifest.files("train")


def test_tokenizer_by_name_reuses_the_saved_vocabulary(tmp_path, caplog):
    corpus = WikiText103Corpus(str(samples.write_wikitext(tmp_path)))
    out = str(tmp_path / "out")
    first = prepare(corpus, "words", output_dir=out, progress=False)
    built = WordTokenizer.build(corpus.texts("train"), progress=False)
    assert first.tokenizer().vocabulary == built.vocabulary
    before = snapshot(first.directory)
    with caplog.at_level(logging.INFO, logger="keras_lrm.data"):
        again = prepare(corpus, "words", output_dir=out, progress=False)
    assert "Reusing the word vocabulary" in caplog.text
    assert "up to date" in caplog.text
    assert snapshot(again.directory) == before
    assert isinstance(prepare(corpus, "bytes", output_dir=out,
                              progress=False).tokenizer(), ByteTokenizer)
    with pytest.raises(ValueError, match="Received: tokenizer='bpe'"):
        prepare(corpus, "bpe", output_dir=out)
