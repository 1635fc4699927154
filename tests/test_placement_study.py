"""The placement study (recipes/placement_study.py) and its pieces."""

import json
import os
import subprocess
import sys

import pytest

from keras_lrm.training.placement_study import CONFIGS
from keras_lrm.training.placement_study import long_layers_of
from keras_lrm.training.placement_study import resolve_configs
from keras_lrm.training.placement_study import xla_step_memory
from tests.test_recipes import ROOT
from tests.test_recipes import load_recipe

recipe = load_recipe("placement_study")


def test_configurations_pick_the_papers_layers():
    assert long_layers_of("all", 6) == [0, 1, 2, 3, 4, 5]
    assert long_layers_of("half_interleaved", 6) == [1, 3, 5]
    assert long_layers_of("half_first", 6) == [0, 1, 2]
    assert long_layers_of("sixth_middle", 6) == [2]
    assert long_layers_of("sixth_interleaved", 24) == [5, 11, 17, 23]
    assert long_layers_of("none", 24) == []
    # One of six layers interleaved is the top layer, as "last": run once.
    kept, aliases = resolve_configs(list(CONFIGS), 6)
    assert aliases == {"sixth_last": "sixth_interleaved"}
    assert len(kept) == 8
    assert resolve_configs(list(CONFIGS), 24)[1] == {}


def test_xla_step_memory_reads_the_largest_new_buffer_assignment(tmp_path):
    def write(name, sizes):
        lines = [f"allocation {i}: size {size}" + (
            ", preallocated-temp" if i == 0 else ", parameter 0")
            for i, size in enumerate(sizes)]
        (tmp_path / f"{name}.cpu_after_optimizations-buffer-assignment"
                    ".txt").write_text("\n".join(lines) + "\n")

    write("module_0001.old", [2**30])
    before = os.listdir(tmp_path)
    write("module_0002.train", [2**20, 2**20])
    write("module_0003.init", [2**19])
    assert xla_step_memory(str(tmp_path), before) == {
        "xla_total_mb": 2.0, "xla_temp_mb": 1.0}
    assert xla_step_memory(str(tmp_path / "missing")) is None


@pytest.mark.slow
def test_the_study_runs_reports_resumes_and_refuses_other_settings(
        tmp_path, capsys):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "study.md").write_text(
        "# Study\n\n<!-- study:t:begin -->\nstale row\n<!-- study:t:end -->\n"
        "kept\n")
    flags = ["--tiny", "--strategy", "cpu", "--verbose", "0",
             "--configs", "all,none", "--seeds", "2",
             "--train_steps", "3", "--out", str(out), "--tag", "t",
             "--data_dir", str(tmp_path / "data")]
    # In its own process, so that XLA writes the step's buffer assignment.
    first = subprocess.run(
        [sys.executable, "recipes/placement_study.py"] + flags, cwd=ROOT,
        capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "4 of 4 runs to do" in first.stdout
    stored = json.loads((out / "study_t.json").read_text())
    runs = stored["runs"]
    assert sorted((run["config"], run["seed"]) for run in runs) == [
        ("all", 0), ("all", 1), ("none", 0), ("none", 1)]
    by_config = {run["config"]: run for run in runs}
    assert by_config["all"]["memory_lengths"] == [32, 32]
    assert by_config["all"]["eval_memory_lengths"] == [64, 64]
    assert by_config["none"]["memory_lengths"] == [8, 8]
    assert by_config["all"]["state_bytes"] > by_config["none"]["state_bytes"]
    for run in runs:
        assert run["valid"] > 0 and run["valid_eval_memory"] > 0
        assert run["us_per_token"] > 0 and run["xla_total_mb"] > 0
    # "none" has no long memory to lengthen: the same number.
    assert by_config["none"]["valid_eval_memory"] == \
        by_config["none"]["valid"]
    text = (out / "study.md").read_text()
    assert "| all | [0, 1] |" in text and "stale row" not in text
    assert text.endswith("kept\n")
    assert "No long memory is clearly worse" in text
    for name in ("study_t_bpc.png", "study_t_cost.png"):
        assert (out / name).stat().st_size > 1000
    # A rerun trains nothing (it would fail here without its data).
    os.rename(tmp_path / "data", tmp_path / "moved")
    assert recipe.main(flags) == 0
    assert "0 of 4 runs to do" in capsys.readouterr().out
    assert json.loads((out / "study_t.json").read_text())["runs"] == runs
    # Other settings in the same results file are refused.
    with pytest.raises(ValueError, match="d_model=32 there, 48 now"):
        recipe.main(flags + ["--d_model", "48"])


@pytest.mark.parametrize("flags, match", [
    (["--configs", "all,fancy"], "`configs` must be distinct names"),
    (["--seeds", "0"], "`seeds` must be >= 1"),
    (["--placement", "last"], "`placement` is not used by this recipe"),
    (["--seed", "3"], "`seed` is not used by this recipe"),
])
def test_bad_flags_are_refused(flags, match):
    with pytest.raises(ValueError, match=match):
        recipe.parse(["--tiny"] + flags)


def test_where_the_results_go_by_default():
    _, flags = recipe.parse([])
    assert (flags["out"], flags["results"]) == (
        "docs", os.path.join("docs", "study_stdlib.json"))
    # A smoke run keeps out of docs/.
    _, flags = recipe.parse(["--tiny", "--corpus", "text", "--corpus_path",
                             "book.txt"])
    assert flags["results"] == os.path.join(
        "checkpoints", "study-tiny", "study_text.json")
