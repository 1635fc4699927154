"""Writes one split's token stream as fixed-length TFRecord records.

Shards are written under temporary names; `tfrecords.prepare` renames them
once every split has been written.
"""

import os

import numpy as np
import tensorflow as tf

from keras_lrm.data.files.fingerprints import file_size
from keras_lrm.data.files.fingerprints import sha256_file
from keras_lrm.data.files.temporaries import temp_path
from keras_lrm.data.shards.manifest_checks import shard_name

# Little-endian numpy types of the manifest dtypes.
NUMPY_TYPES = {"uint8": "<u1", "uint16": "<u2", "int32": "<i4"}


def encode_record(ids, dtype):
    """A serialized `tf.train.Example` holding `ids` as raw bytes.

    One feature, `"tokens"`: a bytes_list with a single value, the ids as
    little-endian integers of `dtype`.
    """
    raw = np.asarray(ids).astype(NUMPY_TYPES[dtype]).tobytes()
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[raw]))
    example = tf.train.Example(
        features=tf.train.Features(feature={"tokens": feature}))
    return example.SerializeToString()


class SplitWriter:
    """Cuts a stream of ids into records of `chunk_size`, grouped in shards.

    Args:
        directory: the output folder.
        split: the split name, for file names.
        chunk_size: tokens per record; only the last record may be shorter.
        records_per_shard: records in each shard but the last.
        dtype: the stored dtype, a key of `NUMPY_TYPES`.
    """

    def __init__(self, directory, split, chunk_size, records_per_shard,
                 dtype):
        self.directory = directory
        self.split = split
        self.chunk_size = chunk_size
        self.records_per_shard = records_per_shard
        self.dtype = dtype
        self.num_tokens = 0
        self.temp_paths = []
        self.shards = []
        self._pending = []
        self._pending_size = 0
        self._writer = None
        self._records = 0
        self._tokens = 0

    def add(self, ids):
        """Appends `ids` (a 1-D int array) to the stream."""
        if len(ids) == 0:
            return
        self._pending.append(ids)
        self._pending_size += len(ids)
        self.num_tokens += len(ids)
        if self._pending_size < self.chunk_size:
            return
        stream = np.concatenate(self._pending)
        full = len(stream) - len(stream) % self.chunk_size
        for start in range(0, full, self.chunk_size):
            self._write(stream[start:start + self.chunk_size])
        rest = stream[full:]
        self._pending = [rest] if len(rest) else []
        self._pending_size = len(rest)

    def _write(self, record):
        if self._writer is None:
            path = temp_path(os.path.join(self.directory, self.split))
            self.temp_paths.append(path)
            self._writer = tf.io.TFRecordWriter(path)
        self._writer.write(encode_record(record, self.dtype))
        self._records += 1
        self._tokens += len(record)
        if self._records == self.records_per_shard:
            self._close_shard()

    def _close_shard(self):
        self._writer.close()
        self._writer = None
        self.shards.append({"temp": self.temp_paths[-1],
                            "num_records": self._records,
                            "num_tokens": self._tokens})
        self._records = 0
        self._tokens = 0

    def finish(self):
        """Writes the last (short) record and names the shards.

        Returns:
            The manifest entries of the shards, each with its `"temp"`
            path: `[{"name", "num_records", "num_tokens", "size_bytes",
            "sha256", "temp"}]`.
        """
        if self._pending_size:
            self._write(np.concatenate(self._pending))
            self._pending, self._pending_size = [], 0
        if self._writer is not None:
            self._close_shard()
        count = len(self.shards)
        for index, shard in enumerate(self.shards):
            shard["name"] = shard_name(self.split, index, count)
            shard["size_bytes"] = file_size(shard["temp"])
            shard["sha256"] = sha256_file(shard["temp"])
        return self.shards

    def close(self):
        """Closes an open shard (after an error); the temp files remain."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
