"""Corpora: raw text with fixed train/valid/test splits, and a registry.

A corpus is any object with:

- `name`: a short string, the folder name of its preparations;
- optionally `folder_name`: the folder name instead of `name` when the
  corpus reads a user's paths (it should then depend on them, so two
  sources never share a folder: see
  `keras_lrm.data.shards.folders`);
- `get_config()`: a JSON-able dict, including `name`;
- `sources()`: a list of `{"name", "size", "sha256"}` dicts fingerprinting
  the raw inputs (TFDS corpora give the dataset version and split sizes);
- `texts(split)`: an iterator over the documents of `split` (`"train"`,
  `"valid"` or `"test"`) as `bytes`, always in the same order.

The token stream of a split is the concatenation of the tokenized
documents, so a corpus may cut a long text into blocks of whole lines.
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

__all__ = [
    "CORPORA",
    "SPLITS",
    "Enwik8Corpus",
    "StdlibCorpus",
    "TFDSCorpus",
    "TextFilesCorpus",
    "WikiText103Corpus",
    "enwik8_bounds",
    "get_corpus",
]
