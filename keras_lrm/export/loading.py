"""Loads a `.keras` model or a keras_lrm export, naming the file it cannot.

`keras.saving.load_model` calls a truncated `.keras` file "File not
found", and `tf.saved_model.load` of a folder that is not an export fails
deep in TensorFlow; `load_model` says which file is missing, damaged or
not an export.
"""

import os
import zipfile

import keras
import tensorflow as tf
from google.protobuf.message import DecodeError

from keras_lrm.export.folder_swap import EXPORT_FORMAT
from keras_lrm.export.folder_swap import METADATA_FILE
from keras_lrm.export.folder_swap import is_export

# What `model.save("x.keras")` writes into the zip archive.
KERAS_ENTRIES = ("config.json", "model.weights.h5")


def load_model(path):
    """Loads a `.keras` file or a folder from `export_saved_model`.

    Args:
        path: a `.keras` file (a `MemoryTransformerLM` saved with
            `model.save`) or an export folder.

    Returns:
        The Keras model, or the export loaded with `tf.saved_model.load`;
        either can be passed to `generate`.

    Raises:
        FileNotFoundError: nothing at `path`.
        ValueError: `path` is damaged (a truncated `.keras` file, an
            export that does not load) or is neither of the two.

    Example:

    >>> model = load_model("saved_models/quickstart")
    >>> generate(model, "def ", max_new_tokens=40)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(
            "`path` must be the path of a .keras file or an export folder. "
            f"Received: path={path!r}")
    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"`path` does not exist: expected a .keras file or an export "
            f"folder. Received: path={path!r}")
    if tf.io.gfile.isdir(path):
        return _load_export(path)
    if not path.endswith(".keras"):
        raise ValueError(
            "`path` is a file but not a .keras file; pass a .keras file or "
            f"an export folder. Received: path={path!r}")
    return _load_keras(path)


def _load_keras(path):
    size = tf.io.gfile.stat(path).length
    try:
        with tf.io.gfile.GFile(path, "rb") as handle:
            with zipfile.ZipFile(handle) as archive:
                names = set(archive.namelist())
                broken = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(
            f"`path` is damaged or truncated: a .keras file is a zip "
            f"archive, and this one ({size} bytes) cannot be read as one "
            f"({error}). Save the model again. Received: path={path!r}"
        ) from error
    missing = [name for name in KERAS_ENTRIES if name not in names]
    if broken is not None or missing:
        what = (f"its member {broken!r} is corrupt" if broken is not None
                else f"it lacks {', '.join(missing)}")
        raise ValueError(
            f"`path` is damaged: {what}. Save the model again. Received: "
            f"path={path!r}")
    # Importing the models registers their classes for deserialization
    # (`import keras_lrm` alone loads nothing: see keras_lrm/__init__.py).
    import keras_lrm.models  # noqa: F401

    return keras.saving.load_model(path)


def _load_export(path):
    if not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        entries = sorted(tf.io.gfile.listdir(path))
        shown = ", ".join(entries[:5]) if entries else "nothing"
        raise ValueError(
            "`path` is a folder but not an export: it has no "
            f"saved_model.pb (it holds {shown}). Pass a folder written by "
            f"export_saved_model or a .keras file. Received: path={path!r}")
    if not is_export(path):
        raise ValueError(
            "`path` holds a SavedModel that is not a keras_lrm export (no "
            f"variables/ or no assets/{METADATA_FILE} with format "
            f"{EXPORT_FORMAT!r}). Received: path={path!r}")
    try:
        return tf.saved_model.load(path)
    except (tf.errors.OpError, DecodeError, OSError, ValueError) as error:
        raise ValueError(
            f"`path` is a damaged export and does not load ({error}). "
            f"Export the model again. Received: path={path!r}") from error
