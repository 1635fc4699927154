"""Tokenized corpora as TFRecord shards with a manifest.

`prepare` (`preparation.py`) writes them, `load_manifest` (`manifest.py`)
checks them and `read_tokens` (`records.py`) reads a split back.

The format (version 1), which the stream reader relies on:

- Folder `<output_dir>/<corpus folder>/<tokenizer.name>/`. The corpus
  folder is the plain corpus name for the fixed public corpora
  (`stdlib/`, `enwik8/`, `wikitext103/`, `pg19/`, `tiny_shakespeare/`)
  and the name plus a short hash of where the corpus reads for one read
  from a user's files (`text-1a2b3c4d/` for `TextFilesCorpus`,
  `stdlib-1a2b3c4d/` for `StdlibCorpus(root=...)`), so two sources never
  share a folder; see `folders.py`. A folder holds one preparation: a rerun
  with the same source reuses it, a changed setting or file content
  prepares it again in place.
- The folder is `prepare`'s own: it holds the marker `.keras_lrm_data`,
  written before anything else. `prepare` refuses a folder holding other
  files without the marker, and in its own folder only replaces or removes
  the files named below (and their temporaries).
- Shards `{split}-{i:05d}-of-{n:05d}.tfrecord`, uncompressed TFRecord files.
  Each record is a serialized `tf.train.Example` with one feature,
  `"tokens"`: a bytes_list holding one value, the token ids as raw
  little-endian integers of the manifest's `dtype` (`"uint8"` when
  `vocab_size <= 256`, `"uint16"` when `<= 65536`, else `"int32"`).
- Every record holds exactly `chunk_size` tokens except the last record of
  a split, which may be shorter but never empty. Records follow the token
  order, shard 0 first; a shard holds whole records, about `shard_tokens`
  tokens.
- A split's token stream is the concatenation, in corpus order, of
  `tokenizer.tokenize` of each document (no separator added).
- `manifest.json` (see `manifest.py`), written last, marks a complete
  preparation; the tokenizer is saved beside it (`tokenizer.json`,
  `vocab.txt`, `sentencepiece.model`). Its shard names are plain file names
  of the folder, checked when it is loaded.
- Temporaries are `<final name>.tmp-<pid>-<machine>-<random>` (shards:
  `train.tmp-...`); the next run removes those whose writer has ended,
  never those of a preparation still running (see
  `keras_lrm.data.files.temporaries`).
"""

from keras_lrm.data.shards.manifest import Manifest
from keras_lrm.data.shards.manifest import load_manifest
from keras_lrm.data.shards.manifest import naming_damaged_shards
from keras_lrm.data.shards.manifest_checks import CorruptDataError
from keras_lrm.data.shards.manifest_checks import token_dtype
from keras_lrm.data.shards.preparation import prepare
from keras_lrm.data.shards.records import decode_record
from keras_lrm.data.shards.records import read_tokens

__all__ = [
    "CorruptDataError",
    "Manifest",
    "decode_record",
    "load_manifest",
    "naming_damaged_shards",
    "prepare",
    "read_tokens",
    "token_dtype",
]
