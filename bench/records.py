"""What a result file records besides its numbers (stdlib only).

The machine, the git state of keras_lrm, and a JSON writer that never
leaves a half-written file: shared by every command that writes
`bench/results/*.json`.
"""
import hashlib
import json
import os
import platform
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")


def machine():
    """CPU model, core count, memory, kernel and Python of this host."""
    def first(path, key):
        try:
            with open(path) as f:
                return next((ln.split(":", 1)[1].strip() for ln in f
                             if ln.startswith(key)), "?")
        except OSError:
            return "?"
    return {"cpu_model": first("/proc/cpuinfo", "model name"),
            "cores": os.cpu_count(),
            "mem_total": first("/proc/meminfo", "MemTotal"),
            "kernel": platform.release(), "python": platform.python_version()}


def git_state(root=ROOT):
    """The commit of `root`, its uncommitted keras_lrm files and a digest
    of its keras_lrm sources (so two runs can tell the code apart)."""
    def git(*a):
        r = subprocess.run(["git", "-C", root, *a], capture_output=True,
                           text=True)
        return r.stdout.strip()
    digest = hashlib.sha256()
    for d, _, files in sorted(os.walk(os.path.join(root, "keras_lrm"))):
        for f in sorted(x for x in files if x.endswith(".py")):
            with open(os.path.join(d, f), "rb") as fh:
                digest.update(f.encode() + fh.read())
    return {"commit": git("rev-parse", "HEAD"),
            "keras_lrm_uncommitted": git("status", "--porcelain", "--",
                                         "keras_lrm").splitlines(),
            "keras_lrm_sha256": digest.hexdigest()[:16]}


def utc_now():
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def write_json(path, obj):
    """Writes `obj` to `path` through a temporary name."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)
    print("wrote", path, flush=True)
