"""What a run prints and draws (issue 24, items 2, 3, 4 and 7).

The summary at the end of a run, progress that says when it compiles and
estimates from the second step, plain lines in a file, and
`learning_curve.png` from a training curve that a resumed run keeps.
"""

import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from keras_lrm import progress
from keras_lrm.data.files.temporaries import machine_id
from keras_lrm.progress import ProgressDisplay
from keras_lrm.training import run_experiment
from keras_lrm.training.learning_curve import curve_interval
from tests.test_checkpoint_faults import finish
from tests.test_checkpoint_faults import kill_when_paused
from tests.test_checkpoint_faults import start
from tests.test_checkpoint_faults import tiny_experiment
from tests.test_checkpoint_faults import worker_env
from tests.test_checkpoint_faults import write_text
from tests.test_checkpoint_safety import dead_pid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTROL = re.compile("[\r\b\x1b]")
PNG = b"\x89PNG\r\n\x1a\n"


def test_a_run_ends_with_a_summary_and_a_learning_curve(tmp_path, capsys):
    run = tiny_experiment(tmp_path, write_text(tmp_path / "text.txt"),
                          train_steps=6, save_every=3, sample_prompt="ab")
    # What a run killed while writing its plot leaves.
    os.makedirs(run.run_dir)
    stale = os.path.join(run.run_dir, f"learning_curve.png.tmp-{dead_pid()}"
                         f"-{machine_id()}-0123abcd")
    with open(stale, "wb") as f:
        f.write(PNG[:4])
    results = run_experiment(run)
    out = capsys.readouterr().out
    summary = out[out.index("Run 'run' finished in"):]
    before, after = results["before"]["value"], results["after"]["value"]
    assert f"validation bpc: {before:.4f} before -> {after:.4f} after" \
        in summary
    assert "training: 6 steps in" in summary
    assert f"{results['train']['tokens_per_second']:,.0f} tokens/s" \
        in summary
    plot = os.path.join(run.run_dir, "learning_curve.png")
    for path in (run.run_dir, os.path.join(run.run_dir, "weights", "ckpt-6"),
                 results["model_path"],
                 os.path.join(run.run_dir, "results.json"), plot,
                 os.path.join(run.log_dir, "run")):
        assert f" {path}\n" in summary, path
    assert "Next, generate text: python recipes/generate.py --model " \
        f"{results['model_path']} --prompt ab" in summary
    with open(plot, "rb") as f:
        assert f.read(8) == PNG
    assert not [n for n in os.listdir(run.run_dir) if ".tmp" in n]
    with open(os.path.join(run.run_dir, "results.json")) as f:
        saved = json.load(f)
    assert [p[0] for p in saved["curve"]["points"]] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(p[1]) for p in saved["curve"]["points"])


def test_the_curve_interval_divides_the_checkpoint_interval():
    assert curve_interval(400, 200) == 4
    assert curve_interval(100_000, 500) == 500
    assert curve_interval(100_000, 700) == 700
    assert curve_interval(12, 5) == 1
    assert curve_interval(1000, 7) == 7
    assert curve_interval(2000, 14) == 14
    assert curve_interval(1500, 14) == 14
    assert curve_interval(1000, 14) == 7


def test_the_estimate_leaves_out_the_first_step(monkeypatch):
    # The first step took 20 s (compiling), the next one 0.05 s: Keras'
    # bar showed `1/400 ... 2:11:10 20s/step` here.
    now = [0.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    stream = io.StringIO()
    display = ProgressDisplay("step", 400, "lines", stream=stream)
    now[0] = 20.0
    display.start_rate(1)
    display.print(display.text(1))
    now[0] = 20.05
    display.print(display.text(2))
    first, second = stream.getvalue().splitlines()
    assert first == "step 1/400 - elapsed 20.0s - ETA ?"
    assert second == "step 2/400 - elapsed 20.1s - ETA 19.9s"


def test_lines_mode_writes_a_plain_line_every_n_steps():
    stream = io.StringIO()
    display = ProgressDisplay("step", 100, "lines", stream=stream)
    for step in range(1, 101):
        display.update(step, f"loss {1 / step:.3f}")
    display.finish(100)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == [
        f"{step}/100" for step in range(5, 101, 5)]
    assert not CONTROL.search(stream.getvalue())


def test_bar_mode_rewrites_one_line_without_backspaces_or_colours():
    stream = io.StringIO()
    display = ProgressDisplay("step", 3, "bar", stream=stream)
    for step in (1, 2, 3):
        display.update(step, force=True)
    display.finish(3)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert "\r" in text and "\b" not in text and "\x1b" not in text


RUN = """
import sys
from keras_lrm.training import Experiment, run_experiment
run_experiment(Experiment(**{fields}))
"""


def test_a_run_redirected_to_a_file_writes_plain_short_lines(tmp_path):
    """`verbose="auto"` with stdout a file: no bar, no control codes.
    Without XLA: the messages around the first step are the same."""
    run = tiny_experiment(tmp_path, write_text(tmp_path / "text.txt"),
                          train_steps=40, save_every=20, verbose="auto",
                          eval_tokens=512)
    fields = {key: getattr(run, key) for key in (
        "name", "corpus", "corpus_path", "data_dir", "checkpoint_dir",
        "log_dir", "export_dir", "num_layers", "d_model", "num_heads",
        "d_ff", "placement", "num_long", "long_length", "short_length",
        "batch_size", "segment_length", "train_steps", "save_every",
        "eval_batch_size", "eval_tokens", "strategy", "jit_compile",
        "verbose")}
    log = tmp_path / "run.log"
    with open(log, "wb") as stdout:
        subprocess.run([sys.executable, "-c", RUN.format(fields=fields)],
                       cwd=ROOT, env=worker_env(), stdout=stdout,
                       stderr=subprocess.PIPE, check=True, timeout=300)
    text = log.read_text()
    assert not CONTROL.search(text), repr(text[:2000])
    lines = text.splitlines()
    assert max(len(line) for line in lines) < 200, text
    steps = [line for line in lines if line.startswith("step ")]
    assert 2 <= len(steps) <= 21, text
    assert steps[-1].startswith("step 40/40 - ")
    compiling = lines.index("Compiling the training step (first step only)...")
    assert lines[compiling + 1].startswith("Compiled: the first step took ")
    assert lines.index(steps[0]) > compiling
    assert "Compiling the evaluation step (first window only)..." in lines
    assert any(line.startswith("Run 'run' finished in") for line in lines)


@pytest.mark.slow
def test_a_resumed_run_draws_the_curve_of_an_uninterrupted_one(tmp_path):
    text = write_text(tmp_path / "text.txt")
    whole = tiny_experiment(tmp_path / "whole", text)
    reference = start(whole)
    killed = tiny_experiment(tmp_path / "killed", text)
    # Points up to 8 written, checkpoint 8 not complete: 5-8 are redone.
    kill_when_paused(killed, start(killed, "memory:8"))
    finish(start(killed))
    finish(reference)
    curves = []
    for run in (whole, killed):
        with open(os.path.join(run.run_dir, "results.json")) as f:
            curves.append(json.load(f)["curve"])
        assert os.path.exists(os.path.join(run.run_dir,
                                           "learning_curve.png"))
    got, want = curves
    assert [p[0] for p in got["points"]] == list(range(1, 13))
    assert [p[0] for p in want["points"]] == list(range(1, 13))
    np.testing.assert_allclose([p[1] for p in got["points"]],
                               [p[1] for p in want["points"]], rtol=1e-5)
