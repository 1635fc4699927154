"""File sizes and sha256 fingerprints on `tf.io.gfile` (local or `gs://`),
and the key naming where a corpus reads."""

import hashlib
import os

import tensorflow as tf

HASH_BLOCK = 1 << 22


def location_key(location):
    """8 hex digits of a sha256 of where a corpus reads: its absolute local
    path, or a `scheme://` path (`gs://...`) as given.

    `"books"`, `"./books"` and `"/home/me/books"` (run from `/home/me`)
    give the same key.
    """
    if "://" not in location:
        location = os.path.abspath(location)
    return hashlib.sha256(location.encode("utf-8")).hexdigest()[:8]


def file_size(path):
    """Size of `path` in bytes."""
    return tf.io.gfile.stat(path).length


def sha256_file(path):
    """Hex sha256 of the file at `path`, read in blocks."""
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        while True:
            block = f.read(HASH_BLOCK)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def fingerprint(path, name=None):
    """A `sources()` entry: `{"name", "size", "sha256"}` of one file."""
    return {
        "name": name or os.path.basename(path),
        "size": file_size(path),
        "sha256": sha256_file(path),
    }
