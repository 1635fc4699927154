"""Resumable studies: many runs, each result written as soon as it exists.

A study (a sweep of configurations x seeds) can take hours; a machine or a
session may stop it at any time. `StudyResults` keeps one JSON file whose
`runs` list gains one entry per finished run (written to a temporary name
and renamed, so a kill never leaves half a file), and tells a rerun which
runs are done. `summarise` gives each configuration's mean and spread, and
`provenance` the command, commit and machine a report must name.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

from keras_lrm.data.files.temporaries import atomic_write


class StudyResults:
    """The results file of one study.

    Args:
        path: the JSON file (created on the first result).
        settings: what every run of the study shares (sizes, steps, data
            seed). A file written with other settings is refused, naming
            the first that differs: its runs are not comparable.
    """

    def __init__(self, path, settings):
        self.path = path
        self.settings = dict(settings)
        self.runs = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                try:
                    stored = json.load(handle)
                except json.JSONDecodeError as error:
                    raise ValueError(
                        f"The study results file {path!r} is not valid "
                        f"JSON ({error}); move it away to start afresh."
                    ) from None
            for key, value in self.settings.items():
                if stored.get("settings", {}).get(key) != value:
                    raise ValueError(
                        f"The study results file {path!r} was written with "
                        f"other settings: {key}="
                        f"{stored.get('settings', {}).get(key)!r} there, "
                        f"{value!r} now. Use another --results file, or "
                        "the same settings to resume."
                    )
            self.runs = list(stored.get("runs", []))

    def provenance_of_file(self):
        """The command, commit and machine the file was last written by
        (this process's when nothing is stored yet)."""
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as handle:
                return json.load(handle).get("provenance") or provenance()
        return provenance()

    def done(self, config, seed):
        return any(run["config"] == config and run["seed"] == seed
                   for run in self.runs)

    def record(self, config, seed, **measured):
        """Adds a finished run and writes the file."""
        self.runs.append({"config": config, "seed": seed, **measured,
                          "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
        os.makedirs(os.path.dirname(os.path.abspath(self.path)),
                    exist_ok=True)
        atomic_write(self.path, json.dumps(
            {"settings": self.settings, "provenance": provenance(),
             "runs": self.runs}, indent=1) + "\n")


def summarise(runs, key):
    """`{config: (mean, spread, count)}` of `key` over each config's runs;
    spread is the sample standard deviation (0 for a single run)."""
    values = {}
    for run in runs:
        values.setdefault(run["config"], []).append(run[key])
    return {config: (statistics.mean(found),
                     statistics.stdev(found) if len(found) > 1 else 0.0,
                     len(found))
            for config, found in values.items()}


def provenance():
    """The command, commit and machine of this process."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True, check=True,
            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    import tensorflow as tf

    return {
        "command": " ".join(["python"] + sys.argv),
        "commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                   f"{platform.system()} {platform.release()}",
        "tensorflow": tf.__version__,
    }


def save_figure(figure, path):
    """Saves a matplotlib `figure` as `path` (PNG) through a temporary
    name, so a kill never leaves half an image."""
    temporary = path + ".tmp.png"
    figure.savefig(temporary, dpi=110)
    os.replace(temporary, path)


def write_section(markdown, section, begin, end, append=False):
    """Writes `section` (text from the `begin` marker to the `end` marker,
    both included) into the file `markdown` in place of its old section.

    A missing file becomes the section alone. A file without the markers
    gets the section at its end with `append`, else `ValueError` (a report
    that must go into a document's marked place).
    """
    if not os.path.exists(markdown):
        atomic_write(markdown, section + "\n")
        return
    with open(markdown, encoding="utf-8") as handle:
        text = handle.read()
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    elif append:
        text = text + ("\n" if text else "") + section + "\n"
    else:
        raise ValueError(
            f"--report: {markdown!r} has no {begin} ... {end} section to "
            "write the table into.")
    atomic_write(markdown, text)
