"""The RMT synthetic-task study (recipes/rmt_tasks.py) runs, reports and
resumes; the torch peer is skipped, with a message, without its
environment."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_rmt_recipe_runs_reports_and_resumes(tmp_path):
    results = tmp_path / "rmt.json"
    report = tmp_path / "rmt.md"
    report.write_text("# RMT\n\n<!-- rmt_tasks:begin -->\nold\n"
                      "<!-- rmt_tasks:end -->\nkept\n")
    command = [sys.executable, "recipes/rmt_tasks.py", "--tiny",
               "--configs", "txl,rmt,peer_rmt", "--steps", "2",
               "--peer_python", str(tmp_path / "no-venv" / "python"),
               "--results", str(results), "--report", str(report)]
    first = subprocess.run(command, cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "skipped: the peer needs" in first.stdout
    runs = json.loads(results.read_text())["runs"]
    assert sorted(run["config"] for run in runs) == ["rmt/K2", "txl/K2"]
    params = {run["config"]: run["params"] for run in runs}
    # The memory tokens add M_0 (m x d_model = 2 x 16) and nothing else.
    assert params["rmt/K2"] - params["txl/K2"] == 2 * 16
    assert all(0.0 <= run["token_accuracy"] <= 1.0 for run in runs)
    text = report.read_text()
    assert "| RMT (m tokens) |" in text and "| K=2 (2 digits) |" in text
    assert "old" not in text and text.endswith("kept\n")
    assert (tmp_path / "rmt_tasks.png").stat().st_size > 1000
    again = subprocess.run(command, cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    # The peer's run was never recorded, so it is the one left to do.
    assert "1 of 3 runs to do" in again.stdout
    bad = subprocess.run(command[:2] + ["--segments", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--segments" in bad.stderr
