"""load_manifest / read_tokens: damaged preparations are named, not read."""

import json
import os
import re

import pytest

from keras_lrm.data import ByteTokenizer
from keras_lrm.data import CorruptDataError
from keras_lrm.data import StdlibCorpus
from keras_lrm.data import load_manifest
from keras_lrm.data import prepare
from keras_lrm.data import read_tokens


@pytest.fixture
def prepared(tmp_path):
    corpus = StdlibCorpus(max_bytes=20_000)
    manifest = prepare(corpus, ByteTokenizer(), output_dir=str(tmp_path),
                       chunk_size=1000, shard_tokens=5000, progress=False)
    return corpus, manifest


def test_manifest_accessors(prepared):
    _, manifest = prepared
    assert len(manifest.files("train")) == 4
    assert all(os.path.isfile(p) for p in manifest.files("train"))
    assert manifest.num_tokens("train") == len(read_tokens(manifest, "train"))
    assert manifest.tokenizer_config == {"name": "bytes", "vocab_size": 256}
    assert manifest.corpus_config["name"] == "stdlib"
    loaded = load_manifest(manifest.directory, verify="checksum")
    assert loaded.splits == manifest.splits
    with pytest.raises(ValueError, match="Received: verify='sha'"):
        load_manifest(manifest.directory, verify="sha")


def test_truncated_shard_is_named(prepared):
    _, manifest = prepared
    shard = manifest.files("train")[1]
    with open(shard, "r+b") as f:
        f.truncate(os.path.getsize(shard) - 10)
    with pytest.raises(CorruptDataError,
                       match=re.escape(shard) + " holds .* bytes"):
        load_manifest(manifest.directory)
    unchecked = load_manifest(manifest.directory, verify=None)
    with pytest.raises(CorruptDataError,
                       match="Shard " + re.escape(shard) + " cannot be "):
        read_tokens(unchecked, "train")


def test_flipped_byte_is_caught_by_checksum(prepared):
    _, manifest = prepared
    shard = manifest.files("valid")[0]
    with open(shard, "r+b") as f:
        f.seek(500)
        byte = f.read(1)
        f.seek(500)
        f.write(bytes([byte[0] ^ 0x01]))
    load_manifest(manifest.directory, verify="size")  # same size: passes
    with pytest.raises(CorruptDataError,
                       match="Shard " + re.escape(shard) + " has sha256"):
        load_manifest(manifest.directory, verify="checksum")
    with pytest.raises(CorruptDataError,
                       match="Shard " + re.escape(shard) + " cannot be "):
        read_tokens(manifest, "valid")


def test_missing_files_are_named(prepared):
    _, manifest = prepared
    shard = manifest.files("test")[-1]
    os.remove(shard)
    with pytest.raises(CorruptDataError,
                       match="Missing shard " + re.escape(shard)):
        load_manifest(manifest.directory)
    os.remove(os.path.join(manifest.directory, "manifest.json"))
    with pytest.raises(CorruptDataError, match="manifest.json"):
        load_manifest(manifest.directory)


def test_newer_format_version_is_refused(prepared):
    _, manifest = prepared
    path = os.path.join(manifest.directory, "manifest.json")
    with open(path) as f:
        data = json.load(f)
    data["format_version"] = 2
    with open(path, "w") as f:
        json.dump(data, f)
    with pytest.raises(ValueError, match="format_version=2, newer"):
        load_manifest(manifest.directory)
    with open(path, "w") as f:
        f.write("{not json")
    with pytest.raises(CorruptDataError, match="Unreadable .*manifest.json"):
        load_manifest(manifest.directory)


def test_damaged_preparation_is_prepared_again(prepared, tmp_path):
    corpus, manifest = prepared
    shard = manifest.files("train")[0]
    with open(shard, "r+b") as f:
        f.truncate(100)
    again = prepare(corpus, ByteTokenizer(), output_dir=str(tmp_path),
                    chunk_size=1000, shard_tokens=5000, progress=False)
    assert load_manifest(again.directory, verify="checksum")
    assert again.splits == manifest.splits


def test_manifest_of_another_shape_is_named_and_prepared_again(prepared,
                                                               tmp_path):
    """Valid JSON with the required keys but damaged `splits`."""
    corpus, manifest = prepared
    path = os.path.join(manifest.directory, "manifest.json")
    with open(path) as f:
        data = json.load(f)
    for damaged in [None, {"train": {"files": None}},
                    {"train": {"num_tokens": 5, "files": [{"name": "x"}]}},
                    {**data["splits"], "train": {**data["splits"]["train"],
                     "files": [{k: v for k, v in entry.items()
                                if k != "sha256"} for entry in
                               data["splits"]["train"]["files"]]}}]:
        with open(path, "w") as f:
            json.dump({**data, "splits": damaged}, f)
        with pytest.raises(CorruptDataError, match="manifest.json is damaged"):
            load_manifest(manifest.directory)
    again = prepare(corpus, ByteTokenizer(), output_dir=str(tmp_path),
                    chunk_size=1000, shard_tokens=5000, progress=False)
    assert again.splits == manifest.splits
