"""Resumable studies and the ListOps recipe that uses one."""

import json
import os
import subprocess
import sys

import pytest

from keras_lrm.training.study import StudyResults
from keras_lrm.training.study import summarise
from tests.test_recipes import load_recipe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_results_are_written_per_run_and_a_rerun_skips_them(tmp_path):
    path = str(tmp_path / "study.json")
    study = StudyResults(path, {"steps": 10})
    study.record("plain", 0, accuracy=0.5)
    study.record("plain", 1, accuracy=0.7)
    again = StudyResults(path, {"steps": 10})
    assert again.done("plain", 1) and not again.done("las", 0)
    stored = json.load(open(path))
    assert stored["settings"] == {"steps": 10}
    assert {"command", "commit", "machine"} <= set(stored["provenance"])
    mean, spread, count = summarise(again.runs, "accuracy")["plain"]
    assert (round(mean, 6), count) == (0.6, 2) and spread == pytest.approx(
        0.1414, abs=1e-4)


def test_other_settings_or_a_damaged_file_are_refused(tmp_path):
    path = str(tmp_path / "study.json")
    StudyResults(path, {"steps": 10}).record("plain", 0, accuracy=0.5)
    with pytest.raises(ValueError, match=r"steps=10 there, 20 now"):
        StudyResults(path, {"steps": 20})
    with open(path, "w") as handle:
        handle.write('{"runs": [')
    with pytest.raises(ValueError, match="not valid JSON"):
        StudyResults(path, {"steps": 10})


def test_the_listops_recipe_runs_reports_and_resumes(tmp_path, capsys):
    """The runs in this process (a process would import TensorFlow again);
    the bad flag through the script."""
    results = tmp_path / "listops.json"
    report = tmp_path / "las.md"
    report.write_text("# LaS\n\n<!-- listops:begin -->\nold\n"
                      "<!-- listops:end -->\nkept\n")
    recipe = load_recipe("lra_listops")
    flags = ["--tiny", "--configs", "plain,las_additive", "--seeds", "1",
             "--steps", "3", "--results", str(results),
             "--report", str(report)]
    assert recipe.main(flags) == 0
    runs = json.loads(results.read_text())["runs"]
    assert sorted(run["config"] for run in runs) == ["las_additive",
                                                     "plain"]
    text = report.read_text()
    assert "| las_additive |" in text and "old" not in text
    assert text.endswith("kept\n")
    assert (tmp_path / "las_listops.png").stat().st_size > 1000
    capsys.readouterr()
    assert recipe.main(flags) == 0
    assert "0 of 2 runs to do" in capsys.readouterr().out
    bad = subprocess.run([sys.executable, "recipes/lra_listops.py",
                          "--configs", "fancy"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--configs" in bad.stderr
