"""recipes/colab_tpu.ipynb runs, so it cannot rot.

The notebook is executed with nbclient in its `cpu-tiny` mode (the
parameters are set the way papermill does: a cell after the one tagged
"parameters"), and the files it says it made are checked. Its `tpu` mode
is run up to the TPU cell on this machine, which has none: it must stop
there, saying so, before anything is written.
"""

import json
import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from keras_lrm.distribute import tpu_visible
from keras_lrm.training.study import StudyResults

NOTEBOOK = pathlib.Path(__file__).parent.parent / "recipes" / "colab_tpu.ipynb"
# Seconds per cell; the tiny run takes about a minute in all.
CELL_TIMEOUT = 300


def with_parameters(**values):
    """The notebook with a cell setting `values` after its parameters."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    index = next(i for i, cell in enumerate(notebook.cells)
                 if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    injected = nbformat.v4.new_code_cell(source)
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(index + 1, injected)
    return notebook


def execute(notebook, folder):
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT,
                            kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    client.execute()
    return notebook


def outputs_text(notebook):
    text = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text", ""))
            text.extend(output.get("data", {}).get("text/plain", ""))
            text.extend(output.get("traceback", []))
    return "".join(text)


def test_parameters_cell_is_first_code_cell_and_defaults_to_tpu():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in first.metadata["tags"]
    assert 'RUN_MODE = "tpu"' in first.source
    # Saved without outputs: a run's outputs are not kept in git.
    assert all(not cell.get("outputs") for cell in notebook.cells
               if cell.cell_type == "code")


def write_study(path):
    """A placement study's results file with the fields
    recipes/placement_study.py records and its plots read."""
    study = StudyResults(str(path), {"num_layers": 6, "corpus": "stdlib"})
    for config, valid, us_per_token, megabytes in (
            ("all", 2.60, 400.0, 3.4), ("sixth_last", 2.62, 160.0, 0.5),
            ("none", 2.70, 140.0, 0.2)):
        for seed in (0, 1):
            study.record(config, seed, valid=valid + 0.01 * seed,
                         valid_eval_memory=valid - 0.02, unit="bpc",
                         us_per_token=us_per_token + seed,
                         xla_total_mb=megabytes)


@pytest.mark.slow
def test_cpu_tiny_run_trains_searches_exports_generates_and_plots(tmp_path):
    out = tmp_path / "outputs"
    study = tmp_path / "study.json"
    write_study(study)
    notebook = execute(with_parameters(RUN_MODE="cpu-tiny",
                                       LOCAL_DIR=str(out),
                                       STUDY_RESULTS=str(study)), tmp_path)
    summary = json.loads((out / "notebook_summary.json").read_text())
    assert summary["run_mode"] == "cpu-tiny"
    assert summary["replicas"] == 1
    # Trained through run_experiment: results.json with both validations.
    results = json.loads(pathlib.Path(summary["results"]).read_text())
    assert results["status"] == "complete"
    assert results["train"]["steps"] == 8
    assert results["after"]["unit"] == "bpc"
    assert results["after"]["value"] == pytest.approx(summary["valid_after"])
    assert pathlib.Path(summary["model"]).is_file()
    assert any((out / "logs").rglob("events.out.tfevents.*"))
    # The grid search ran the two short lengths of IntRange(8, 16).
    search = json.loads(pathlib.Path(summary["search"]).read_text())
    lengths = {trial["hyperparameters"]["short_length"]
               for trial in search["trials"]}
    assert lengths == {8, 16}
    assert (pathlib.Path(summary["search"]).parent / "trials.csv").is_file()
    assert all(trial["bpc"] is not None for trial in search["trials"])
    # The export, with the sample generated from it.
    export = pathlib.Path(summary["export"])
    assert (export / "saved_model.pb").is_file()
    assert (export / "assets" / "keras_lrm.json").is_file()
    assert summary["sample"].startswith("def ")
    assert len(summary["sample"]) > len("def ")
    assert summary["sample"] in outputs_text(notebook)
    # Figure 4 from the search, and the study's two plots.
    figures = [pathlib.Path(path) for path in summary["figures"]]
    assert [path.name for path in figures] == [
        "figure4_srm_length.png", "placement_study_bpc.png",
        "placement_study_cost.png"]
    for figure in figures:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "TensorBoard skipped in cpu-tiny mode" in outputs_text(notebook)


@pytest.mark.skipif(tpu_visible(), reason="this machine has a TPU")
def test_tpu_mode_without_a_tpu_stops_at_the_tpu_cell(tmp_path,
                                                      monkeypatch):
    for name in ("TPU_NAME", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE"):
        monkeypatch.delenv(name, raising=False)
    notebook = with_parameters(RUN_MODE="tpu",
                               LOCAL_DIR=str(tmp_path / "outputs"))
    with pytest.raises(CellExecutionError) as error:
        execute(notebook, tmp_path)
    assert "This runtime has no TPU" in str(error.value)
    assert "Runtime > Change runtime type > TPU" in str(error.value)
    # It stopped before the bucket cell: nothing was written.
    assert os.listdir(tmp_path) == []
