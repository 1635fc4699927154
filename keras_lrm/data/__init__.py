"""Data preparation: corpora, tokenizers and TFRecord shards.

A corpus gives raw documents per split, a tokenizer turns them into ids, and
`prepare` writes the ids as fixed-length TFRecord records with a manifest
that `load_manifest` checks:

>>> corpus = StdlibCorpus(max_bytes=2_000_000)
>>> manifest = prepare(corpus, ByteTokenizer(), output_dir="tfrecords")
>>> valid = read_tokens(manifest, "valid")
"""

from keras_lrm.data.corpora import CORPORA
from keras_lrm.data.corpora import SPLITS
from keras_lrm.data.corpora import Enwik8Corpus
from keras_lrm.data.corpora import StdlibCorpus
from keras_lrm.data.corpora import TextFilesCorpus
from keras_lrm.data.corpora import TFDSCorpus
from keras_lrm.data.corpora import WikiText103Corpus
from keras_lrm.data.corpora import enwik8_bounds
from keras_lrm.data.corpora import get_corpus
from keras_lrm.data.manifest import naming_damaged_shards
from keras_lrm.data.tfrecords import CorruptDataError
from keras_lrm.data.tfrecords import Manifest
from keras_lrm.data.tfrecords import decode_record
from keras_lrm.data.tfrecords import load_manifest
from keras_lrm.data.tfrecords import prepare
from keras_lrm.data.tfrecords import read_tokens
from keras_lrm.data.tokenizers import TOKENIZERS
from keras_lrm.data.tokenizers import ByteTokenizer
from keras_lrm.data.tokenizers import SentencePieceTokenizer
from keras_lrm.data.tokenizers import WordTokenizer
from keras_lrm.data.tokenizers import get_tokenizer
from keras_lrm.data.tokenizers import load_tokenizer

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
