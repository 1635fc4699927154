"""Replaces an export folder safely: only an earlier export, atomically.

`export_saved_model` writes every export under a temporary name beside
its final one and swaps it in. This module decides what may be replaced
(`check_target`), makes the swap (`swap_in`) and cleans up after a killed
export (`clean_stale`); nothing else is ever deleted.

Temporaries are named `.tmp-keras_lrm-<host>-<pid>-<token>-<kind>-<name>`
(`<host>` `keras_lrm.data.files.machine_id()`, `<kind>` one of `staging`,
`new`, `previous`, `trash`), so that they are recognisably ours and the process
that made them is known: one is stale when that process, on this host, is
gone, or when it is older than `STALE_AFTER_S` (another host, or a pid
reused). Two exports running at once never touch each other's.
"""

import ctypes
import errno
import json
import os
import re
import sys
import tempfile
import time

import tensorflow as tf

from keras_lrm.data.files.temporaries import machine_id
from keras_lrm.data.files.temporaries import process_alive

EXPORT_FORMAT = "keras_lrm.memory_saved_model"
METADATA_FILE = "keras_lrm.json"
# What `tf.saved_model.save` writes at the top of an export folder.
SAVED_MODEL_ENTRIES = frozenset({"saved_model.pb", "variables", "assets",
                                 "fingerprint.pb"})
# Age after which a temporary whose process cannot be checked is stale.
STALE_AFTER_S = 24 * 3600
# Temporaries of keras_lrm versions that did not record their process
# (`.tmp-<12 hex>-<name>[-previous]` beside the export and
# `keras_lrm_export_*` in the system temp folder).
LEGACY_STALE_AFTER_S = 3600
KINDS = ("staging", "new", "previous", "trash")

_TEMPORARY = re.compile(
    r"^\.tmp-keras_lrm-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-"
    r"(?P<token>[0-9a-f]{8})-(?P<kind>staging|new|previous|trash)-"
    r"(?P<name>.+)$")
_LEGACY = re.compile(r"^\.tmp-[0-9a-f]{12}-(?P<name>.+)$")
_LEGACY_STAGING_ENTRIES = frozenset({METADATA_FILE, "tokenizer"})
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def temporary_path(path, kind, token):
    """The temporary folder of `kind` for an export to `path`."""
    parent, name = split(path)
    return os.path.join(parent, f".tmp-keras_lrm-{machine_id()}-"
                                f"{os.getpid()}-{token}-{kind}-{name}")


def split(path):
    """`(parent, name)` of a folder path, trailing slashes ignored."""
    path = path.rstrip("/") or "/"
    return os.path.dirname(path) or ".", os.path.basename(path)


def is_export(path):
    """Whether `path` is a complete keras_lrm export folder: a SavedModel
    whose `assets/keras_lrm.json` says it is one."""
    metadata = os.path.join(path, "assets", METADATA_FILE)
    try:
        if not (tf.io.gfile.exists(os.path.join(path, "saved_model.pb"))
                and tf.io.gfile.isdir(os.path.join(path, "variables"))):
            return False
        with tf.io.gfile.GFile(metadata, "r") as handle:
            return json.load(handle).get("format") == EXPORT_FORMAT
    except (OSError, ValueError, AttributeError, tf.errors.OpError):
        return False


def check_target(path, overwrite):
    """Raises `ValueError` unless an export may be written to `path`.

    Allowed: nothing at `path`, an empty folder, or (with `overwrite`) an
    earlier keras_lrm export holding nothing but the export. Anything
    else (a file, a folder with other files, another SavedModel) is
    refused, whatever `overwrite` says: it may be a user's work.

    Returns:
        Whether `path` holds an earlier export.
    """
    if not tf.io.gfile.exists(path):
        if "://" not in path and os.path.islink(path):
            raise ValueError(_refusal(path, "is a broken symbolic link"))
        return False
    if "://" not in path and os.path.islink(path):
        raise ValueError(_refusal(path, "is a symbolic link"))
    if not tf.io.gfile.isdir(path):
        raise ValueError(_refusal(path, "is a file, not a folder"))
    entries = sorted(tf.io.gfile.listdir(path))
    entries = [entry.rstrip("/") for entry in entries]
    if not entries:
        return False
    others = [entry for entry in entries if entry not in SAVED_MODEL_ENTRIES]
    if is_export(path):
        if others:
            raise ValueError(_refusal(
                path, "holds a keras_lrm export and other files "
                f"({_names(others)})"))
        if not overwrite:
            raise ValueError(
                "`path` already holds an export and overwrite=False. "
                f"Received: path={path!r}")
        return True
    if "saved_model.pb" in entries:
        raise ValueError(_refusal(
            path, "holds a SavedModel that is not a keras_lrm export (no "
            f"assets/{METADATA_FILE} with format {EXPORT_FORMAT!r})"))
    raise ValueError(_refusal(path, f"holds other files ({_names(entries)})"))


def _refusal(path, what):
    return (
        f"`path` {what}; export_saved_model replaces only an earlier "
        "keras_lrm export or an empty folder, and deletes nothing else. "
        f"Choose another path or move what is there. Received: path={path!r}"
    )


def _names(entries, limit=5):
    shown = ", ".join(entries[:limit])
    return shown + (f" and {len(entries) - limit} more"
                    if len(entries) > limit else "")


def exchange(first, second):
    """Atomically swaps two local folders (Linux `renameat2`).

    Returns:
        False where the system or file system cannot (then nothing moved).
    """
    if "://" in first or "://" in second or \
            not sys.platform.startswith("linux"):
        return False
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                         ctypes.c_char_p, ctypes.c_uint]
    if function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD,
                 os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), second)


def swap_in(new, path, token):
    """Puts the complete export `new` at `path`, replacing what is there.

    Where the folders can be exchanged atomically, `path` holds the old
    or the new export at every moment. Elsewhere the old one is renamed
    to a `previous` temporary, the new one renamed in, and the old one
    deleted: a kill between the two renames leaves `path` missing and the
    old export complete under its `previous` name, which the next
    `clean_stale` puts back.
    """
    if not tf.io.gfile.exists(path):
        tf.io.gfile.rename(new, path)
        return
    if exchange(new, path):
        # `new` now holds the old export; a kill while it is deleted
        # leaves a `new` temporary, never put back.
        tf.io.gfile.rmtree(new)
        return
    previous = temporary_path(path, "previous", token)
    tf.io.gfile.rename(path, previous)
    try:
        tf.io.gfile.rename(new, path)
    except Exception:
        tf.io.gfile.rename(previous, path)
        raise
    # Renamed before it is deleted, so a half-deleted copy is never put
    # back in place of the export.
    trash = temporary_path(path, "trash", token)
    tf.io.gfile.rename(previous, trash)
    tf.io.gfile.rmtree(trash)


def remove_own(path, token):
    """Deletes the temporaries of this process's export `token`."""
    for kind in KINDS:
        temporary = temporary_path(path, kind, token)
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.rmtree(temporary)


def _age_s(path):
    try:
        return time.time() - tf.io.gfile.stat(path).mtime_nsec / 1e9
    except (OSError, tf.errors.OpError):
        return 0.0


def _stale_temporaries(parent, name):
    """`[(path, kind)]` of the stale temporaries of exports to `name`."""
    stale = []
    for entry in tf.io.gfile.listdir(parent):
        entry = entry.rstrip("/")
        full = os.path.join(parent, entry)
        match = _TEMPORARY.match(entry)
        if match and match["name"] == name:
            gone = match["host"] == machine_id() and not process_alive(
                int(match["pid"]))
            if gone or _age_s(full) > STALE_AFTER_S:
                stale.append((full, match["kind"]))
            continue
        match = _LEGACY.match(entry)
        if match and match["name"] in (name, name + "-previous") and \
                _age_s(full) > LEGACY_STALE_AFTER_S:
            kind = "previous" if match["name"] != name else "new"
            stale.append((full, kind))
    return stale


def clean_stale(path):
    """Cleans up after killed exports to `path`, and only after those.

    If `path` is missing and a stale `previous` temporary holds a complete
    export (a kill came between the two renames of `swap_in`), that
    export is put back at `path` first. Then every stale temporary of an
    export to `path` is deleted, and the staging folders that older
    versions left in the system temp folder.

    Returns:
        The temporaries deleted, and the one put back (or None).
    """
    parent, name = split(path)
    restored = None
    removed = []
    if tf.io.gfile.isdir(parent):
        stale = _stale_temporaries(parent, name)
        if not tf.io.gfile.exists(path):
            previous = sorted((full for full, kind in stale
                               if kind == "previous" and is_export(full)),
                              key=_age_s)
            if previous:
                tf.io.gfile.rename(previous[0], path)
                restored = previous[0]
        for full, _ in stale:
            if full != restored:
                tf.io.gfile.rmtree(full)
                removed.append(full)
    removed += _clean_legacy_staging()
    return removed, restored


def _clean_legacy_staging():
    """`keras_lrm_export_*` folders of older versions in the temp folder,
    stale and holding nothing but their metadata and tokenizer."""
    removed = []
    root = tempfile.gettempdir()
    try:
        entries = os.listdir(root)
    except OSError:
        return removed
    for entry in entries:
        full = os.path.join(root, entry)
        if not entry.startswith("keras_lrm_export_") or \
                os.path.islink(full) or not os.path.isdir(full):
            continue
        try:
            inside = set(os.listdir(full))
        except OSError:
            continue
        if inside <= _LEGACY_STAGING_ENTRIES and \
                _age_s(full) > LEGACY_STALE_AFTER_S:
            tf.io.gfile.rmtree(full)
            removed.append(full)
    return removed
