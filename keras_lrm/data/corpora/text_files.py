"""Any local (or `gs://`) text files as a corpus."""

import os

import tensorflow as tf

from keras_lrm.arguments import check_positive
from keras_lrm.data.corpora.lines import line_blocks
from keras_lrm.data.corpora.splits import SPLITS
from keras_lrm.data.corpora.splits import check_split
from keras_lrm.data.corpora.splits import split_bounds
from keras_lrm.data.corpora.splits import split_of_path
from keras_lrm.data.files.fingerprints import file_size
from keras_lrm.data.files.fingerprints import fingerprint
from keras_lrm.data.files.fingerprints import location_key

BLOCK_SIZE = 1 << 20
# How far from a 90/5/5 boundary a newline is looked for in a single file.
BOUNDARY_WINDOW = 1 << 16
WILDCARDS = "*?["


class TextFilesCorpus:
    """Text files given by a path, a folder or a glob pattern.

    `pattern` is one file, a folder (every file under it, recursively) or a
    glob such as `"books/*.txt"`; `tf.io.gfile` resolves it, so `gs://`
    works. Files are sorted by path.

    - Several files: each file goes to a split by its path relative to the
      folder (or to the glob's folder part), with the rule of
      `splits.split_of_path` (crc32 modulo 100: < 90 train, 90 to 94 valid,
      >= 95 test).
    - One file: its bytes are cut 90/5/5 as `splits.split_bounds`, each cut
      moved to just after the newline nearest to it (within 64 KiB), if
      there is one.

    Documents are blocks of whole lines of about 1 MiB (a file's last block
    may end without a newline), so large files stream.

    With `max_bytes`, as `StdlibCorpus` does, each split goes through its
    files in order and keeps every whole file that still fits in
    `max_bytes` (skipping those that do not), so it holds at most
    `max_bytes`; a split that would hold no byte (one large file, or a
    single file's part) keeps the first `max_bytes` of its first non-empty
    file instead, cut just after the last newline there if there is one.

    Preparations go to the folder `folder_name`, `<name>-<8 hex digits of
    a hash of the absolute pattern>` (e.g. `text-1a2b3c4d`), so that two
    corpora read from different paths never share a folder, and the same
    path always finds its earlier preparation.

    Args:
        pattern: a file, a folder or a glob.
        name: the corpus name (the start of its preparations' folder name).
        max_bytes: at most this many bytes per split, or `None` for all.

    Example:

    >>> corpus = TextFilesCorpus("my_books/*.txt", max_bytes=4_000_000)
    >>> corpus.files("train")[:2]
    """

    def __init__(self, pattern, name="text", max_bytes=None):
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(
                "`pattern` must be a path, folder or glob string. "
                f"Received: pattern={pattern!r}"
            )
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(
                f"`name` must be a non-empty string without '/'. "
                f"Received: name={name!r}"
            )
        if max_bytes is not None:
            max_bytes = check_positive("max_bytes", max_bytes)
        self.pattern = pattern
        self.name = name
        self.max_bytes = max_bytes
        self.base, paths = _resolve(pattern)
        if not paths:
            raise FileNotFoundError(
                "No file matches `pattern` (expected a text file, a folder "
                f"holding files, or a glob). Received: pattern={pattern!r}"
            )
        self.paths = paths
        self._parts = None
        # Keyed now: a later change of the working folder changes nothing.
        self._location = location_key(pattern)
        if all(file_size(path) == 0 for path in paths):
            raise ValueError(
                f"The {len(paths)} file(s) matching `pattern` are empty "
                f"({', '.join(paths[:3])}{', ...' if len(paths) > 3 else ''}"
                f"): a text corpus needs text. Received: pattern={pattern!r}"
            )

    @property
    def folder_name(self):
        """The folder of this corpus's preparations: `<name>-<hash>`."""
        return f"{self.name}-{self._location}"

    def _split_parts(self):
        """`{split: [(path, start, end)]}`, computed once."""
        if self._parts is not None:
            return self._parts
        parts = {split: [] for split in SPLITS}
        if len(self.paths) == 1:
            path = self.paths[0]
            bounds = _line_bounds(path, file_size(path))
            for split in SPLITS:
                start, end = bounds[split]
                parts[split].append((path, start, end))
        else:
            for path in self.paths:
                split = split_of_path(self._relpath(path))
                parts[split].append((path, 0, None))
        if self.max_bytes is not None:
            parts = {split: _at_most(split_parts, self.max_bytes)
                     for split, split_parts in parts.items()}
        self._parts = parts
        return parts

    def _relpath(self, path):
        prefix = self.base.rstrip("/") + "/"
        return path[len(prefix):] if path.startswith(prefix) else path

    def files(self, split):
        """The paths read for `split`, in corpus order."""
        check_split(split)
        return [path for path, _, _ in self._split_parts()[split]]

    def split_bytes(self, split):
        """Bytes `texts(split)` yields (a progress bar's total)."""
        check_split(split)
        return sum((file_size(path) if end is None else end) - start
                   for path, start, end in self._split_parts()[split])

    def texts(self, split):
        """Yields `split` as blocks of whole lines (`bytes`)."""
        check_split(split)
        for path, start, end in self._split_parts()[split]:
            if end is None:
                end = file_size(path)
            with tf.io.gfile.GFile(path, "rb") as f:
                f.seek(start)
                yield from line_blocks(f, end - start, BLOCK_SIZE)

    def sources(self):
        """Name (relative path), size and sha256 of every file."""
        return [fingerprint(path, name=self._relpath(path))
                for path in self.paths]

    def get_config(self):
        config = {"name": self.name, "pattern": self.pattern}
        # Without a limit, the config of earlier preparations (found again).
        if self.max_bytes is not None:
            config["max_bytes"] = self.max_bytes
        return config

    def __repr__(self):
        limit = "" if self.max_bytes is None else \
            f", max_bytes={self.max_bytes}"
        return (f"TextFilesCorpus({self.pattern!r}, name={self.name!r}"
                f"{limit})")


def _resolve(pattern):
    """The base folder and the sorted files that `pattern` names."""
    if tf.io.gfile.isdir(pattern):
        found = []
        for folder, _, names in tf.io.gfile.walk(pattern):
            found.extend(os.path.join(folder, n) for n in names)
        return pattern, sorted(found)
    if any(c in pattern for c in WILDCARDS):
        first = min(pattern.index(c) for c in WILDCARDS if c in pattern)
        base = pattern[:first].rsplit("/", 1)[0] if "/" in pattern[:first] \
            else ""
        matches = tf.io.gfile.glob(pattern)
        return base, sorted(p for p in matches if not tf.io.gfile.isdir(p))
    if tf.io.gfile.exists(pattern):
        return os.path.dirname(pattern), [pattern]
    return "", []


def _part_size(part):
    path, start, end = part
    return (file_size(path) if end is None else end) - start


def _at_most(parts, max_bytes):
    """The `(path, start, end)` parts of a split that hold at most
    `max_bytes` (the class docstring)."""
    kept, total = [], 0
    for part in parts:
        size = _part_size(part)
        if total + size <= max_bytes:
            kept.append(part)
            total += size
    if total:
        return kept
    first = next((part for part in parts if _part_size(part)), None)
    if first is None:
        return kept
    path, start, _ = first
    end = start + max_bytes
    with tf.io.gfile.GFile(path, "rb") as f:
        f.seek(max(start, end - BOUNDARY_WINDOW))
        window_start = f.tell()
        newline = f.read(end - window_start).rfind(b"\n")
    if newline != -1:
        end = window_start + newline + 1
    return [(path, start, end)]


def _line_bounds(path, length):
    """`split_bounds(length)` with each cut moved to just after a newline."""
    bounds = split_bounds(length)
    cuts = [bounds["train"][1], bounds["valid"][1]]
    with tf.io.gfile.GFile(path, "rb") as f:
        moved = [_nearest_line_start(f, cut, length) for cut in cuts]
    moved[1] = max(moved[1], moved[0])
    return {
        "train": (0, moved[0]),
        "valid": (moved[0], moved[1]),
        "test": (moved[1], length),
    }


def _nearest_line_start(f, cut, length):
    """The line start nearest to `cut` within `BOUNDARY_WINDOW`, else `cut`."""
    if cut in (0, length):
        return cut
    start = max(0, cut - BOUNDARY_WINDOW)
    f.seek(start)
    window = f.read(min(length, cut + BOUNDARY_WINDOW) - start)
    best = None
    index = window.find(b"\n")
    while index != -1:
        line_start = start + index + 1
        if best is None or abs(line_start - cut) < abs(best - cut):
            best = line_start
        index = window.find(b"\n", index + 1)
    return cut if best is None else best
