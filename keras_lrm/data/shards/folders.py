"""Where a preparation goes, and which folders `prepare` may write into.

A preparation's folder is `<output_dir>/<corpus folder>/<tokenizer name>`.
The corpus folder is the corpus's `folder_name` when it has one, else its
`name`: the fixed public corpora (`stdlib`, `enwik8`, `wikitext103`, the
TFDS ones) use their plain name, while a corpus read from a user's paths
(`TextFilesCorpus`, `StdlibCorpus(root=...)`) adds a short hash of where it
reads (`text-1a2b3c4d`), so that two sources prepared into one `output_dir`
never share a folder.

`prepare` only writes into a folder that is its own: absent or empty, or
holding its marker file `.keras_lrm_data` (written before anything else),
or a keras_lrm `manifest.json` of an earlier version (the marker is then
added). In its own folder it only replaces or removes the files it names
(`OWN_NAMES`, shards, and their temporaries); anything else is left alone.
"""

import json
import os

import tensorflow as tf

from keras_lrm.data.corpora.splits import SPLITS
from keras_lrm.data.files.temporaries import TEMP_NAME
from keras_lrm.data.files.temporaries import atomic_write
from keras_lrm.data.shards.manifest import MANIFEST_FILE
from keras_lrm.data.shards.manifest_checks import REQUIRED_KEYS
from keras_lrm.data.shards.manifest_checks import SHARD_PATTERN
from keras_lrm.data.tokenizers.sentencepiece_tokenizer import MODEL_FILE
from keras_lrm.data.tokenizers.tokenizer import CONFIG_FILE
from keras_lrm.data.tokenizers.word_tokenizer import VOCAB_FILE

MARKER_FILE = ".keras_lrm_data"
# The files of a preparation besides its shards (the shard writers'
# temporaries are named after their split).
OWN_NAMES = frozenset((MARKER_FILE, MANIFEST_FILE, CONFIG_FILE, VOCAB_FILE,
                       MODEL_FILE) + SPLITS)


def preparation_directory(corpus, tokenizer_name, output_dir):
    """`<output_dir>/<corpus folder>/<tokenizer_name>` (module docstring)."""
    folder = getattr(corpus, "folder_name", None) or corpus.name
    return os.path.join(output_dir, folder, tokenizer_name)


def is_own_name(name):
    """Whether `prepare` wrote (or may write) a file of this name."""
    match = TEMP_NAME.match(name)
    if match is not None:
        name = match.group("base")
    return name in OWN_NAMES or SHARD_PATTERN.match(name) is not None


def claim_folder(directory):
    """Makes `directory` and marks it as a preparation's, or refuses.

    Raises:
        ValueError: `directory` is a file, or a folder `prepare` did not
            make (files of other names, or a `manifest.json` that is not a
            keras_lrm manifest); the message names it.
    """
    if tf.io.gfile.exists(directory) and not tf.io.gfile.isdir(directory):
        raise ValueError(
            f"{directory} is a file, not a folder: data preparation needs "
            "a folder there. Choose another `output_dir` or move the file. "
            f"Received: directory={directory!r}"
        )
    try:
        tf.io.gfile.makedirs(directory)
    except tf.errors.OpError as error:
        raise ValueError(
            f"Cannot make the folder {directory} ({error.message}): is a "
            "part of its path a file? Choose another `output_dir`. "
            f"Received: directory={directory!r}"
        ) from None
    names = [n.rstrip("/") for n in tf.io.gfile.listdir(directory)]
    if MARKER_FILE in names:
        return
    if MANIFEST_FILE in names:
        path = os.path.join(directory, MANIFEST_FILE)
        if not _is_our_manifest(path):
            raise ValueError(
                f"{path} is not a keras_lrm manifest: refusing to prepare "
                f"data into {directory}, which would replace it. Choose "
                "another `output_dir`, or move the file. "
                f"Received: directory={directory!r}"
            )
    else:
        # Without the marker, even files of our names (a tokenizer saved
        # by hand, shards) may be someone's: only our temporaries are not.
        strangers = sorted(n for n in names if TEMP_NAME.match(n) is None
                           or not is_own_name(n))
        if strangers:
            raise ValueError(
                f"{directory} holds files that keras_lrm did not write "
                f"({', '.join(strangers[:5])}) and no {MARKER_FILE}: "
                "refusing to prepare data there, which could replace or "
                "remove them. Choose another `output_dir`, or move the "
                f"files. Received: directory={directory!r}"
            )
    atomic_write(os.path.join(directory, MARKER_FILE), json.dumps(
        {"written_by": "keras_lrm.data.prepare"}) + "\n")


def _is_our_manifest(path):
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = json.loads(f.read())
    except (ValueError, UnicodeDecodeError, tf.errors.OpError):
        return False
    return isinstance(data, dict) and all(k in data for k in REQUIRED_KEYS)
