"""Checks that a `manifest.json` holds what the format says, field by field.

A manifest is read back from a file a user can edit, copy or damage: every
field gets its type and range checked before anything trusts it, and shard
names must be the plain file names `prepare` writes, so that a manifest can
only point at files in its own folder.
"""

import re

FORMAT_VERSION = 1
DTYPES = ("uint8", "uint16", "int32")
REQUIRED_KEYS = ("format_version", "vocab_size", "dtype", "chunk_size",
                 "splits", "tokenizer")
SHARD_PATTERN = re.compile(r"^(train|valid|test)-\d{5}-of-\d{5}\.tfrecord$")
SPLIT_NAMES = ("train", "valid", "test")
ENTRY_KEYS = ("name", "num_records", "num_tokens", "size_bytes", "sha256")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CorruptDataError(ValueError):
    """A prepared file is missing, truncated, changed or unreadable.

    The message names the file.
    """


def token_dtype(vocab_size):
    """The narrowest stored dtype for ids in `[0, vocab_size)`.

    `"uint8"` up to 256 ids, `"uint16"` up to 65536, else `"int32"`.
    """
    if not _is_int(vocab_size) or vocab_size < 1:
        raise ValueError(
            "`vocab_size` must be an integer >= 1. "
            f"Received: vocab_size={vocab_size!r}"
        )
    if vocab_size <= 256:
        return "uint8"
    if vocab_size <= 65536:
        return "uint16"
    return "int32"


def shard_name(split, index, count):
    """`{split}-{index:05d}-of-{count:05d}.tfrecord`."""
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _damaged(path, field, expected, value):
    return CorruptDataError(
        f"{path} is damaged: `{field}` must be {expected}. Prepare the data "
        f"again. Received: {field}={value!r}"
    )


def _int_at_least(path, field, value, low):
    if not _is_int(value) or value < low:
        raise _damaged(path, field, f"an integer >= {low}", value)


def check_manifest_data(path, data):
    """Raises unless `data` is a well-formed manifest (format version 1).

    Args:
        path: the manifest's path, named in the errors.
        data: the parsed JSON.

    Raises:
        CorruptDataError: a field is missing, of the wrong type or out of
            range, or a shard name is not the plain name `prepare` writes
            (so a manifest never names a file outside its folder); the
            message names `path` and the field.
        ValueError: `format_version` is an integer newer than this
            library reads.
    """
    if not isinstance(data, dict) or any(k not in data for k in REQUIRED_KEYS):
        raise CorruptDataError(
            f"{path} is not a keras_lrm manifest (it needs the keys "
            f"{REQUIRED_KEYS})."
        )
    version = data["format_version"]
    _int_at_least(path, "format_version", version, 1)
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version={version!r}, newer than the "
            f"supported {FORMAT_VERSION}: upgrade keras_lrm or prepare the "
            "data again."
        )
    vocab_size = data["vocab_size"]
    _int_at_least(path, "vocab_size", vocab_size, 1)
    if data["dtype"] != token_dtype(vocab_size):
        raise _damaged(
            path, "dtype", f"{token_dtype(vocab_size)!r} for vocab_size="
            f"{vocab_size} (one of {DTYPES}, the narrowest that holds every "
            "id)", data["dtype"])
    chunk_size = data["chunk_size"]
    _int_at_least(path, "chunk_size", chunk_size, 1)
    if "shard_tokens" in data:
        _int_at_least(path, "shard_tokens", data["shard_tokens"], 1)
    tokenizer = data["tokenizer"]
    if not isinstance(tokenizer, dict) or \
            not isinstance(tokenizer.get("name"), str):
        raise _damaged(path, "tokenizer", "a tokenizer config with a `name`",
                       tokenizer)
    if tokenizer.get("vocab_size", vocab_size) != vocab_size:
        raise _damaged(path, "tokenizer.vocab_size",
                       f"the manifest's vocab_size {vocab_size}",
                       tokenizer.get("vocab_size"))
    if "corpus" in data and not isinstance(data["corpus"], dict):
        raise _damaged(path, "corpus", "a corpus config (a JSON object)",
                       data["corpus"])
    if "sources" in data and not isinstance(data["sources"], list):
        raise _damaged(path, "sources", "a list of source fingerprints",
                       data["sources"])
    _check_manifest_splits(path, data["splits"], chunk_size)


def _check_manifest_splits(path, splits, chunk_size):
    """The manifest's `splits` field: known split names, each with its
    token count and shard entries, the count their sum."""
    shape = ("`{split: {'num_tokens', 'files': "
             f"[{{{', '.join(ENTRY_KEYS)}}}]}}}}`")
    if not isinstance(splits, dict) or not splits:
        raise _damaged(path, "splits", f"a non-empty {shape}", splits)
    for split, info in splits.items():
        if split not in SPLIT_NAMES:
            raise _damaged(path, "splits", f"keyed by splits among "
                           f"{SPLIT_NAMES}", split)
        field = f"splits.{split}"
        if not isinstance(info, dict) or \
                not isinstance(info.get("files"), list):
            raise _damaged(path, field, "{'num_tokens', 'files': [...]}",
                           info)
        _int_at_least(path, f"{field}.num_tokens", info.get("num_tokens"), 0)
        files = info["files"]
        for index, entry in enumerate(files):
            _check_entry(path, f"{field}.files[{index}]", entry,
                         shard_name(split, index, len(files)), chunk_size,
                         last=index == len(files) - 1)
        total = sum(entry["num_tokens"] for entry in files)
        if total != info["num_tokens"]:
            raise _damaged(path, f"{field}.num_tokens",
                           f"the sum of its shards' tokens, {total}",
                           info["num_tokens"])


def _check_entry(path, field, entry, expected_name, chunk_size, last):
    if not isinstance(entry, dict) or any(k not in entry for k in ENTRY_KEYS):
        raise _damaged(path, field, f"{{{', '.join(ENTRY_KEYS)}}}", entry)
    name = entry["name"]
    if not isinstance(name, str) or name != expected_name:
        outside = isinstance(name, str) and (
            "/" in name or "\\" in name or ".." in name or
            name.startswith("~") or ":" in name)
        where = " (a path outside the manifest's folder is never read)" \
            if outside else ""
        raise _damaged(path, f"{field}.name", f"the plain shard file name "
                       f"{expected_name!r}{where}", name)
    _int_at_least(path, f"{field}.num_records", entry["num_records"], 1)
    _int_at_least(path, f"{field}.num_tokens", entry["num_tokens"], 1)
    _int_at_least(path, f"{field}.size_bytes", entry["size_bytes"], 1)
    if not isinstance(entry["sha256"], str) or \
            not SHA256.match(entry["sha256"]):
        raise _damaged(path, f"{field}.sha256", "64 lowercase hex digits",
                       entry["sha256"])
    records, tokens = entry["num_records"], entry["num_tokens"]
    full = records * chunk_size
    # Every record holds chunk_size tokens but the last of the split.
    fits = (full - chunk_size < tokens <= full) if last else tokens == full
    if not fits:
        expected = (f"in ({full - chunk_size}, {full}]" if last
                    else f"{full}")
        raise _damaged(path, f"{field}.num_tokens",
                       f"{expected} for {records} records of chunk_size "
                       f"{chunk_size}", tokens)
