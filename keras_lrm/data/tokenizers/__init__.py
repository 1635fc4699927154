"""Tokenizers on tensorflow-text, and loading a saved one.

Every tokenizer has `name` (`"bytes"`, `"words"`, `"sentencepiece"`),
`vocab_size`, `tokenize(texts)` (a list or 1-D tensor of strings to an int32
`tf.RaggedTensor`, one row per text), `detokenize(ids)`, `get_config()` and
`save(directory)`, which writes `tokenizer.json` (and `vocab.txt` or the
SentencePiece model) atomically. `load_tokenizer(directory)` reads it back.
"""

from keras_lrm.data.tokenizers.byte_tokenizer import ByteTokenizer
from keras_lrm.data.tokenizers.registry import TOKENIZERS
from keras_lrm.data.tokenizers.registry import get_tokenizer
from keras_lrm.data.tokenizers.registry import load_tokenizer
from keras_lrm.data.tokenizers.sentencepiece_tokenizer import (
    SentencePieceTokenizer,
)
from keras_lrm.data.tokenizers.tokenizer import Tokenizer
from keras_lrm.data.tokenizers.word_tokenizer import WordTokenizer

__all__ = [
    "TOKENIZERS",
    "ByteTokenizer",
    "SentencePieceTokenizer",
    "Tokenizer",
    "WordTokenizer",
    "get_tokenizer",
    "load_tokenizer",
]
