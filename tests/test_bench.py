"""The benchmark harness's plumbing (bench/README.md), without a benchmark.

Fast checks of what a broken harness would get silently wrong: which
keras_lrm a worker imports (the A/B of two checkouts rests on it), which
worker each side of the A/B runs, and the `python -m bench` entry point.
"""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _python(code, cwd=ROOT):
    return subprocess.run([sys.executable, "-c", code], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_worker_imports_keras_lrm_from_the_given_checkout(tmp_path):
    package = tmp_path / "keras_lrm"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("__version__ = 'other'\n")
    (package / "models" / "__init__.py").write_text(
        "from keras_lrm import __version__ as SEEN\n")
    result = _python(
        "from bench.keras_lrm_worker import import_keras_lrm\n"
        f"module = import_keras_lrm({str(tmp_path)!r})\n"
        "import keras_lrm.models\n"
        "print(module.__version__, keras_lrm.models.SEEN,\n"
        "      keras_lrm.models.__file__)\n")
    assert result.returncode == 0, result.stderr
    version, seen, path = result.stdout.split()
    assert (version, seen) == ("other", "other")
    assert path == str(package / "models" / "__init__.py")


def test_worker_refuses_a_checkout_without_keras_lrm(tmp_path):
    result = _python(
        "from bench.keras_lrm_worker import import_keras_lrm\n"
        f"import_keras_lrm({str(tmp_path)!r})\n")
    assert result.returncode != 0
    assert "no keras_lrm package under" in result.stderr


def test_ab_runs_this_checkouts_worker_on_both_sides():
    from bench import ab

    base, this = ab.checkout_specs("rr64", "/tmp/old", ["--batch", "2"], 3)
    for spec, root in ((base, "/tmp/old"), (this, str(ROOT))):
        assert spec["cmd"][1:3] == ["-m", "bench.keras_lrm_worker"]
        assert spec["cmd"][spec["cmd"].index("--keras_lrm") + 1] == root
        assert spec["cmd"][-4:] == ["--lengths", "64,64,512", "--batch", "2"]
        assert "cwd" not in spec  # the harness runs workers from ROOT
    assert ab.group_flags("all128", 6) == ["--mem", "128"]


def test_bench_entry_point_lists_and_rejects_commands():
    listed = subprocess.run([sys.executable, "-m", "bench", "--help"],
                            cwd=ROOT, capture_output=True, text=True)
    assert listed.returncode == 0
    for command in ("run", "report", "ab", "worker", "gpu", "generation"):
        assert f"\n  {command} " in listed.stdout
    wrong = subprocess.run([sys.executable, "-m", "bench", "nope"],
                           cwd=ROOT, capture_output=True, text=True)
    assert wrong.returncode == 2
    assert "unknown command 'nope'" in wrong.stderr


def test_placement_flops_fall_with_fewer_long_memories(capsys):
    """`python -m bench flops --paper`: all-long is 1, each fewer long
    memory costs less, and 4 of 24 (the paper's 1/6) is about half, as
    its Table 1 measured (0.47)."""
    import json

    from bench import flops

    flops.placement_ratios("paper")
    lines = [json.loads(line)
             for line in capsys.readouterr().out.splitlines()]
    fractions = {line["num_long"]: line["fraction_of_all"] for line in lines}
    assert fractions[24] == 1.0
    assert fractions[24] > fractions[12] > fractions[4] > fractions[1] > \
        fractions[0]
    assert 0.4 < fractions[4] < 0.6
