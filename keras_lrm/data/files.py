"""File helpers on `tf.io.gfile`: atomic writes, hashing, block reading.

Everything goes through `tf.io.gfile` so that local paths and `gs://` work
alike. A file is never written under its final name: it is written under
`<name>.tmp-<random>` in the same folder and renamed into place, so an
interrupted run leaves no half-written file under a final name.
"""

import hashlib
import os
import uuid

import tensorflow as tf

TEMP_MARKER = ".tmp-"
HASH_BLOCK = 1 << 22


def temp_path(path):
    """A fresh temporary name beside `path` (same folder, so rename works)."""
    return f"{path}{TEMP_MARKER}{uuid.uuid4().hex[:12]}"


def is_temp_path(path):
    """Whether `path` is a temporary name made by `temp_path`."""
    return TEMP_MARKER in os.path.basename(path)


def atomic_write(path, data):
    """Writes `data` (bytes or str) to `path` via a temporary name."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    temp = temp_path(path)
    try:
        with tf.io.gfile.GFile(temp, "wb") as f:
            f.write(data)
        tf.io.gfile.rename(temp, path, overwrite=True)
    except BaseException:
        remove_quietly(temp)
        raise


def remove_quietly(path):
    """Removes `path` if it exists; never raises for a missing file."""
    try:
        if tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    except tf.errors.NotFoundError:
        pass


def remove_temp_files(directory):
    """Removes the temporary files an interrupted run left in `directory`.

    Returns:
        The removed paths.
    """
    if not tf.io.gfile.isdir(directory):
        return []
    removed = []
    for name in sorted(tf.io.gfile.listdir(directory)):
        if is_temp_path(name):
            path = os.path.join(directory, name)
            remove_quietly(path)
            removed.append(path)
    return removed


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


def line_blocks(stream, length, block_size):
    """Yields `length` bytes of `stream` in blocks of whole lines.

    A block ends just after a newline and holds at most `block_size` bytes
    unless one line is longer (then the block runs to that line's end). The
    concatenation of the blocks is exactly the `length` bytes read, so a
    tokenizer that works line by line gives the same tokens for the blocks
    as for the whole text.

    Args:
        stream: a binary file object positioned where reading starts.
        length: number of bytes to read.
        block_size: target block size in bytes.
    """
    carry = b""
    remaining = length
    while remaining > 0:
        data = stream.read(min(block_size, remaining))
        if not data:
            raise ValueError(
                f"The file ended {remaining} bytes early while reading "
                f"{length} bytes. Received: stream={stream!r}"
            )
        remaining -= len(data)
        data = carry + data
        cut = data.rfind(b"\n") + 1
        if remaining == 0:
            cut = len(data)
        if cut == 0:
            carry = data
            continue
        yield data[:cut]
        carry = data[cut:]
    if carry:
        yield carry


def lines(stream, length, block_size):
    """Yields `length` bytes of `stream` line by line, newlines kept."""
    for block in line_blocks(stream, length, block_size):
        pieces = block.split(b"\n")
        last = pieces.pop()
        for piece in pieces:
            yield piece + b"\n"
        if last:
            yield last
