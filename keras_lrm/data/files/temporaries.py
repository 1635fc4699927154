"""Atomic writes on `tf.io.gfile`, and removing stale temporaries.

Everything goes through `tf.io.gfile` so that local paths and `gs://` work
alike. A file is never written under its final name: it is written under
`<name>.tmp-<pid>-<machine>-<random>` in the same folder and renamed into
place, so an interrupted run leaves no half-written file under a final name.

The temporary name says which process wrote it (`pid`) on which machine
(`machine`: 8 hex digits of a hash of the host name and, on Linux, the PID
namespace, so two containers sharing a host name are told apart).
`remove_temp_files` removes a temporary only when its writer is known to be
gone: a process of this machine that no longer runs, or, for another
machine (whose processes cannot be checked), a file left untouched for
`OTHER_MACHINE_STALE_SECONDS`. A preparation running at the same time into
the same folder keeps its temporaries. Names of the older form
`<name>.tmp-<12 hex>` (written before the pid was recorded) count as stale.
"""

import hashlib
import os
import re
import socket
import time
import uuid

import tensorflow as tf

TEMP_MARKER = ".tmp-"
# Another machine's temporaries are removed only after this long untouched.
OTHER_MACHINE_STALE_SECONDS = 24 * 3600
TEMP_NAME = re.compile(
    r"^(?P<base>.+)\.tmp-(?:(?P<pid>\d+)-(?P<machine>[0-9a-f]{8})-"
    r"[0-9a-f]{8}|[0-9a-f]{12})$")


def machine_id():
    """8 hex digits naming this machine (host name and PID namespace)."""
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    key = f"{socket.gethostname()}/{namespace}".encode("utf-8")
    return hashlib.sha256(key).hexdigest()[:8]


def temp_path(path):
    """A fresh temporary name beside `path` (same folder, so rename works).

    `<path>.tmp-<pid>-<machine>-<random>`: see the module docstring.
    """
    return (f"{path}{TEMP_MARKER}{os.getpid()}-{machine_id()}-"
            f"{uuid.uuid4().hex[:8]}")


def is_temp_path(path):
    """Whether `path` is a temporary name made by `temp_path`."""
    return TEMP_NAME.match(os.path.basename(path)) is not None


def process_alive(pid):
    """Whether a process `pid` runs on this machine (unsure counts as yes)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def is_stale_temp(path, now=None):
    """Whether `path`, a `temp_path` name, was left by a finished writer.

    A temporary of this machine is stale once its process has ended; one
    of another machine once untouched for `OTHER_MACHINE_STALE_SECONDS`;
    one of the older form without a pid always. Names that are not
    temporaries are never stale.
    """
    match = TEMP_NAME.match(os.path.basename(path))
    if match is None:
        return False
    if match.group("pid") is None:
        return True
    if match.group("machine") == machine_id():
        pid = int(match.group("pid"))
        return pid != os.getpid() and not process_alive(pid)
    try:
        modified = tf.io.gfile.stat(path).mtime_nsec / 1e9
    except tf.errors.NotFoundError:
        return False
    now = time.time() if now is None else now
    return now - modified > OTHER_MACHINE_STALE_SECONDS


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


def remove_temp_files(directory, final_names):
    """Removes the stale temporaries of `final_names` in `directory`.

    Only `temp_path` names of a file in `final_names` whose writer is gone
    (`is_stale_temp`) are removed: never a user's file, never the
    temporary of a run still going.

    Args:
        directory: the folder to clean.
        final_names: a container or predicate of the final file names
            whose temporaries may be removed (e.g. `{"enwik8.zip"}`).

    Returns:
        The removed paths.
    """
    if not tf.io.gfile.isdir(directory):
        return []
    ours = final_names if callable(final_names) else \
        final_names.__contains__
    removed = []
    for name in sorted(tf.io.gfile.listdir(directory)):
        match = TEMP_NAME.match(name.rstrip("/"))
        if match is None or not ours(match.group("base")):
            continue
        path = os.path.join(directory, name)
        if tf.io.gfile.isdir(path) or not is_stale_temp(path):
            continue
        remove_quietly(path)
        removed.append(path)
    return removed
