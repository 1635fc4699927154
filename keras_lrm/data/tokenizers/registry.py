"""The tokenizers by name: `TOKENIZERS`, `get_tokenizer`, and
`load_tokenizer` for a saved one."""

import json
import os

import tensorflow as tf

from keras_lrm.data.options import check_options
from keras_lrm.data.options import make_with_options
from keras_lrm.data.tokenizers.byte_tokenizer import ByteTokenizer
from keras_lrm.data.tokenizers.sentencepiece_tokenizer import (
    SentencePieceTokenizer,
)
from keras_lrm.data.tokenizers.tokenizer import CONFIG_FILE
from keras_lrm.data.tokenizers.word_tokenizer import WordTokenizer

TOKENIZERS = ("bytes", "words", "sentencepiece")


def get_tokenizer(name, corpus=None, **kwargs):
    """Makes a tokenizer by name.

    Args:
        name: `"bytes"`; `"words"`, whose vocabulary is built from
            `corpus.texts("train")` (`kwargs` go to `WordTokenizer.build`);
            or `"sentencepiece"` (`kwargs`: `model_path`).
        corpus: the corpus whose train split makes the word vocabulary.

    Returns:
        The tokenizer.
    """
    if name == "bytes":
        return make_with_options(ByteTokenizer, kwargs)
    if name == "words":
        if corpus is None:
            raise ValueError(
                "The word tokenizer builds its vocabulary from a corpus's "
                "train split: pass `corpus`. Received: corpus=None"
            )
        check_options(WordTokenizer.build, kwargs, "WordTokenizer.build",
                      skip=("texts",))
        return WordTokenizer.build(corpus.texts("train"), **kwargs)
    if name == "sentencepiece":
        return make_with_options(SentencePieceTokenizer, kwargs)
    raise ValueError(
        f"`name` must be one of {TOKENIZERS}. Received: name={name!r}"
    )


def load_tokenizer(directory):
    """Loads the tokenizer that `Tokenizer.save(directory)` wrote.

    Args:
        directory: the folder holding `tokenizer.json`.

    Returns:
        A `ByteTokenizer`, `WordTokenizer` or `SentencePieceTokenizer`.
    """
    if not isinstance(directory, (str, os.PathLike)) or not str(directory):
        raise ValueError(
            "`directory` must be the folder holding tokenizer.json. "
            f"Received: directory={directory!r}"
        )
    path = os.path.join(os.fspath(directory), CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"No {CONFIG_FILE} in `directory` (written by "
            f"`tokenizer.save(directory)`). Received: directory={directory!r}"
        )
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            config = json.loads(f.read())
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not readable JSON ({error}): save the tokenizer "
            f"again. Received: directory={directory!r}"
        ) from None
    if not isinstance(config, dict):
        raise ValueError(
            f"{path} must hold a JSON object (a tokenizer config). "
            f"Received: directory={directory!r}"
        )
    name = config.get("name")
    if name == "bytes":
        tokenizer = ByteTokenizer()
    elif name == "words":
        tokenizer = WordTokenizer.from_directory(directory, config)
    elif name == "sentencepiece":
        tokenizer = SentencePieceTokenizer.from_directory(directory, config)
    else:
        raise ValueError(
            f"{path} names an unknown tokenizer; expected one of "
            f"{TOKENIZERS}. Received: name={name!r}"
        )
    if tokenizer.vocab_size != config.get("vocab_size"):
        raise ValueError(
            f"{path} records vocab_size={config.get('vocab_size')} but the "
            f"loaded tokenizer has {tokenizer.vocab_size}. "
            f"Received: directory={directory!r}"
        )
    return tokenizer

