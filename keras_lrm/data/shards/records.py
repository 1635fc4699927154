"""Reading the records of prepared TFRecord shards.

Each record is a serialized `tf.train.Example` with one feature, `"tokens"`:
the token ids as raw little-endian integers of the manifest's `dtype` (see
`keras_lrm.data.shards` for the whole format).
"""

import numpy as np
import tensorflow as tf

from keras_lrm.data.shards.manifest import Manifest
from keras_lrm.data.shards.manifest import load_manifest
from keras_lrm.data.shards.manifest_checks import CorruptDataError

TF_TYPES = {"uint8": tf.uint8, "uint16": tf.uint16, "int32": tf.int32}
FEATURES = {"tokens": tf.io.FixedLenFeature([], tf.string)}


def decode_record(serialized, dtype):
    """The token ids of one serialized record.

    Args:
        serialized: a scalar string tensor, one record of a shard.
        dtype: the manifest's dtype, `"uint8"`, `"uint16"` or `"int32"`.

    Returns:
        An int32 tensor `(n,)`.
    """
    if isinstance(dtype, tf.DType):
        dtype = dtype.name
    if dtype not in TF_TYPES:
        raise ValueError(
            f"`dtype` must be one of {tuple(TF_TYPES)}. "
            f"Received: dtype={dtype!r}"
        )
    raw = tf.io.parse_single_example(serialized, FEATURES)["tokens"]
    ids = tf.io.decode_raw(raw, TF_TYPES[dtype], little_endian=True)
    return tf.cast(ids, tf.int32)


# TensorFlow's default read buffer for local files (256 KiB).
LOCAL_READ_BUFFER_BYTES = 256 * 1024


def read_buffer_bytes(paths):
    """The read buffer for a `TFRecordDataset` of `paths`: TensorFlow's own
    default for local files, given explicitly (left unset, TensorFlow logs
    that it is unset); for remote files (`gs://`, `s3://`) TensorFlow's
    choice, which depends on the file system."""
    if any("://" in str(path) for path in paths):
        return None
    return LOCAL_READ_BUFFER_BYTES


def read_tokens(manifest, split):
    """All token ids of `split`, for small data and tests.

    Args:
        manifest: a `Manifest`, or the folder of a preparation.
        split: a prepared split.

    Returns:
        An int32 numpy array.

    Raises:
        CorruptDataError: a shard fails to parse or holds other records
            than the manifest says; the message names the shard.
    """
    if not isinstance(manifest, Manifest):
        manifest = load_manifest(manifest)
    paths = manifest.files(split)
    entries = manifest.splits[split]["files"]
    parts = []
    for path, entry in zip(paths, entries, strict=True):
        dataset = tf.data.TFRecordDataset(
            path, buffer_size=read_buffer_bytes([path])).map(
            lambda record: decode_record(record, manifest.dtype))
        try:
            records = [ids.numpy() for ids in dataset]
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError,
                tf.errors.NotFoundError) as error:
            raise CorruptDataError(
                f"Shard {path} cannot be read ({error.message.strip()}). "
                "Prepare the data again."
            ) from None
        tokens = sum(len(r) for r in records)
        if len(records) != entry["num_records"] or \
                tokens != entry["num_tokens"]:
            raise CorruptDataError(
                f"Shard {path} holds {len(records)} records and {tokens} "
                f"tokens, but the manifest records {entry['num_records']} "
                f"and {entry['num_tokens']}. Prepare the data again."
            )
        parts.extend(records)
    if not parts:
        return np.zeros([0], np.int32)
    return np.concatenate(parts).astype(np.int32)
