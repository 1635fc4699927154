"""Data preparation: corpora, tokenizers and TFRecord shards.

A corpus gives raw documents per split, a tokenizer turns them into ids, and
`prepare` writes the ids as fixed-length TFRecord records with a manifest
that `load_manifest` checks:

>>> corpus = StdlibCorpus(max_bytes=2_000_000)
>>> manifest = prepare(corpus, ByteTokenizer(), output_dir="tfrecords")
>>> valid = read_tokens(manifest, "valid")

The subpackages: `corpora` (one module per corpus, `get_corpus`),
`tokenizers` (one per tokenizer, `get_tokenizer`, `load_tokenizer`),
`shards` (writing, checking and reading the TFRecord shards), `streams`
(Transformer-XL stream batching for training and evaluation) and `files`
(atomic writes, fingerprints and downloads on `tf.io.gfile`). Generated
tasks: `listops` (Long Range Arena's ListOps) and `synthetic` (the
Recurrent Memory Transformer's copy, reverse and retrieval).
`keras_lrm.data.tfrecords` is a deprecated alias of `shards`.
"""

from keras_lrm.data.corpora.enwik8 import Enwik8Corpus
from keras_lrm.data.corpora.enwik8 import enwik8_bounds
from keras_lrm.data.corpora.registry import CORPORA
from keras_lrm.data.corpora.registry import get_corpus
from keras_lrm.data.corpora.splits import SPLITS
from keras_lrm.data.corpora.stdlib import StdlibCorpus
from keras_lrm.data.corpora.text_files import TextFilesCorpus
from keras_lrm.data.corpora.tfds import TFDSCorpus
from keras_lrm.data.corpora.wikitext import WikiText103Corpus
from keras_lrm.data.shards.manifest import Manifest
from keras_lrm.data.shards.manifest import load_manifest
from keras_lrm.data.shards.manifest import naming_damaged_shards
from keras_lrm.data.shards.manifest_checks import CorruptDataError
from keras_lrm.data.shards.preparation import prepare
from keras_lrm.data.shards.records import decode_record
from keras_lrm.data.shards.records import read_tokens
from keras_lrm.data.tokenizers.byte_tokenizer import ByteTokenizer
from keras_lrm.data.tokenizers.registry import TOKENIZERS
from keras_lrm.data.tokenizers.registry import get_tokenizer
from keras_lrm.data.tokenizers.registry import load_tokenizer
from keras_lrm.data.tokenizers.sentencepiece_tokenizer import (
    SentencePieceTokenizer,
)
from keras_lrm.data.tokenizers.word_tokenizer import WordTokenizer

__all__ = [
    "CORPORA",
    "SPLITS",
    "TOKENIZERS",
    "ByteTokenizer",
    "CorruptDataError",
    "Enwik8Corpus",
    "Manifest",
    "SentencePieceTokenizer",
    "StdlibCorpus",
    "TFDSCorpus",
    "TextFilesCorpus",
    "WikiText103Corpus",
    "WordTokenizer",
    "decode_record",
    "enwik8_bounds",
    "get_corpus",
    "get_tokenizer",
    "load_manifest",
    "load_tokenizer",
    "naming_damaged_shards",
    "prepare",
    "read_tokens",
]
