"""What the tokenizers share: input coercion and saving."""

import json
import os

import numpy as np
import tensorflow as tf

from keras_lrm.data.files.temporaries import atomic_write

CONFIG_FILE = "tokenizer.json"
# Documents per tokenize call: large batches keep TensorFlow's per-call
# cost small (WikiText-103 lines are ~300 bytes each).
BATCH_DOCUMENTS = 16384
BATCH_BYTES = 1 << 22


def document_batches(texts, max_documents=BATCH_DOCUMENTS,
                     max_bytes=BATCH_BYTES):
    """Groups documents into `(index of the first, [documents])` batches.

    A batch closes when it holds `max_documents` documents or
    `max_bytes` bytes, so that a stream is never held whole.
    """
    batch, size, first = [], 0, 0
    for index, text in enumerate(texts):
        if not batch:
            first = index
        batch.append(text)
        size += len(text)
        if len(batch) >= max_documents or size >= max_bytes:
            yield first, batch
            batch, size = [], 0
    if batch:
        yield first, batch


def as_texts(texts):
    """`texts` as a 1-D string tensor; one string is a batch of one."""
    if isinstance(texts, (bytes, str)):
        texts = [texts]
    if isinstance(texts, (list, tuple)) and not texts:
        return tf.constant([], dtype=tf.string)
    try:
        texts = tf.convert_to_tensor(texts)
    except (ValueError, TypeError):
        raise ValueError(
            "`texts` must be a string or a list or 1-D tensor of strings "
            f"(bytes or str). Received: texts={texts!r:.100}"
        ) from None
    if texts.dtype != tf.string:
        raise ValueError(
            "`texts` must be strings (bytes or str). "
            f"Received: texts.dtype={texts.dtype.name}"
        )
    if texts.shape.rank == 0:
        texts = tf.reshape(texts, [1])
    if texts.shape.rank != 1:
        raise ValueError(
            "`texts` must be a list or 1-D tensor of strings. "
            f"Received: texts.shape={texts.shape}"
        )
    return texts


def as_ids(ids):
    """`ids` as a 2-D int32 RaggedTensor, and whether it was one sequence.

    Accepts a RaggedTensor, a dense tensor or array, or (nested) lists; a
    1-D input is one sequence.
    """
    if not isinstance(ids, tf.RaggedTensor):
        try:
            ids = _ids_tensor(ids)
        except (ValueError, TypeError):
            raise ValueError(
                "`ids` must be integer token ids: one sequence or a batch "
                f"of sequences. Received: ids={ids!r:.100}"
            ) from None
            if not ids.dtype.is_integer and ids.shape.num_elements() == 0:
                ids = tf.cast(ids, tf.int32)
    single = ids.shape.rank == 1
    if single:
        ids = ids[tf.newaxis]
    if ids.shape.rank != 2:
        raise ValueError(
            "`ids` must be one sequence or a batch of sequences of token "
            f"ids. Received: ids.shape={ids.shape}"
        )
    if not ids.dtype.is_integer:
        raise ValueError(
            f"`ids` must be integers. Received: ids.dtype={ids.dtype.name}"
        )
    if not isinstance(ids, tf.RaggedTensor):
        ids = tf.RaggedTensor.from_tensor(ids)
    return tf.cast(ids, tf.int32), single


def _ids_tensor(ids):
    if isinstance(ids, (list, tuple)) and ids and \
            isinstance(ids[0], (list, tuple, np.ndarray)):
        return tf.ragged.constant([list(row) for row in ids],
                                  dtype=tf.int32, ragged_rank=1)
    ids = tf.convert_to_tensor(ids)
    if not ids.dtype.is_integer and ids.shape.num_elements() == 0:
        ids = tf.cast(ids, tf.int32)
    return ids


def check_id_range(ids, vocab_size):
    """Raises `ValueError` (eagerly) unless every id is in
    `[0, vocab_size)`; in a `tf.function` the lookup itself fails."""
    if not tf.executing_eagerly():
        return
    flat = ids.flat_values
    if tf.size(flat) == 0:
        return
    low, high = int(tf.reduce_min(flat)), int(tf.reduce_max(flat))
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(
            f"`ids` must be token ids in [0, {vocab_size}). "
            f"Received: an id {bad}"
        )


def finish_detokenize(strings, single):
    """A scalar for one sequence, else the 1-D batch of strings."""
    return strings[0] if single else strings


class Tokenizer:
    """Shared behaviour of the tokenizers: saving to a folder.

    A subclass defines `name`, `vocab_size`, `tokenize`, `detokenize`,
    `get_config` and, when it needs files besides `tokenizer.json`,
    `assets()`.
    """

    def assets(self):
        """Extra files `save` writes: `{file name: bytes}`."""
        return {}

    def save(self, directory):
        """Writes `tokenizer.json` (and the assets) into `directory`.

        Every file is written under a temporary name and renamed into
        place; `tokenizer.json` goes last. `load_tokenizer(directory)`
        reads them back.
        """
        tf.io.gfile.makedirs(directory)
        for name, data in self.assets().items():
            atomic_write(os.path.join(directory, name), data)
        atomic_write(os.path.join(directory, CONFIG_FILE),
                     json.dumps(self.get_config(), indent=2) + "\n")
        return directory

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"
