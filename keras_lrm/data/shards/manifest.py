"""The manifest of a TFRecord preparation: what is there and how to check it.

`manifest.json` is written last by `tfrecords.prepare`; its presence marks a
complete preparation. It records the corpus, the tokenizer, the token dtype,
the record length and, per split, every shard with its size and sha256, so
that a reader can catch a missing, truncated or corrupted shard.
"""

import contextlib
import json
import logging
import os

import tensorflow as tf

from keras_lrm.data.files.fingerprints import file_size
from keras_lrm.data.files.fingerprints import sha256_file
from keras_lrm.data.shards.manifest_checks import CorruptDataError
from keras_lrm.data.shards.manifest_checks import check_manifest_data
from keras_lrm.data.tokenizers.registry import load_tokenizer

MANIFEST_FILE = "manifest.json"
VERIFY_MODES = (None, "size", "checksum")


class Manifest:
    """A loaded `manifest.json`: the shards and settings of a preparation.

    Attributes:
        directory: the folder of the preparation.
        data: the manifest as a dict (the JSON contents).
        vocab_size: number of token ids.
        dtype: the stored integer type, `"uint8"`, `"uint16"` or `"int32"`.
        chunk_size: tokens per record (the last record of a split may hold
            fewer).
        splits: `{split: {"num_tokens", "files": [{"name", "num_records",
            "num_tokens", "size_bytes", "sha256"}]}}`.
        tokenizer_config: the tokenizer's `get_config()`.
        corpus_config: the corpus's `get_config()`.

    Raises:
        CorruptDataError: `data` is not a well-formed manifest (see
            `manifest_checks.check_manifest_data`); the message names the
            manifest's path and the field.
    """

    def __init__(self, directory, data):
        check_manifest_data(os.path.join(directory, MANIFEST_FILE), data)
        self.directory = directory
        self.data = data
        self.format_version = data["format_version"]
        self.vocab_size = data["vocab_size"]
        self.dtype = data["dtype"]
        self.chunk_size = data["chunk_size"]
        self.splits = data["splits"]
        self.tokenizer_config = data["tokenizer"]
        self.corpus_config = data.get("corpus")

    @property
    def path(self):
        """The path of `manifest.json`."""
        return os.path.join(self.directory, MANIFEST_FILE)

    def _split(self, split):
        if split not in self.splits:
            raise ValueError(
                f"`split` must be one of the prepared splits "
                f"{tuple(self.splits)}. Received: split={split!r}"
            )
        return self.splits[split]

    def files(self, split):
        """Full paths of `split`'s shards, in token order."""
        return [os.path.join(self.directory, entry["name"])
                for entry in self._split(split)["files"]]

    def num_tokens(self, split):
        """Number of tokens in `split`."""
        return self._split(split)["num_tokens"]

    def tokenizer(self):
        """The tokenizer saved with the preparation."""
        return load_tokenizer(self.directory)

    def verify(self, mode="size"):
        """Checks the shards; raises `CorruptDataError` naming a bad one.

        Args:
            mode: `None` (no check), `"size"` (each shard exists with the
                recorded size: catches missing and truncated files) or
                `"checksum"` (also the sha256 of each shard).
        """
        if mode not in VERIFY_MODES:
            raise ValueError(
                f"`verify` must be one of {VERIFY_MODES}. "
                f"Received: verify={mode!r}"
            )
        if mode is None:
            return
        for info in self.splits.values():
            for entry in info["files"]:
                _verify_file(os.path.join(self.directory, entry["name"]),
                             entry, mode)

    def __repr__(self):
        counts = {split: info["num_tokens"]
                  for split, info in self.splits.items()}
        return f"Manifest({self.directory!r}, num_tokens={counts})"


@contextlib.contextmanager
def naming_damaged_shards(manifest):
    """Names the shard behind a failed read inside the `with` block.

    TensorFlow reports a record that fails its checksum as `DataLossError:
    corrupted record at N`, without the file. A shard damaged in place
    keeps its size, so the default `verify="size"` check lets it through
    until training reads it. On such an error (or one it caused, or that
    was raised while handling it) this checks every shard's sha256 and
    raises `CorruptDataError` naming the damaged one; if all match, the
    original error goes on.

    Args:
        manifest: the `Manifest` of the preparation being read.

    Raises:
        CorruptDataError: a shard's sha256 differs from the manifest's,
            chained to the read error.

    Example:

    >>> with naming_damaged_shards(manifest):
    ...     model.fit(stream_dataset(source, layout), ...)
    """
    try:
        yield
    except Exception as error:
        if not _from_data_loss(error):
            raise
        logging.warning("A record of %s failed its check; comparing every "
                        "shard with its sha256.", manifest.directory)
        try:
            manifest.verify("checksum")
        except CorruptDataError as damaged:
            raise damaged from error
        raise


def _from_data_loss(error):
    """Whether `error` is a `DataLossError` or has one in its chain."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, tf.errors.DataLossError):
            return True
        seen.add(id(error))
        error = error.__cause__ or (
            None if error.__suppress_context__ else error.__context__)
    return False


def _verify_file(path, entry, mode):
    if not tf.io.gfile.exists(path):
        raise CorruptDataError(
            f"Missing shard {path}, listed in the manifest. Prepare the data "
            "again."
        )
    size = file_size(path)
    if size != entry["size_bytes"]:
        raise CorruptDataError(
            f"Shard {path} holds {size} bytes but the manifest records "
            f"{entry['size_bytes']} (truncated or replaced). Prepare the "
            "data again."
        )
    if mode == "checksum":
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise CorruptDataError(
                f"Shard {path} has sha256 {digest} but the manifest records "
                f"{entry['sha256']} (corrupted in place, same size). Delete "
                "it and prepare the data again: `prepare` reuses shards "
                "whose sizes match unless given "
                "`verify_existing=\"checksum\"`."
            )


def load_manifest(directory, verify="size"):
    """Loads `<directory>/manifest.json` and checks the shards it lists.

    Args:
        directory: the preparation's folder,
            `<output_dir>/<corpus>/<tokenizer>`.
        verify: `None`, `"size"` or `"checksum"`; see `Manifest.verify`.

    Returns:
        The `Manifest`.

    Raises:
        CorruptDataError: the manifest is missing, unreadable or has a
            field of the wrong type or range (a shard name that is not a
            plain file name of this folder included), or a shard fails the
            check; the message names the file (and the field).
        ValueError: the manifest was written by a newer format version.
    """
    if verify not in VERIFY_MODES:
        raise ValueError(
            f"`verify` must be one of {VERIFY_MODES}. "
            f"Received: verify={verify!r}"
        )
    if not isinstance(directory, (str, os.PathLike)) or not str(directory):
        raise ValueError(
            "`directory` must be the folder of a preparation (a path). "
            f"Received: directory={directory!r}"
        )
    directory = os.fspath(directory)
    path = os.path.join(directory, MANIFEST_FILE)
    if not tf.io.gfile.exists(path):
        raise CorruptDataError(
            f"Missing {path}: {directory} holds no complete preparation "
            "(prepare it with `keras_lrm.data.prepare`)."
        )
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = json.loads(f.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptDataError(f"Unreadable {path}: {error}") from None
    manifest = Manifest(directory, data)
    manifest.verify(verify)
    return manifest
