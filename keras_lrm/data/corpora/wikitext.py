"""WikiText-103: Wikipedia articles, tokenized, with a fixed vocabulary."""

import os

import tensorflow as tf

from keras_lrm.data.corpora.lines import lines
from keras_lrm.data.corpora.splits import SPLITS
from keras_lrm.data.corpora.splits import check_split
from keras_lrm.data.files.downloads import download_file
from keras_lrm.data.files.downloads import extract_zip
from keras_lrm.data.files.fingerprints import file_size
from keras_lrm.data.files.fingerprints import fingerprint

WIKITEXT103_URL = ("https://s3.amazonaws.com/research.metamind.io/wikitext/"
                   "wikitext-103-v1.zip")
FOLDER = "wikitext-103"
FILE_NAMES = {split: f"wiki.{split}.tokens" for split in SPLITS}
BLOCK_SIZE = 1 << 20


class WikiText103Corpus:
    """WikiText-103 from its `wiki.{train,valid,test}.tokens` files.

    Each document is one line of a file, newline included (headings such as
    ` = Title = `, paragraphs and blank lines alike), so that
    `WordTokenizer` appends one `<eos>` per line as Transformer-XL does.

    Args:
        directory: the `wikitext-103` folder holding the three files, or a
            folder holding `wikitext-103/` (local or `gs://`). Get it with
            `WikiText103Corpus.download(directory)`.

    Example:

    >>> corpus = WikiText103Corpus(WikiText103Corpus.download("data"))
    >>> first_line = next(corpus.texts("valid"))
    """

    name = "wikitext103"

    def __init__(self, directory):
        if not isinstance(directory, str):
            raise ValueError(
                "`directory` must be a folder path. "
                f"Received: directory={directory!r}"
            )
        nested = os.path.join(directory, FOLDER)
        if not _has_file(directory, "train") and _has_file(nested, "train"):
            directory = nested
        for split in SPLITS:
            path = os.path.join(directory, FILE_NAMES[split])
            if not tf.io.gfile.exists(path):
                raise FileNotFoundError(
                    f"Missing {path}: `directory` must hold "
                    f"{', '.join(FILE_NAMES.values())} (the wikitext-103 "
                    "folder). Get them with "
                    "`WikiText103Corpus.download(directory)` or from "
                    f"{WIKITEXT103_URL}. Received: directory={directory!r}"
                )
        self.directory = directory

    def path(self, split):
        """The file of `split`."""
        check_split(split)
        return os.path.join(self.directory, FILE_NAMES[split])

    def split_bytes(self, split):
        """Bytes `texts(split)` yields (a progress bar's total)."""
        return file_size(self.path(split))

    def texts(self, split):
        """Yields the lines of `split`'s file as `bytes`, newline kept."""
        path = self.path(split)
        with tf.io.gfile.GFile(path, "rb") as f:
            yield from lines(f, file_size(path), BLOCK_SIZE)

    def sources(self):
        """Name, size and sha256 of the three files."""
        return [fingerprint(self.path(split)) for split in SPLITS]

    def get_config(self):
        return {"name": self.name, "directory": self.directory}

    @staticmethod
    def download(directory, url=WIKITEXT103_URL):
        """Fetches and unpacks WikiText-103 into `directory`.

        Steps already done (zip present, files extracted) are skipped.

        Returns:
            The `wikitext-103` folder, to pass as `directory`.

        Raises:
            ConnectionError: offline; the message says where to put a copy.
        """
        archive = download_file(
            url, os.path.join(directory, "wikitext-103-v1.zip"))
        extract_zip(archive, directory)
        return os.path.join(directory, FOLDER)

    def __repr__(self):
        return f"WikiText103Corpus({self.directory!r})"


def _has_file(directory, split):
    return tf.io.gfile.exists(os.path.join(directory, FILE_NAMES[split]))
