"""The bad-input table of export, the exported signatures, generation,
loading and recipes/generate.py: every row raises the error it lists, and
the message names the argument, input or file.

`ROWS` is the table (docs/errors.md lists the same rows): entry point, bad
input, how to make the call, the exception type, and a part of the message
that names what was wrong.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_lrm import Placement
from keras_lrm import samplers
from keras_lrm.export import export_saved_model
from keras_lrm.export.generation import generate
from keras_lrm.export.generation import generate_text
from keras_lrm.export.loading import load_model
from tests.helpers import small_lm
from tests.test_recipes import load_recipe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IAE = tf.errors.InvalidArgumentError


class Context:
    """One tiny byte-level model, its export, its `.keras` file, and
    damaged copies, made once per module."""

    def __init__(self, folder):
        self.folder = folder
        self.model = small_lm(Placement("all", None, 12, 12), num_layers=1,
                              vocab_size=256)
        self.export = export_saved_model(self.model,
                                         os.path.join(folder, "export"))
        self.keras_file = os.path.join(folder, "model.keras")
        self.model.save(self.keras_file)
        with open(self.keras_file, "rb") as handle:
            data = handle.read()
        self.truncated = os.path.join(folder, "truncated.keras")
        with open(self.truncated, "wb") as handle:
            handle.write(data[:len(data) // 2])
        self.loaded = tf.saved_model.load(self.export)
        self.signatures = self.loaded.signatures
        self.memory = self.signatures["initial_memory"](
            batch_size=tf.constant(2))
        self.cache = self.signatures["initial_cache"](
            batch_size=tf.constant(2))
        self.ids = tf.constant([[1, 2], [3, 4]])

    def path(self, name):
        return os.path.join(self.folder, name)

    def step(self, **changes):
        inputs = dict(self.memory, token_ids=self.ids)
        inputs.update(changes)
        return self.signatures["step"](**inputs)

    def step_cached(self, **changes):
        inputs = dict(self.cache, token_ids=self.ids)
        inputs.update(changes)
        return self.signatures["step_cached"](**inputs)

    def step_text(self, text):
        return self.signatures["step_text"](text=tf.constant(text),
                                            **self.memory)

    def generate(self, prompt="ab", **kwargs):
        arguments = dict(max_new_tokens=2, seed=0)
        arguments.update(kwargs)
        return generate(self.model, prompt, **arguments)

    def generate_signature(self, **changes):
        inputs = dict(token_ids=self.ids, max_new_tokens=2,
                      temperature=1.0, top_k=0, top_p=1.0, seed=0)
        inputs.update(changes)
        dtypes = dict(temperature=tf.float32, top_p=tf.float32)
        return self.signatures["generate"](**{
            name: tf.constant(value, dtypes.get(name, tf.int32))
            for name, value in inputs.items()})

    def recipe(self, *flags):
        recipe = load_recipe("generate")
        flags = list(flags)
        for flag, value in (("--model", self.export),
                            ("--max_new_tokens", "2")):
            if flag not in flags:
                flags += [flag, value]
        return recipe.main(flags)


class MySampler(samplers.Sampler):
    """A sampler with code of its own, which an export cannot run."""


def a_file(ctx):
    path = ctx.path("precious.txt")
    with open(path, "w") as handle:
        handle.write("my work")
    return path


def a_folder_with(ctx, name, *files):
    path = ctx.path(name)
    os.makedirs(path, exist_ok=True)
    for file in files:
        with open(os.path.join(path, file), "w") as handle:
            handle.write("mine")
    return path


def another_saved_model(ctx):
    path = ctx.path("other_saved_model")
    if not os.path.exists(path):
        module = tf.Module()
        module.v = tf.Variable(1.0)
        tf.saved_model.save(module, path)
    return path


def a_copy_of_the_export(ctx, name):
    """The module's export copied to `name` (cheaper than exporting
    again: the copy is a complete keras_lrm export)."""
    path = ctx.path(name)
    if not os.path.exists(path):
        shutil.copytree(ctx.export, path)
    return path


def an_export_with_a_readme(ctx):
    path = a_copy_of_the_export(ctx, "export_with_readme")
    with open(os.path.join(path, "README.md"), "w") as handle:
        handle.write("notes")
    return path


def a_damaged_export(ctx):
    path = ctx.path("damaged_export")
    if not os.path.exists(path):
        a_copy_of_the_export(ctx, "damaged_export")
        with open(os.path.join(path, "saved_model.pb"), "r+b") as handle:
            handle.truncate(100)
    return path


def a_zip_without_config(ctx):
    import zipfile

    path = ctx.path("not_a_model.keras")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return path


def words(ctx):
    from keras_lrm.data.tokenizers.word_tokenizer import WordTokenizer

    return WordTokenizer.build([b"the cat sat\n"], progress=False)


def a_symlink(ctx):
    path = ctx.path("link")
    if not os.path.islink(path):
        os.symlink(ctx.export, path)
    return path


# (entry point, bad input, call, exception type, part of the message)
ROWS = [
    # export_saved_model
    ("export_saved_model", "`path` is a file",
     lambda c: export_saved_model(c.model, a_file(c)),
     ValueError, "`path` is a file"),
    ("export_saved_model", "`path` is a file, overwrite=True",
     lambda c: export_saved_model(c.model, a_file(c), overwrite=True),
     ValueError, "precious.txt"),
    ("export_saved_model", "`path` holds other files (`notes.txt`)",
     lambda c: export_saved_model(c.model, a_folder_with(c, "out",
                                                         "notes.txt")),
     ValueError, "notes.txt"),
    ("export_saved_model", "`path` holds another SavedModel",
     lambda c: export_saved_model(c.model, another_saved_model(c)),
     ValueError, "not a keras_lrm export"),
    ("export_saved_model", "`path` holds an export and a user's file",
     lambda c: export_saved_model(c.model, an_export_with_a_readme(c)),
     ValueError, "README.md"),
    ("export_saved_model", "`path` is a symbolic link",
     lambda c: export_saved_model(c.model, a_symlink(c)),
     ValueError, "symbolic link"),
    ("export_saved_model", "an earlier export, overwrite=False",
     lambda c: export_saved_model(c.model, c.export, overwrite=False),
     ValueError, "overwrite=False"),
    ("export_saved_model", "`path=3`",
     lambda c: export_saved_model(c.model, 3),
     ValueError, "`path` must be"),
    ("export_saved_model", "`model` is not a MemoryTransformerLM",
     lambda c: export_saved_model("a string", c.path("x")),
     ValueError, "`model` must be"),
    # the exported signatures
    ("step", "`token_ids` of rank 1",
     lambda c: c.step(token_ids=tf.constant([1, 2])),
     IAE, "`token_ids` must have rank 2"),
    ("step", "`token_ids` with T=0",
     lambda c: c.step(token_ids=tf.zeros((2, 0), tf.int32)),
     IAE, "`token_ids` must hold at least one token"),
    ("step", "`token_ids` >= vocab_size",
     lambda c: c.step(token_ids=tf.constant([[1, 256], [0, 0]])),
     IAE, "`token_ids` must be < vocab_size=256"),
    ("step", "negative `token_ids`",
     lambda c: c.step(token_ids=tf.constant([[-3, 1], [0, 0]])),
     IAE, "`token_ids` must be >= 0"),
    ("step", "`token_ids` int64",
     lambda c: c.step(token_ids=tf.constant([[1, 2], [3, 4]], tf.int64)),
     (IAE, TypeError), "dtype=tf.int32, name='token_ids'"),
    ("step", "`memory_0` of another batch size",
     lambda c: c.step(memory_0=tf.zeros((3, 12, 16))),
     IAE, "`memory_0` must have the batch size"),
    ("step", "`memory_0` of another length",
     lambda c: c.step(memory_0=tf.zeros((2, 5, 16))),
     (IAE, TypeError, ValueError), "memory_0"),
    ("step", "`memory_0` of rank 2",
     lambda c: c.step(memory_0=tf.zeros((2, 12))),
     IAE, "`memory_0` must have rank 3"),
    ("step", "negative `filled`",
     lambda c: c.step(filled=tf.constant([-5, 0])),
     IAE, "`filled`"),
    ("step", "`filled` beyond the memory length",
     lambda c: c.step(filled=tf.constant([100, 0])),
     IAE, "`filled`"),
    ("step", "`filled` missing",
     lambda c: c.signatures["step"](token_ids=c.ids, memory_0=c.memory[
         "memory_0"]),
     TypeError, "'filled'"),
    ("step", "an unknown input `foo`",
     lambda c: c.step(foo=tf.constant(1)),
     TypeError, "'foo'"),
    ("step_cached", "`token_ids` of rank 1",
     lambda c: c.step_cached(token_ids=tf.constant([1, 2])),
     IAE, "`token_ids` must have rank 2"),
    ("step_cached", "`values_0` of another batch size",
     lambda c: c.step_cached(values_0=tf.zeros((3, 2, 12, 8))),
     IAE, "`values_0` must have the batch size"),
    ("step_cached", "`token_ids` >= vocab_size",
     lambda c: c.step_cached(token_ids=tf.constant([[1, 256], [0, 0]])),
     IAE, "`token_ids` must be < vocab_size"),
    ("initial_memory", "`batch_size=0`",
     lambda c: c.signatures["initial_memory"](batch_size=tf.constant(0)),
     IAE, "`batch_size` must be >= 1"),
    ("initial_memory", "`batch_size` float",
     lambda c: c.signatures["initial_memory"](batch_size=tf.constant(2.0)),
     (IAE, TypeError), "dtype=tf.int32, name='batch_size'"),
    # TensorFlow's binding names the input in the exception's context.
    ("initial_memory", "`batch_size` a vector",
     lambda c: c.signatures["initial_memory"](batch_size=tf.constant([2])),
     IAE, "name='batch_size'"),
    ("initial_cache", "`batch_size=-1`",
     lambda c: c.signatures["initial_cache"](batch_size=tf.constant(-1)),
     IAE, "`batch_size` must be >= 1"),
    ("step_text", "texts of different byte lengths",
     lambda c: c.step_text([b"ab", b"abc"]),
     IAE, "every `text` in a batch must have the same number of bytes"),
    ("step_text", "an empty text",
     lambda c: c.step_text([b"", b""]),
     IAE, "every `text` must hold at least one byte"),
    ("step_text", "no text (batch 0)",
     lambda c: c.signatures["step_text"](
         text=tf.constant([], tf.string),
         **{name: value[:0] for name, value in c.memory.items()}),
     IAE, "`text` must hold at least one string"),
    ("step_text", "`text` of rank 2",
     lambda c: c.step_text([[b"a"], [b"b"]]),
     IAE, "`text` must have rank 1"),
    ("detokenize", "`token_ids` >= 256",
     lambda c: c.signatures["detokenize"](token_ids=tf.constant([[300, 1]])),
     IAE, "`token_ids` must be < 256"),
    ("detokenize", "negative `token_ids`",
     lambda c: c.signatures["detokenize"](token_ids=tf.constant([[-1, 1]])),
     IAE, "`token_ids` must be >= 0"),
    ("detokenize", "`token_ids` of rank 1",
     lambda c: c.signatures["detokenize"](token_ids=tf.constant([1, 2])),
     IAE, "`token_ids` must have rank 2"),
    # generate
    ("generate", "`max_new_tokens=0`",
     lambda c: c.generate(max_new_tokens=0),
     ValueError, "`max_new_tokens` must be an integer >= 1"),
    ("generate", "`max_new_tokens=2.5`",
     lambda c: c.generate(max_new_tokens=2.5),
     ValueError, "`max_new_tokens`"),
    ("generate", "`max_new_tokens=True`",
     lambda c: c.generate(max_new_tokens=True),
     ValueError, "`max_new_tokens`"),
    ("generate", "`temperature=-1`",
     lambda c: c.generate(temperature=-1.0),
     ValueError, "`temperature` must be a finite number >= 0"),
    ("generate", "`temperature=nan`",
     lambda c: c.generate(temperature=float("nan")),
     ValueError, "`temperature`"),
    ("generate", "`temperature=inf`",
     lambda c: c.generate(temperature=float("inf")),
     ValueError, "`temperature`"),
    ("generate", "`temperature='hot'`",
     lambda c: c.generate(temperature="hot"),
     ValueError, "`temperature`"),
    ("generate", "`top_k=-1`",
     lambda c: c.generate(top_k=-1),
     ValueError, "`top_k` must be an integer >= 0"),
    ("generate", "`top_k=2.5`",
     lambda c: c.generate(top_k=2.5),
     ValueError, "`top_k`"),
    ("generate", "`seed=-1`",
     lambda c: c.generate(seed=-1),
     ValueError, "`seed` must be an integer >= 0"),
    ("generate", "`seed='a'`",
     lambda c: c.generate(seed="a"),
     ValueError, "`seed`"),
    ("generate", "`segment_length=0`",
     lambda c: c.generate(segment_length=0),
     ValueError, "`segment_length`"),
    ("generate", "`prompt=[]`",
     lambda c: c.generate(prompt=[]),
     ValueError, "`prompt`"),
    ("generate", "`prompt=''`",
     lambda c: c.generate(prompt=""),
     ValueError, "`prompt`"),
    ("generate", "`prompt=None`",
     lambda c: c.generate(prompt=None),
     ValueError, "`prompt`"),
    ("generate", "`prompt` float ids",
     lambda c: c.generate(prompt=[1.5, 2.0]),
     ValueError, "`prompt`"),
    ("generate", "`prompt` rows of different lengths",
     lambda c: c.generate(prompt=[[1, 2], [3]]),
     ValueError, "`prompt`"),
    ("generate", "`prompt` ids >= vocab_size",
     lambda c: c.generate(prompt=[[1, 300]]),
     ValueError, "`prompt` ids must lie in [0, 256)"),
    ("generate", "texts of different byte lengths",
     lambda c: c.generate(prompt=["ab", "abc"]),
     ValueError, "`prompt`"),
    ("generate", "a text prompt for a model that is not byte-level",
     lambda c: generate(small_lm(num_layers=1), "hello", 2),
     ValueError, "`prompt`"),
    ("generate", "`memory_lengths` with an export",
     lambda c: generate(c.loaded, "ab", 2, memory_lengths=[4]),
     ValueError, "`memory_lengths`"),
    ("generate", "`model=3`",
     lambda c: generate(3, "ab", 2),
     ValueError, "`model` must be"),
    ("generate", "`model` a missing path",
     lambda c: generate(c.path("missing"), "ab", 2),
     FileNotFoundError, "missing"),
    ("generate", "`model` a truncated .keras file",
     lambda c: generate(c.truncated, "ab", 2),
     ValueError, "truncated.keras"),
    ("generate", "`top_p=0`",
     lambda c: c.generate(top_p=0),
     ValueError, "`top_p`"),
    ("generate", "`top_p=1.5`",
     lambda c: c.generate(top_p=1.5),
     ValueError, "`top_p`"),
    ("generate", "`sampler` and `temperature`",
     lambda c: c.generate(sampler="greedy", temperature=0.5),
     ValueError, "`sampler`"),
    ("generate", "`sampler='beam'`",
     lambda c: c.generate(sampler="beam"),
     ValueError, "`sampler`"),
    ("generate", "a custom sampler with an export",
     lambda c: generate(c.loaded, "ab", 2, sampler=MySampler()),
     ValueError, "`sampler`"),
    ("MemoryTransformerLM.generate", "`max_new_tokens=0`",
     lambda c: c.model.generate([[1, 2]], 0),
     ValueError, "`max_new_tokens`"),
    ("MemoryTransformerLM.generate", "`sampler='beam'`",
     lambda c: c.model.generate([[1, 2]], 2, sampler="beam"),
     ValueError, "`sampler`"),
    ("MemoryTransformerLM.generate", "`inputs` a dict without token_ids",
     lambda c: c.model.generate({"ids": [[1, 2]]}, 2),
     ValueError, "`inputs`"),
    ("MemoryTransformerLM.generate", "`inputs` with T=0",
     lambda c: c.model.generate(np.zeros((1, 0), "int32"), 2),
     ValueError, "`inputs`"),
    ("MemoryTransformerLM.generate", "`seed=2**31`",
     lambda c: c.model.generate([[1, 2]], 2, seed=2 ** 31),
     ValueError, "`seed`"),
    ("TopKSampler", "`k=0`",
     lambda c: samplers.TopKSampler(k=0),
     ValueError, "`k`"),
    ("TopPSampler", "`p=0`",
     lambda c: samplers.TopPSampler(p=0),
     ValueError, "`p`"),
    ("TopPSampler", "`p=1.5`",
     lambda c: samplers.TopPSampler(p=1.5),
     ValueError, "`p`"),
    ("RandomSampler", "`temperature=0`",
     lambda c: samplers.RandomSampler(temperature=0),
     ValueError, "`temperature`"),
    ("RandomSampler", "`seed=-1`",
     lambda c: samplers.RandomSampler(seed=-1),
     ValueError, "`seed`"),
    ("samplers.get", "an unknown name",
     lambda c: samplers.get("beam"),
     ValueError, "`sampler`"),
    ("`generate` signature", "`max_new_tokens=0`",
     lambda c: c.generate_signature(max_new_tokens=0),
     IAE, "`max_new_tokens` must be >= 1"),
    ("`generate` signature", "`top_p=0`",
     lambda c: c.generate_signature(top_p=0.0),
     IAE, "`top_p` must lie in (0, 1]"),
    ("`generate` signature", "`top_k=-1`",
     lambda c: c.generate_signature(top_k=-1),
     IAE, "`top_k` must be >= 0"),
    ("`generate` signature", "`temperature=-1`",
     lambda c: c.generate_signature(temperature=-1.0),
     IAE, "`temperature` must be >= 0"),
    ("`generate` signature", "`token_ids` of rank 1",
     lambda c: c.generate_signature(token_ids=tf.constant([1, 2])),
     IAE, "`token_ids` must have rank 2"),
    ("`generate` signature", "`token_ids` >= vocab_size",
     lambda c: c.generate_signature(token_ids=tf.constant([[1, 300]])),
     IAE, "`token_ids` must be < vocab_size=256"),
    ("generate_text", "`tokenizer` not a tokenizer",
     lambda c: generate_text(c.model, "ab", 2, tokenizer="bytes"),
     ValueError, "`tokenizer`"),
    ("generate_text", "`prompt` a list, word tokenizer",
     lambda c: generate_text(small_lm(num_layers=1), ["the"], 2,
                             tokenizer=words(c)),
     ValueError, "`prompt`"),
    ("generate_text", "`prompt=''`, word tokenizer",
     lambda c: generate_text(small_lm(num_layers=1), "", 2,
                             tokenizer=words(c)),
     ValueError, "`prompt`"),
    # load_model
    ("load_model", "a missing path",
     lambda c: load_model(c.path("missing.keras")),
     FileNotFoundError, "missing.keras"),
    ("load_model", "a truncated .keras file",
     lambda c: load_model(c.truncated),
     ValueError, "truncated.keras"),
    ("load_model", "a zip without config.json named .keras",
     lambda c: load_model(a_zip_without_config(c)),
     ValueError, "not_a_model.keras"),
    ("load_model", "a file that is not .keras",
     lambda c: load_model(a_file(c)),
     ValueError, "precious.txt"),
    ("load_model", "a folder that is not an export",
     lambda c: load_model(a_folder_with(c, "notes", "notes.txt")),
     ValueError, "no saved_model.pb"),
    ("load_model", "an empty folder",
     lambda c: load_model(a_folder_with(c, "empty")),
     ValueError, "empty"),
    ("load_model", "another SavedModel",
     lambda c: load_model(another_saved_model(c)),
     ValueError, "not a keras_lrm export"),
    ("load_model", "an export with a truncated saved_model.pb",
     lambda c: load_model(a_damaged_export(c)),
     ValueError, "damaged_export"),
    ("load_model", "`path=None`",
     lambda c: load_model(None),
     ValueError, "`path` must be"),
    # recipes/generate.py
    ("recipes/generate.py", "`--model` missing",
     lambda c: c.recipe("--model", c.path("missing")),
     FileNotFoundError, "--model"),
    ("recipes/generate.py", "`--model` a truncated .keras file",
     lambda c: c.recipe("--model", c.truncated),
     ValueError, "truncated.keras"),
    ("recipes/generate.py", "`--model` a folder that is not an export",
     lambda c: c.recipe("--model", a_folder_with(c, "notes", "notes.txt")),
     ValueError, "notes"),
    ("recipes/generate.py", "`--max_new_tokens 0`",
     lambda c: c.recipe("--max_new_tokens", "0"),
     ValueError, "`max_new_tokens`"),
    ("recipes/generate.py", "`--temperature -1`",
     lambda c: c.recipe("--temperature", "-1"),
     ValueError, "`temperature`"),
    ("recipes/generate.py", "`--top_k -1`",
     lambda c: c.recipe("--top_k", "-1"),
     ValueError, "`top_k`"),
    ("recipes/generate.py", "`--top_p 1.5`",
     lambda c: c.recipe("--top_p", "1.5"),
     ValueError, "`top_p`"),
    ("recipes/generate.py", "`--seed -1`",
     lambda c: c.recipe("--seed", "-1"),
     ValueError, "`seed`"),
    ("recipes/generate.py", "`--prompt ''`",
     lambda c: c.recipe("--prompt", ""),
     ValueError, "`prompt`"),
    ("recipes/generate.py", "`--max_new_tokens abc`",
     lambda c: c.recipe("--max_new_tokens", "abc"),
     SystemExit, "2"),
]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Context(str(tmp_path_factory.mktemp("errors_export")))


def run_row(ctx, call, error_type):
    """The exception the row's call raised (the test fails if none)."""
    with pytest.raises(error_type) as error:
        call(ctx)
    return error.value


def message(error):
    """The message, and that of the exception it was raised during: for
    a signature call of the wrong dtype or rank, TensorFlow's binding
    names the input there and its fallback call fails after it."""
    text = str(error.code) if isinstance(error, SystemExit) else str(error)
    return f"{text} {error.__context__ or ''}"


@pytest.mark.parametrize(
    "entry,bad_input,call,error_type,names", ROWS,
    ids=[f"{row[0]}: {row[1]}" for row in ROWS])
def test_row(ctx, entry, bad_input, call, error_type, names, capsys):
    error = run_row(ctx, call, error_type)
    assert names in message(error), message(error)


def test_a_user_error_in_the_recipe_is_one_line_and_exit_1(tmp_path):
    missing = str(tmp_path / "missing")
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "recipes", "generate.py"),
         "--model", missing], capture_output=True, text=True, timeout=300,
        cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                           PYTHONPATH=ROOT))
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert f"error: --model {missing!r} does not exist" in done.stderr


def test_top_k_0_and_none_both_sample_every_token(ctx):
    prompt = np.array([[1, 2, 3]])
    every = ctx.generate(prompt=prompt, max_new_tokens=6, seed=3)
    np.testing.assert_array_equal(
        ctx.generate(prompt=prompt, max_new_tokens=6, seed=3, top_k=0),
        every)
    np.testing.assert_array_equal(
        ctx.generate(prompt=prompt, max_new_tokens=6, seed=3, top_k=256),
        every)
    assert isinstance(ctx.recipe("--top_k", "0", "--prompt", "ab"), str)
