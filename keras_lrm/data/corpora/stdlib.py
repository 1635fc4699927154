"""The Python standard library's source as an offline corpus."""

import os
import sysconfig

from keras_lrm.arguments import check_positive
from keras_lrm.data.corpora.splits import SPLITS
from keras_lrm.data.corpora.splits import check_split
from keras_lrm.data.corpora.splits import split_of_path
from keras_lrm.data.files.fingerprints import fingerprint
from keras_lrm.data.files.fingerprints import location_key

# Third-party code often lives inside the stdlib folder; it is not stdlib.
EXCLUDED_DIRS = ("site-packages", "dist-packages", "__pycache__")


class StdlibCorpus:
    """The `*.py` files of this Python's standard library, one per document.

    Every machine with Python has this corpus, so it is the offline default
    for quick starts and tests. The files are those under
    `sysconfig.get_paths()["stdlib"]` (or `root`) whose name ends in `.py`,
    leaving out any folder named `site-packages`, `dist-packages` or
    `__pycache__` (third-party packages often sit inside the stdlib folder).
    They are sorted by their posix path relative to the root, and each goes
    to a split by its path alone (see `splits.split_of_path`): crc32 of the
    relative path modulo 100, below 90 train, 90 to 94 valid, 95 and above
    test. About 31 MB on CPython 3.11.

    With `max_bytes`, each split goes through its files in order and keeps
    every whole file that still fits in `max_bytes` (skipping those that do
    not), so it holds at most `max_bytes`; a split that would hold no byte
    keeps its first non-empty file instead.

    Args:
        max_bytes: at most this many bytes per split, or `None` for all.
        root: the folder to read; `None` means this Python's stdlib.

    Example:

    >>> corpus = StdlibCorpus(max_bytes=2_000_000)
    >>> first = next(corpus.texts("train"))
    """

    name = "stdlib"

    def __init__(self, max_bytes=None, root=None):
        if max_bytes is not None:
            check_positive("max_bytes", max_bytes)
        if root is not None and not os.path.isdir(root):
            raise FileNotFoundError(
                f"`root` must be an existing folder. Received: root={root!r}"
            )
        self.max_bytes = max_bytes
        self.root = root
        self._location = None if root is None else location_key(root)
        self._files = None

    @property
    def folder_name(self):
        """The folder of its preparations: `stdlib` for this Python's
        standard library, `stdlib-<hash of root>` for another `root`."""
        if self.root is None:
            return self.name
        return f"{self.name}-{self._location}"

    @property
    def directory(self):
        """The folder read: `root`, or this Python's stdlib folder."""
        return self.root or sysconfig.get_paths()["stdlib"]

    def files(self, split):
        """The relative posix paths of `split`'s files, in corpus order."""
        check_split(split)
        if self._files is None:
            self._files = self._select()
        return [relpath for relpath, _ in self._files[split]]

    def _select(self):
        top = self.directory
        found = []
        for folder, dirs, names in os.walk(top):
            dirs[:] = [d for d in dirs if d not in EXCLUDED_DIRS]
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    relpath = os.path.relpath(path, top).replace(os.sep, "/")
                    found.append((relpath, os.path.getsize(path)))
        found.sort()
        selected = {split: [] for split in SPLITS}
        totals = dict.fromkeys(SPLITS, 0)
        for relpath, size in found:
            split = split_of_path(relpath)
            if self.max_bytes is None or \
                    totals[split] + size <= self.max_bytes:
                selected[split].append((relpath, size))
                totals[split] += size
        for split in SPLITS:
            if totals[split] == 0:
                first = next(((p, n) for p, n in found
                              if n and split_of_path(p) == split), None)
                if first is not None:
                    selected[split] = [first]
        return selected

    def split_bytes(self, split):
        """Bytes `texts(split)` yields (a progress bar's total)."""
        check_split(split)
        if self._files is None:
            self._files = self._select()
        return sum(size for _, size in self._files[split])

    def texts(self, split):
        """Yields each file of `split` as `bytes`, in sorted path order."""
        for relpath in self.files(split):
            with open(os.path.join(self.directory, relpath), "rb") as f:
                yield f.read()

    def sources(self):
        """Name (relative path), size and sha256 of every selected file."""
        relpaths = sorted(p for split in SPLITS for p in self.files(split))
        return [fingerprint(os.path.join(self.directory, p), name=p)
                for p in relpaths]

    def get_config(self):
        return {"name": self.name, "max_bytes": self.max_bytes,
                "root": self.root}

    def __repr__(self):
        return f"StdlibCorpus(max_bytes={self.max_bytes}, root={self.root!r})"
