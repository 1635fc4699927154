"""Every recipe end to end with `--tiny`, on samples made here.

The quickstart runs as a user runs it (XLA, its training, the export and a
sample from it). The corpus recipes run their own settings on their own
data (tokenizer, longer evaluation memories, the test split) without
repeating what the quickstart covers: two steps without XLA, no export.
"""

import importlib.util
import json
import os

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests.data.samples import write_enwik8
from tests.data.samples import write_wikitext

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_recipe(name):
    path = os.path.join(ROOT, "recipes", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name, tmp_path, *extra, export=True):
    argv = ["--tiny", "--strategy", "cpu",
            "--data_dir", str(tmp_path / "tfrecords"),
            "--checkpoint_dir", str(tmp_path / "checkpoints"),
            "--log_dir", str(tmp_path / "logs"), "--verbose", "0", *extra]
    if name != "tune":  # a search exports nothing and refuses the flag
        argv += ["--export_dir",
                 str(tmp_path / "saved_models") if export else ""]
    return load_recipe(name).main(argv)


# What the quickstart's test already runs: XLA, a training that learns and
# the export.
CORPUS_FLAGS = ("--no-jit_compile", "--train_steps", "2")


def run_corpus_recipe(name, tmp_path, *extra):
    return run(name, tmp_path, *CORPUS_FLAGS, *extra, export=False)


def check_outputs(results, unit):
    assert results["after"]["unit"] == unit
    assert np.isfinite(results["after"]["value"])
    assert results["train"]["steps"] == results["experiment"]["train_steps"]
    saved = json.loads(open(os.path.join(os.path.dirname(
        results["model_path"]), "results.json")).read())
    assert saved["after"]["value"] == results["after"]["value"]
    model = keras.saving.load_model(results["model_path"])
    assert model.memory_lengths == results["memory_lengths"]


@pytest.mark.slow
def test_quickstart_learns_and_saves(tmp_path):
    results = run("quickstart", tmp_path)
    check_outputs(results, "bpc")
    assert results["after"]["value"] < results["before"]["value"]
    assert os.path.exists(tmp_path / "tfrecords" / "stdlib" / "bytes" /
                          "manifest.json")


@pytest.mark.slow
def test_enwik8_recipe_on_a_sample(tmp_path):
    write_enwik8(tmp_path, num_bytes=200_000)
    results = run_corpus_recipe("enwik8", tmp_path, "--corpus_path",
                                str(tmp_path / "enwik8.zip"))
    check_outputs(results, "bpc")
    # Evaluated with longer memories than trained with, as the paper does.
    assert max(results["memory_lengths"]) == 48
    assert results["test"]["tokens"] == 2047


@pytest.mark.slow
def test_wikitext103_recipe_on_a_sample(tmp_path):
    write_wikitext(tmp_path)
    results = run_corpus_recipe("wikitext103", tmp_path, "--corpus_path",
                                str(tmp_path / "wikitext-103"))
    check_outputs(results, "perplexity")


@pytest.mark.slow
def test_pg19_recipe_through_tfds(tmp_path):
    with tfds.testing.mock_data(num_examples=40):
        results = run_corpus_recipe("pg19", tmp_path, "--corpus_path",
                                    str(tmp_path))
    check_outputs(results, "bpc")
