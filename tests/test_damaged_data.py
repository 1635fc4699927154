"""A shard damaged in place (same size) is named when training reads it."""

import dataclasses
import os
import re

import pytest
import tensorflow as tf

from keras_lrm.data import CorruptDataError
from keras_lrm.data import get_corpus
from keras_lrm.data import naming_damaged_shards
from keras_lrm.data import prepare
from keras_lrm.data.streams import StreamSource
from keras_lrm.data.streams import stream_dataset
from keras_lrm.data.streams import train_layout
from keras_lrm.training import Experiment
from keras_lrm.training import run_experiment
from keras_lrm.training.experiment import prepare_data
from keras_lrm.tuning.search import run_search


def tiny(tmp_path):
    return Experiment(
        name="damaged", corpus_max_bytes=60_000, num_layers=2, d_model=16,
        num_heads=2, d_ff=32, long_length=16, short_length=8,
        segment_length=8, batch_size=2, eval_batch_size=2, train_steps=3,
        eval_tokens=200, strategy="cpu", export_dir="", verbose="0",
        data_dir=str(tmp_path / "tfrecords"),
        checkpoint_dir=str(tmp_path / "checkpoints"),
        log_dir=str(tmp_path / "logs"))


def flip_byte(path, offset=500):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def read_all(manifest, split):
    source = StreamSource.from_manifest(manifest, split)
    layout = train_layout(source.num_tokens, 2, 8)
    for _ in stream_dataset(source, layout):
        pass


def test_damaged_shard_is_named_where_tensorflow_does_not(tmp_path):
    manifest = prepare_data(tiny(tmp_path))
    shard = manifest.files("train")[0]
    flip_byte(shard)
    with pytest.raises(tf.errors.DataLossError) as plain:
        read_all(manifest, "train")
    assert shard not in str(plain.value)
    with pytest.raises(CorruptDataError,
                       match="Shard " + re.escape(shard) + " has sha256") \
            as named:
        with naming_damaged_shards(manifest):
            read_all(manifest, "train")
    assert isinstance(named.value.__cause__, tf.errors.DataLossError)


def test_errors_a_data_loss_led_to_are_traced_to_the_shard(tmp_path):
    manifest = prepare_data(tiny(tmp_path))
    shard = manifest.files("valid")[0]
    flip_byte(shard)
    # Raised while handling the read error (`__context__`), two deep.
    with pytest.raises(CorruptDataError, match=re.escape(shard)):
        with naming_damaged_shards(manifest):
            try:
                read_all(manifest, "valid")
            except tf.errors.DataLossError:
                try:
                    raise RuntimeError("trial failed")
                except RuntimeError as failed:
                    raise ValueError("search failed") from failed


def test_the_advice_repairs_the_preparation(tmp_path):
    experiment = tiny(tmp_path)
    manifest = prepare_data(experiment)
    shard = manifest.files("train")[0]
    with open(shard, "rb") as f:
        intact = f.read()
    flip_byte(shard)
    with pytest.raises(CorruptDataError,
                       match="Delete it and prepare the data again") as error:
        with naming_damaged_shards(manifest):
            read_all(manifest, "train")
    # `prepare` reuses the same-size shard, as the message says ...
    prepare_data(experiment)
    with pytest.raises(CorruptDataError, match=re.escape(shard)):
        manifest.verify("checksum")
    # ... unless asked to check checksums, or the shard is deleted.
    with pytest.raises(ValueError, match="verify_existing='sha'"):
        prepare(get_corpus("stdlib", max_bytes=60_000), "bytes",
                output_dir=experiment.data_dir, verify_existing="sha")
    repaired = prepare(get_corpus("stdlib", max_bytes=60_000), "bytes",
                       output_dir=experiment.data_dir, progress=False,
                       verify_existing="checksum")
    with open(shard, "rb") as f:
        assert f.read() == intact
    flip_byte(shard)
    os.remove(shard)
    again = prepare_data(experiment)
    again.verify("checksum")
    assert again.splits == repaired.splits
    assert shard in str(error.value)


def test_other_errors_go_on_unchanged(tmp_path):
    manifest = prepare_data(tiny(tmp_path))
    loss = tf.errors.DataLossError(None, None, "corrupted record at 12")
    # Every shard matches its checksum: the original error goes on.
    with pytest.raises(tf.errors.DataLossError, match="record at 12"):
        with naming_damaged_shards(manifest):
            raise loss
    flip_byte(manifest.files("valid")[0])
    with pytest.raises(ValueError, match="unrelated"):
        with naming_damaged_shards(manifest):
            raise ValueError("unrelated")


def test_training_and_search_name_the_damaged_shard(tmp_path):
    experiment = tiny(tmp_path)
    manifest = prepare_data(experiment)
    shard, valid = manifest.files("train")[0], manifest.files("valid")[0]
    flip_byte(shard)
    # `prepare` checks sizes on reuse: the damage is found by the reader.
    with pytest.raises(CorruptDataError, match=re.escape(shard)):
        run_experiment(experiment)
    # The evaluation before training reads the valid split.
    flip_byte(shard)  # flipped back: intact again
    flip_byte(valid)
    with pytest.raises(CorruptDataError, match=re.escape(valid)):
        run_experiment(dataclasses.replace(experiment, name="valid"))
    flip_byte(valid)
    flip_byte(shard)
    # A search stops at the first trial instead of failing each in turn.
    with pytest.raises(CorruptDataError, match=re.escape(shard)):
        run_search(dataclasses.replace(experiment, name="search"),
                   max_trials=3)
