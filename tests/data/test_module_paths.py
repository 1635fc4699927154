"""Module paths of `keras_lrm.data`: the subpackages give the public names,
the old `keras_lrm.data.tfrecords` still imports with a DeprecationWarning,
and the library itself never imports it."""

import importlib
import subprocess
import sys

import pytest

import keras_lrm.data


def test_subpackages_give_the_public_names():
    from keras_lrm.data import corpora
    from keras_lrm.data import shards
    from keras_lrm.data import streams
    from keras_lrm.data import tokenizers

    assert corpora.get_corpus is keras_lrm.data.get_corpus
    assert corpora.CORPORA is keras_lrm.data.CORPORA
    assert tokenizers.load_tokenizer is keras_lrm.data.load_tokenizer
    assert tokenizers.TOKENIZERS is keras_lrm.data.TOKENIZERS
    assert shards.prepare is keras_lrm.data.prepare
    assert shards.CorruptDataError is keras_lrm.data.CorruptDataError
    assert callable(streams.stream_dataset)
    assert callable(streams.distribute_streams)


def test_tfrecords_path_warns_and_gives_the_same_objects():
    sys.modules.pop("keras_lrm.data.tfrecords", None)
    with pytest.warns(DeprecationWarning, match="keras_lrm.data.shards"):
        tfrecords = importlib.import_module("keras_lrm.data.tfrecords")
    for name in ("prepare", "load_manifest", "read_tokens", "decode_record",
                 "Manifest", "CorruptDataError", "token_dtype"):
        assert getattr(tfrecords, name) is getattr(keras_lrm.data.shards,
                                                   name)


def test_the_library_never_imports_the_deprecated_path():
    code = ("import sys\n"
            "import keras_lrm, keras_lrm.data, keras_lrm.training, "
            "keras_lrm.tuning, keras_lrm.export\n"
            "print(sorted(m for m in sys.modules "
            "if m == 'keras_lrm.data.tfrecords'))\n")
    result = subprocess.run([sys.executable, "-c", code], check=True,
                            capture_output=True, text=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "[]"
