"""Recipe flags and `--help`: made from the `Experiment` fields' own
documentation, and answered without loading TensorFlow."""

import os
import subprocess
import sys

import pytest

from keras_lrm.training import Experiment
from keras_lrm.training.cli import parse_experiment
from keras_lrm.training.experiment_config import flag_fields
from tests.test_recipes import ROOT
from tests.test_recipes import load_recipe

RECIPES = ("quickstart", "enwik8", "wikitext103", "pg19", "tune")


def recipe_help(name):
    result = subprocess.run(
        [sys.executable, os.path.join("recipes", f"{name}.py"), "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def flag_entries(text):
    """`{flag: its help, on one line}` from argparse's `--help`."""
    entries, flag = {}, None
    for line in text.split("options:", 1)[1].splitlines():
        stripped = line.strip()
        if line.startswith("  -"):
            flag = stripped.split()[0].rstrip(",")
            entries[flag] = " ".join(stripped.split()[1:])
        elif flag is not None and stripped:
            entries[flag] += " " + stripped
    return entries


def test_every_field_documents_itself():
    for field in flag_fields():
        text = field.metadata.get("help", "")
        assert len(text) > 8, field.name


def test_field_choices_are_the_library_lists():
    from keras_lrm.data.corpora import CORPORA
    from keras_lrm.data.tokenizers import TOKENIZERS
    from keras_lrm.distribute import STRATEGIES
    from keras_lrm.placement import POLICIES
    from keras_lrm.training import experiment_config as config

    assert config.CORPORA == CORPORA
    assert config.STRATEGIES == STRATEGIES
    assert config.POLICIES == POLICIES
    assert set(config.TOKENIZER_NAMES) <= set(TOKENIZERS)
    for precision in config.PRECISIONS:
        assert Experiment(precision=precision).precision == precision


@pytest.mark.parametrize("name", RECIPES)
def test_help_gives_every_flag_one_default_and_its_tiny_value(name):
    recipe = load_recipe(name)
    text = recipe_help(name)
    entries = flag_entries(text)
    assert "(default: None)" not in text
    unused = getattr(recipe, "UNUSED", {})
    for field in flag_fields():
        flag = f"--{field.name}"
        if field.name in unused:
            assert flag not in entries, flag
            continue
        entry = entries[flag]
        assert " ".join(field.metadata["help"].split()) in entry, flag
        default = getattr(recipe.DEFAULTS, field.name)
        shown = repr(default) if isinstance(default, str) else str(default)
        assert entry.count("; default ") == 1, entry
        assert f"; default {shown}" in entry, entry
        tiny = recipe.TINY.get(field.name, default)
        if tiny != default:
            assert "--tiny: " in entry, entry
        else:
            assert "--tiny: " not in entry, entry
    # Choices are listed.
    assert "--corpus {stdlib,enwik8,wikitext103,pg19,tiny_shakespeare,text}" \
        in text
    if "placement" not in unused:
        assert "--placement {all,none,interleaved,first,last,middle}" in text


def test_help_keeps_the_examples_lines():
    text = recipe_help("quickstart")
    assert "\n    python recipes/quickstart.py --tiny     # a smoke run\n" \
        in text
    assert flag_entries(text)["--train_steps"].endswith(
        "training steps; default 400; --tiny: 12")
    enwik8 = recipe_help("enwik8")
    # A continued example line ends with one backslash, then the rest.
    assert "gs://B/enwik8.zip \\\n        --data_dir" in enwik8


def test_tune_help_lists_only_what_the_search_reads():
    entries = flag_entries(recipe_help("tune"))
    for flag in ("--export_dir", "--sample_prompt", "--sample_tokens",
                 "--placement", "--num_long", "--test"):
        assert flag not in entries
    assert entries["--max_trials"].endswith("default 8")
    assert entries["--search_long_lengths"].endswith(
        "default 256,512; --tiny: 32")
    # Still refused when given.
    tune = load_recipe("tune")
    with pytest.raises(ValueError, match="`export_dir` is not used"):
        parse_experiment(tune.DEFAULTS, tune.TINY, ["--export_dir", "x"],
                         add_flags=tune.add_search_flags, unused=tune.UNUSED)


def test_generate_help_shows_its_defaults():
    entries = flag_entries(recipe_help("generate"))
    assert entries["--model"].endswith("default saved_models/quickstart")
    assert entries["--prompt"].endswith("default 'def '")
    assert entries["--max_new_tokens"].endswith("default 300")
    assert entries["--temperature"].endswith("default 0.8")
    assert entries["--top_k"].endswith("default 40")
    assert entries["--seed"].endswith("default 0")


# Parses every recipe's flags (and prints one `--help`) in a fresh process,
# then prints the heavy modules it loaded.
_NO_TENSORFLOW = """
import runpy, sys
from keras_lrm.training.cli import parse_experiment
from keras_lrm.training.experiment_config import flag_fields
for name in ("quickstart", "enwik8", "wikitext103", "pg19"):
    recipe = runpy.run_path(f"recipes/{name}.py")
    parse_experiment(recipe["DEFAULTS"], recipe["TINY"],
                     ["--tiny", "--num_layers", "3", "--precision",
                      "mixed_bfloat16", "--placement", "last"])
tune = runpy.run_path("recipes/tune.py")
parse_experiment(tune["DEFAULTS"], tune["TINY"], ["--max_trials", "2"],
                 add_flags=tune["add_search_flags"], unused=tune["UNUSED"])
sys.argv = ["quickstart.py", "--help"]
try:
    runpy.run_path("recipes/quickstart.py", run_name="__main__")
except SystemExit:
    pass
print(sorted(m for m in ("tensorflow", "keras", "jax") if m in sys.modules))
"""


def test_flags_and_help_load_no_tensorflow():
    # As a recipe run as a script sets it before importing keras_lrm.
    env = dict(os.environ, KERAS_LRM_DEFER_IMPORTS="1")
    result = subprocess.run([sys.executable, "-c", _NO_TENSORFLOW], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]", result.stdout[-500:]


def test_checks_that_need_keras_still_name_the_flag():
    """The checks skip Keras for good values only; a bad one still gets
    the library's own message."""
    quickstart = load_recipe("quickstart")
    for flags, message in (
            (["--d_model", "30", "--num_heads", "4"], "`d_model` must be"),
            (["--num_long", "7"], "`num_long` must be <= num_layers=6"),
            (["--precision", "int32"], "`precision` must be"),
            (["--precision", "float8_e4m3fn"], "`precision` must be")):
        with pytest.raises(ValueError, match=message):
            parse_experiment(quickstart.DEFAULTS, quickstart.TINY, flags)
    # A floating policy Keras knows by another name is still taken.
    experiment = parse_experiment(quickstart.DEFAULTS, None,
                                  ["--precision", "mixed_float16"])
    assert experiment.precision == "mixed_float16"


def test_experiment_is_the_same_class_everywhere():
    from keras_lrm.training import experiment
    from keras_lrm.training import experiment_config

    assert experiment.Experiment is experiment_config.Experiment \
        is Experiment


def test_corpus_max_bytes_limits_a_text_corpus(tmp_path):
    """`--corpus text --corpus_max_bytes` was refused (stdlib only); now
    each prepared split holds at most that many bytes."""
    from keras_lrm.training.experiment import prepare_data

    path = tmp_path / "big.txt"
    path.write_bytes(b"".join(b"line %d of a big text file\n" % i
                              for i in range(20_000)))
    quickstart = load_recipe("quickstart")
    experiment = parse_experiment(
        quickstart.DEFAULTS, None,
        ["--corpus", "text", "--corpus_path", str(path),
         "--corpus_max_bytes", "20000", "--data_dir",
         str(tmp_path / "tfrecords")])
    assert experiment.corpus_max_bytes == 20_000
    manifest = prepare_data(experiment)
    for split in ("train", "valid", "test"):
        assert 19_000 < manifest.num_tokens(split) <= 20_000
    with pytest.raises(ValueError, match="'stdlib' and 'text' corpora only"):
        parse_experiment(quickstart.DEFAULTS, None,
                         ["--corpus", "enwik8", "--corpus_max_bytes", "5"])


def test_load_model_of_a_keras_file_registers_the_model(tmp_path):
    """`import keras_lrm` no longer loads the models (for a fast `--help`),
    so `keras_lrm.export.load_model` of a `.keras` file in a fresh process
    imports them itself."""
    from tests.helpers import small_lm

    path = str(tmp_path / "lm.keras")
    small_lm().save(path)
    code = ("import sys; from keras_lrm.export import load_model; "
            "print(type(load_model(sys.argv[1])).__name__)")
    result = subprocess.run([sys.executable, "-c", code, path], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "MemoryTransformerLM"


def test_import_keras_lrm_registers_the_model_for_keras(tmp_path):
    """Without the recipes' KERAS_LRM_DEFER_IMPORTS, `import keras_lrm`
    loads the layers and models, so Keras' own `load_model` finds them."""
    from tests.helpers import small_lm

    path = str(tmp_path / "lm.keras")
    small_lm().save(path)
    code = ("import sys, keras, keras_lrm; "
            "print(type(keras.saving.load_model(sys.argv[1])).__name__)")
    env = {k: v for k, v in os.environ.items()
           if k != "KERAS_LRM_DEFER_IMPORTS"}
    result = subprocess.run([sys.executable, "-c", code, path], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "MemoryTransformerLM"
