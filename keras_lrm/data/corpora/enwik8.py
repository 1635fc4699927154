"""enwik8: the first 10^8 bytes of an English Wikipedia XML dump."""

import contextlib
import os
import zipfile
import zlib

import tensorflow as tf

from keras_lrm.data.corpora.lines import line_blocks
from keras_lrm.data.corpora.splits import check_split
from keras_lrm.data.corpora.splits import split_bounds
from keras_lrm.data.files.downloads import download_file
from keras_lrm.data.files.fingerprints import file_size
from keras_lrm.data.files.fingerprints import fingerprint

ENWIK8_URL = "http://mattmahoney.net/dc/enwik8.zip"
ENWIK8_BYTES = 10**8
MEMBER = "enwik8"
BLOCK_SIZE = 1 << 20


def enwik8_bounds(length, allow_short=False, path=None):
    """Byte ranges `{split: (start, end)}` of enwik8's standard split.

    Of the first 10^8 bytes, train is the first 90,000,000, valid the next
    5,000,000 and test the last 5,000,000 (Transformer-XL's
    `prep_enwik8.py`: `data[:-2n]`, `data[-2n:-n]`, `data[-n:]` with
    `n = 5e6`). Bytes after the first 10^8 are ignored. A shorter text is
    an error unless `allow_short`, which cuts what there is 90/5/5.

    Args:
        length: the number of bytes available.
        allow_short: accept fewer than 10^8 bytes (for samples and tests).
        path: the file, named in the error.
    """
    if length < ENWIK8_BYTES and not allow_short:
        raise ValueError(
            f"enwik8 must hold at least {ENWIK8_BYTES} bytes, but {path!r} "
            f"holds {length} bytes (a truncated download?). Pass "
            "`allow_short=True` to cut a sample 90/5/5 instead. "
            f"Received: path={path!r}"
        )
    return split_bounds(min(length, ENWIK8_BYTES))


class Enwik8Corpus:
    """The enwik8 byte-level benchmark, read from `enwik8` or `enwik8.zip`.

    Splits follow `enwik8_bounds`. Documents are blocks of whole lines of
    about 1 MiB, so the split streams; their concatenation is exactly the
    split's bytes.

    Args:
        path: the `enwik8` file, or `enwik8.zip` holding the member
            `enwik8` (local or `gs://`). Get it with
            `Enwik8Corpus.download(directory)`.
        allow_short: accept a file shorter than 10^8 bytes (a sample), cut
            90/5/5.

    Example:

    >>> corpus = Enwik8Corpus(Enwik8Corpus.download("data"))
    >>> block = next(corpus.texts("valid"))
    """

    name = "enwik8"

    def __init__(self, path, allow_short=False):
        if not isinstance(path, str) or not tf.io.gfile.exists(path):
            raise FileNotFoundError(
                f"No enwik8 file at `path`. Get enwik8.zip with "
                f"`Enwik8Corpus.download(directory)` or from {ENWIK8_URL}. "
                f"Received: path={path!r}"
            )
        self.path = path
        self.allow_short = bool(allow_short)
        self.is_zip = _is_zip(path)
        if path.lower().endswith(".zip") and not self.is_zip:
            raise ValueError(
                f"{path} is not a zip archive, or a truncated one (a "
                f"damaged download?): `path` must be `enwik8.zip` holding "
                f"the member {MEMBER!r}, or the unpacked `enwik8` file. "
                f"Delete it and download it again from {ENWIK8_URL}. "
                f"Received: path={path!r}"
            )
        self.length = self._length()
        self.bounds = enwik8_bounds(self.length, self.allow_short, path)

    def _length(self):
        if not self.is_zip:
            return file_size(self.path)
        with self._open() as (_, length):
            return length

    @contextlib.contextmanager
    def _open(self):
        """Yields `(stream, length)`: the raw enwik8 bytes and their count."""
        with tf.io.gfile.GFile(self.path, "rb") as raw:
            if not self.is_zip:
                yield raw, file_size(self.path)
                return
            with self._archive(raw) as archive:
                try:
                    info = archive.getinfo(MEMBER)
                except KeyError:
                    raise ValueError(
                        f"{self.path} holds no member {MEMBER!r} (it holds "
                        f"{archive.namelist()[:5]}): is it enwik8.zip? "
                        f"Received: path={self.path!r}"
                    ) from None
                with archive.open(info) as member:
                    yield member, info.file_size

    def _archive(self, raw):
        try:
            return zipfile.ZipFile(raw)
        except (zipfile.BadZipFile, OSError, EOFError,
                tf.errors.OpError) as error:
            raise ValueError(
                f"{self.path} is not a readable zip archive ({error}): a "
                "damaged download? Delete it and download it again from "
                f"{ENWIK8_URL}. Received: path={self.path!r}"
            ) from None

    def split_bytes(self, split):
        """Bytes `texts(split)` yields (a progress bar's total)."""
        check_split(split)
        start, end = self.bounds[split]
        return end - start

    def texts(self, split):
        """Yields `split`'s bytes in blocks of whole lines."""
        check_split(split)
        start, end = self.bounds[split]
        with self._open() as (stream, _):
            try:
                stream.seek(start)
                yield from line_blocks(stream, end - start, BLOCK_SIZE)
            except (zipfile.BadZipFile, EOFError, zlib.error) as error:
                # A damaged member fails its CRC or inflation mid-read.
                raise ValueError(
                    f"{self.path} is damaged: reading its {split} split "
                    f"failed ({error}). Delete it and download it again "
                    f"from {ENWIK8_URL}. Received: path={self.path!r}"
                ) from None

    def sources(self):
        """Name, size and sha256 of the file read."""
        return [fingerprint(self.path)]

    def get_config(self):
        return {"name": self.name, "path": self.path,
                "allow_short": self.allow_short}

    @staticmethod
    def download(directory, url=ENWIK8_URL):
        """Fetches `enwik8.zip` into `directory` (skipped if already there).

        Returns:
            The path of `enwik8.zip`, to pass as `path`.

        Raises:
            ConnectionError: offline; the message says where to put a copy.
        """
        return download_file(url, os.path.join(directory, "enwik8.zip"))

    def __repr__(self):
        return (f"Enwik8Corpus({self.path!r}, "
                f"allow_short={self.allow_short})")


def _is_zip(path):
    """Whether `path` looks like a zip archive (its end record is found).

    `zipfile.is_zipfile` seeks 22 bytes back from the end, which
    `tf.io.gfile` refuses for a shorter file; such a file is no zip.
    """
    with tf.io.gfile.GFile(path, "rb") as f:
        try:
            return zipfile.is_zipfile(f)
        except tf.errors.OpError:
            return False
