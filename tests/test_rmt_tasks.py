"""The RMT synthetic-task study (recipes/rmt_tasks.py) runs, reports and
resumes; the torch peer is skipped, with a message, without its
environment."""

import json
import os
import subprocess
import sys

from tests.test_recipes import load_recipe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_rmt_recipe_runs_reports_and_resumes(tmp_path, capsys):
    """The runs in this process (a process would import TensorFlow again);
    the bad flag through the script."""
    results = tmp_path / "rmt.json"
    report = tmp_path / "rmt.md"
    report.write_text("# RMT\n\n<!-- rmt_tasks:begin -->\nold\n"
                      "<!-- rmt_tasks:end -->\nkept\n")
    recipe = load_recipe("rmt_tasks")
    flags = ["--tiny", "--configs", "txl,rmt,peer_rmt", "--steps", "2",
             "--peer_python", str(tmp_path / "no-venv" / "python"),
             "--results", str(results), "--report", str(report)]
    assert recipe.main(flags) == 0
    assert "skipped: the peer needs" in capsys.readouterr().out
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
    assert recipe.main(flags) == 0
    # The peer's run was never recorded, so it is the one left to do.
    assert "1 of 3 runs to do" in capsys.readouterr().out
    bad = subprocess.run([sys.executable, "recipes/rmt_tasks.py",
                          "--segments", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--segments" in bad.stderr


def _worker(segments, gradient, seconds, tokens, temp_mb):
    return {"role": "lrm", "cmd": "", "median_step_s": seconds,
            "tokens_per_s": tokens / seconds,
            "us_per_token": seconds / tokens * 1e6,
            "peak_rss_steps_mb": 900.0,
            "xla_memory": {"xla_temp_mb": temp_mb},
            "info": {"params": 1000, "num_segments": segments,
                     "gradient_segments": gradient}}


def test_bench_rmt_tables_report_the_ratio_and_bptt_cost(tmp_path):
    from bench import rmt

    run = {"stamp": "20260101-000000", "date": "2026-01-01 00:00:00 UTC",
           "command": "python -m bench rmt", "git": {"commit": "abcdef0123"},
           "machine": {"cpu_model": "cpu", "cores": 2},
           "groups": [
               {"group": "speed", "fastest_peer": "rmt_torch",
                "ratio": 1.5, "ratio_per_round": [1.4, 1.5, 1.6],
                "workers": {"keras_lrm_rmt_xla": _worker(6, 6, 0.1, 600, 2),
                            "rmt_torch": {"error": "exited rc=1",
                                          "role": "peer", "cmd": ""}}},
               {"group": "bptt", "workers": {
                   "keras_lrm_rmt_K1": _worker(1, 1, 0.01, 100, 1.0),
                   "keras_lrm_rmt_K8": _worker(8, 8, 0.12, 800, 8.0)}}]}
    text = "\n".join(rmt.tables(run))
    assert "(rmt_torch) throughput: **1.50x**" in text
    assert "| rmt_torch | failed: exited rc=1 |" in text
    # K=8 reads 8x the tokens in 12x the time: 1.5x the time per token.
    assert "| keras_lrm_rmt_K8 | 8 | 8 | 150.0 | 1.50x | 8.0 | 900 |" in text
    page = tmp_path / "rmt.md"
    page.write_text(f"top\n{rmt.BEGIN}\npending\n{rmt.END}\nbottom\n")
    rmt.write_report(run, str(page))
    written = page.read_text()
    assert "pending" not in written and "1.50x" in written
    assert written.startswith("top\n") and written.endswith("bottom\n")
