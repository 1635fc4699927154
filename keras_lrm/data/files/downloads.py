"""Downloads with a time limit, an atomic write and a clear offline error."""

import os
import shutil
import urllib.error
import urllib.request
import zipfile

import tensorflow as tf

from keras_lrm.data.files.temporaries import remove_quietly
from keras_lrm.data.files.temporaries import remove_temp_files
from keras_lrm.data.files.temporaries import temp_path

TIMEOUT_SECONDS = 20
COPY_BLOCK = 1 << 22


def download_file(url, path, timeout=TIMEOUT_SECONDS):
    """Downloads `url` to `path` unless `path` already exists.

    The bytes go to a temporary name beside `path` and are renamed into
    place once complete, so an interrupted download leaves no partial file
    under `path`; the temporaries of an earlier, killed download of `path`
    are removed (see `files.remove_temp_files`).

    Args:
        url: what to fetch (`http://`, `https://` or `file://`).
        path: where the file goes (local or `gs://`).
        timeout: seconds to wait for the server to answer.

    Returns:
        `path`.

    Raises:
        ConnectionError: the server cannot be reached (e.g. no internet);
            the message says how to get the file by hand.
    """
    if tf.io.gfile.exists(path):
        return path
    directory = os.path.dirname(path)
    if directory:
        tf.io.gfile.makedirs(directory)
    remove_temp_files(directory or ".", {os.path.basename(path)})
    temp = temp_path(path)
    try:
        with tf.io.gfile.GFile(temp, "wb") as out:
            _fetch(url, out, path, timeout)
        tf.io.gfile.rename(temp, path, overwrite=True)
    except BaseException:
        remove_quietly(temp)
        raise
    return path


def _fetch(url, out, path, timeout):
    """Copies `url` into the open file `out`; network errors are explained."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            while True:
                block = response.read(COPY_BLOCK)
                if not block:
                    break
                out.write(block)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise ConnectionError(
            f"Could not download {url} ({error}). This machine may have no "
            f"internet access: fetch the file on a machine that has it and "
            f"copy it to {path}, then run again. Received: url={url!r}"
        ) from error


def extract_zip(zip_path, directory):
    """Extracts every file of `zip_path` under `directory`, atomically.

    Each member is written under a temporary name and renamed into place;
    members already present are left alone. Temporaries of the members
    left by a killed extraction are removed first.

    Returns:
        The extracted (or already present) file paths.
    """
    paths = []
    with tf.io.gfile.GFile(zip_path, "rb") as raw, \
            _open_zip(raw, zip_path) as archive:
        members = []
        for info in archive.infolist():
            if info.is_dir():
                continue
            parts = [p for p in info.filename.split("/") if p not in ("", ".")]
            if not parts or ".." in parts:
                raise ValueError(
                    f"Unsafe member {info.filename!r} in the archive. "
                    f"Received: zip_path={zip_path!r}"
                )
            members.append((info, os.path.join(directory, *parts)))
        by_folder = {}
        for _, path in members:
            by_folder.setdefault(os.path.dirname(path), set()).add(
                os.path.basename(path))
        for folder, names in by_folder.items():
            remove_temp_files(folder, names)
        for info, path in members:
            paths.append(path)
            if tf.io.gfile.exists(path):
                continue
            tf.io.gfile.makedirs(os.path.dirname(path))
            temp = temp_path(path)
            try:
                with archive.open(info) as member, \
                        tf.io.gfile.GFile(temp, "wb") as out:
                    shutil.copyfileobj(member, out, COPY_BLOCK)
                tf.io.gfile.rename(temp, path, overwrite=True)
            except BaseException:
                remove_quietly(temp)
                raise
    return paths


def _open_zip(raw, zip_path):
    """`zipfile.ZipFile(raw)`; a file that is no zip is named."""
    try:
        return zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, tf.errors.OpError, OSError, EOFError) as error:
        raise ValueError(
            f"{zip_path} is not a readable zip archive ({error}): a damaged "
            "or truncated download? Delete it and download it again. "
            f"Received: zip_path={zip_path!r}"
        ) from None
