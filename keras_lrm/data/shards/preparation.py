"""`prepare`: tokenizes a corpus into TFRecord shards with a manifest (the
format is described in `keras_lrm.data.shards`)."""

import datetime
import json
import logging
import os

import numpy as np
import tensorflow as tf

from keras_lrm.arguments import check_positive
from keras_lrm.data.corpora.splits import SPLITS
from keras_lrm.data.files.temporaries import atomic_write
from keras_lrm.data.files.temporaries import remove_quietly
from keras_lrm.data.files.temporaries import remove_temp_files
from keras_lrm.data.shards.folders import claim_folder
from keras_lrm.data.shards.folders import is_own_name
from keras_lrm.data.shards.folders import preparation_directory
from keras_lrm.data.shards.manifest import MANIFEST_FILE
from keras_lrm.data.shards.manifest import Manifest
from keras_lrm.data.shards.manifest import load_manifest
from keras_lrm.data.shards.manifest_checks import FORMAT_VERSION
from keras_lrm.data.shards.manifest_checks import SHARD_PATTERN
from keras_lrm.data.shards.manifest_checks import token_dtype
from keras_lrm.data.shards.record_writer import SplitWriter
from keras_lrm.data.tokenizers.byte_tokenizer import ByteTokenizer
from keras_lrm.data.tokenizers.tokenizer import document_batches
from keras_lrm.data.tokenizers.word_tokenizer import WordTokenizer
from keras_lrm.progress import ProgressDisplay
from keras_lrm.progress import display_mode
from keras_lrm.version import __version__

logger = logging.getLogger("keras_lrm.data")

CORPUS_METHODS = ("get_config", "sources", "texts")
# Settings that must match for an earlier preparation to be reused.
REUSE_KEYS = ("corpus", "tokenizer", "vocab_size", "dtype", "chunk_size",
              "shard_tokens", "sources")


def prepare(corpus, tokenizer, output_dir="tfrecords", chunk_size=65536,
            shard_tokens=50_000_000, splits=SPLITS, progress=True,
            verify_existing=True):
    """Tokenizes `corpus` into TFRecord shards and writes a manifest.

    Writes into `<output_dir>/<corpus folder>/<tokenizer.name>/` (see
    `keras_lrm.data.shards` for the folder and the format). If a complete
    preparation with the same corpus config, tokenizer config,
    `chunk_size`, `shard_tokens`, splits and identical `corpus.sources()`
    is already there, nothing is written and its manifest is returned.

    Every file is written under a temporary name. Shards are renamed into
    place only once all splits are tokenized, after the old manifest is
    removed; the tokenizer and then the manifest follow. An interruption
    while tokenizing leaves an earlier preparation untouched; temporary
    files left by a killed run are removed by the next run.

    Args:
        corpus: a corpus (see `keras_lrm.data.corpora`).
        tokenizer: a tokenizer (see `keras_lrm.data.tokenizers`), or the
            name `"bytes"` or `"words"`. For `"words"` the tokenizer saved
            by an earlier preparation of the same corpus (same config and
            sources) is reused, else the vocabulary is built from the
            train split.
        output_dir: the root folder (local or `gs://`).
        chunk_size: tokens per record.
        shard_tokens: about this many tokens per shard (whole records).
        splits: the splits to prepare.
        progress: show a progress bar per split and log to stdout.
        verify_existing: how to check an existing preparation's shards
            before reusing it (a damaged one is prepared again): `True` or
            `"size"` (their sizes: catches missing and truncated shards),
            `"checksum"` (also their sha256: catches a shard damaged in
            place, reading every shard), `False` or `None` (no check).

    Returns:
        The `Manifest` of the preparation.

    Raises:
        ValueError: a bad argument; a folder that `prepare` did not make
            (it holds other files, or a `manifest.json` that is not
            keras_lrm's), named; or a corpus whose prepared splits hold no
            token at all (its files are empty).
    """
    _check_corpus(corpus)
    if not isinstance(output_dir, (str, os.PathLike)) or not str(output_dir):
        raise ValueError(
            "`output_dir` must be a folder path (local or `gs://`). "
            f"Received: output_dir={output_dir!r}"
        )
    output_dir = os.fspath(output_dir)
    check_positive("chunk_size", chunk_size)
    check_positive("shard_tokens", shard_tokens)
    splits = _check_splits_argument(splits)
    verify = _verify_mode(verify_existing)
    corpus_settings = _as_json({"corpus": corpus.get_config(),
                                "sources": corpus.sources()})
    tokenizer = _resolve_tokenizer(tokenizer, corpus, corpus_settings,
                                   output_dir, progress)
    vocab_size = tokenizer.vocab_size
    dtype = token_dtype(vocab_size)
    directory = preparation_directory(corpus, tokenizer.name, output_dir)
    claim_folder(directory)
    remove_temp_files(directory, is_own_name)
    settings = dict(corpus_settings, **_as_json({
        "tokenizer": tokenizer.get_config(),
        "vocab_size": vocab_size,
        "dtype": dtype,
        "chunk_size": chunk_size,
        "shard_tokens": shard_tokens,
    }))
    existing = _reusable(directory, settings, splits, verify)
    if existing is not None:
        _log(f"{directory} is up to date (same corpus, tokenizer, settings "
             "and sources): nothing to prepare.", progress)
        return existing
    records_per_shard = max(1, shard_tokens // chunk_size)
    writers = []
    try:
        for split in splits:
            writer = SplitWriter(directory, split, chunk_size,
                                 records_per_shard, dtype)
            writers.append(writer)
            _tokenize_split(corpus, tokenizer, split, writer, progress)
        if not any(writer.num_tokens for writer in writers):
            raise ValueError(
                f"Corpus {corpus.name!r} holds no text in the splits "
                f"{splits}: its {len(corpus_settings['sources'])} source "
                "file(s) are empty (or hold nothing for these splits). "
                f"Nothing was prepared. Received: corpus={corpus!r}"
            )
        shards = {w.split: w.finish() for w in writers}
    except BaseException:
        for writer in writers:
            writer.close()
            for path in writer.temp_paths:
                remove_quietly(path)
        raise
    data = dict(settings)
    data["format_version"] = FORMAT_VERSION
    data["splits"] = {
        split: {
            "num_tokens": sum(s["num_tokens"] for s in shards[split]),
            "files": [{k: s[k] for k in ("name", "num_records", "num_tokens",
                                         "size_bytes", "sha256")}
                      for s in shards[split]],
        }
        for split in splits
    }
    data["library_version"] = __version__
    data["created"] = datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds")
    _commit(directory, shards, tokenizer, data)
    counts = {split: data["splits"][split]["num_tokens"] for split in splits}
    _log(f"Prepared {directory}: {counts} tokens.", progress)
    return Manifest(directory, data)


def _resolve_tokenizer(tokenizer, corpus, corpus_settings, output_dir,
                       progress):
    """A tokenizer instance for `tokenizer`, which may be a name."""
    if not isinstance(tokenizer, str):
        return tokenizer
    if tokenizer == "bytes":
        return ByteTokenizer()
    if tokenizer != "words":
        raise ValueError(
            "`tokenizer` must be a tokenizer, or the name 'bytes' or "
            f"'words'. Received: tokenizer={tokenizer!r}"
        )
    directory = preparation_directory(corpus, tokenizer, output_dir)
    try:
        manifest = load_manifest(directory, verify=None)
        if all(manifest.data.get(key) == value
               for key, value in corpus_settings.items()):
            _log(f"Reusing the word vocabulary of {directory}.", progress)
            return manifest.tokenizer()
    except (ValueError, KeyError):
        pass
    _log(f"Building the word vocabulary of {corpus.name} (train split).",
         progress)
    return WordTokenizer.build(corpus.texts("train"), progress=progress)


def _check_corpus(corpus):
    missing = [m for m in CORPUS_METHODS
               if not callable(getattr(corpus, m, None))]
    if missing or not isinstance(getattr(corpus, "name", None), str):
        raise ValueError(
            "`corpus` must be a corpus (with `name`, `get_config()`, "
            "`sources()` and `texts(split)`; see `get_corpus`). "
            f"Received: corpus={corpus!r}"
        )


def _check_splits_argument(splits):
    """`prepare`'s `splits` argument as a tuple of distinct split names."""
    if isinstance(splits, str):
        splits = (splits,)
    splits = tuple(splits)
    if not splits or len(set(splits)) != len(splits) or \
            any(split not in SPLITS for split in splits):
        raise ValueError(
            f"`splits` must name distinct splits among {SPLITS}. "
            f"Received: splits={splits!r}"
        )
    return splits


def _as_json(value):
    """`value` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _verify_mode(verify_existing):
    """`load_manifest`'s `verify` for `prepare`'s `verify_existing`."""
    if verify_existing is True:
        return "size"
    if verify_existing is False or verify_existing is None:
        return None
    if isinstance(verify_existing, str) and \
            verify_existing in ("size", "checksum"):
        return verify_existing
    raise ValueError(
        "`verify_existing` must be True, False, None, \"size\" or "
        f"\"checksum\". Received: verify_existing={verify_existing!r}"
    )


def _reusable(directory, settings, splits, verify):
    """The existing manifest if it matches `settings`, else `None`."""
    if not tf.io.gfile.exists(os.path.join(directory, MANIFEST_FILE)):
        return None
    try:
        manifest = load_manifest(directory, verify=verify)
    except ValueError as error:
        logger.warning("Preparing %s again: %s", directory, error)
        return None
    changed = [key for key in REUSE_KEYS
               if manifest.data.get(key) != settings[key]]
    if set(manifest.splits) != set(splits):
        changed.append("splits")
    if not changed:
        return manifest
    logger.info("Preparing %s again: %s changed.", directory,
                ", ".join(changed))
    return None


def _tokenize_split(corpus, tokenizer, split, writer, progress):
    """Streams `split` through `tokenizer` into `writer`, checking ids."""
    bar = None
    if progress:
        print(f"Tokenizing {corpus.name} {split} ({tokenizer.name}):")
        # Corpora that know their size give the bar a total (and an ETA).
        size = getattr(corpus, "split_bytes", None)
        # A bar in a terminal or notebook, plain lines in a file.
        bar = ProgressDisplay("  read", size(split) if size else None,
                              display_mode("auto"), unit="bytes")
    vocab_size = tokenizer.vocab_size
    seen = 0
    for first, batch in document_batches(corpus.texts(split)):
        ids = tokenizer.tokenize(batch)
        flat = ids.flat_values.numpy()
        if flat.size and (flat.min() < 0 or flat.max() >= vocab_size):
            bad = int(np.argmax((flat < 0) | (flat >= vocab_size)))
            row = int(ids.value_rowids().numpy()[bad])
            raise ValueError(
                f"Token id {int(flat[bad])} is outside [0, {vocab_size}) in "
                f"document {first + row} of split {split!r} of corpus "
                f"{corpus.name!r}. Received: tokenizer={tokenizer!r}"
            )
        writer.add(flat.astype(np.int32, copy=False))
        seen += sum(len(text) for text in batch)
        if bar is not None:
            bar.update(seen)
    if bar is not None:
        bar.finish(seen)
        print(f"{split}: {writer.num_tokens} tokens.")
    if writer.num_tokens == 0:
        logger.warning("Split %r of corpus %r holds no tokens: it gets no "
                       "shard.", split, corpus.name)


def _commit(directory, shards, tokenizer, data):
    """Moves the new shards into place, then the tokenizer and manifest."""
    remove_quietly(os.path.join(directory, MANIFEST_FILE))
    keep = set()
    for entries in shards.values():
        for entry in entries:
            path = os.path.join(directory, entry["name"])
            tf.io.gfile.rename(entry["temp"], path, overwrite=True)
            keep.add(entry["name"])
    for name in tf.io.gfile.listdir(directory):
        if SHARD_PATTERN.match(name) and name not in keep:
            remove_quietly(os.path.join(directory, name))
    tokenizer.save(directory)
    atomic_write(os.path.join(directory, MANIFEST_FILE),
                 json.dumps(data, indent=1) + "\n")


def _log(message, progress):
    logger.info(message)
    if progress:
        print(message)

