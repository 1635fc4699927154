"""Word-level tokenization as Transformer-XL does for WikiText-103."""

import collections
import hashlib
import os

import tensorflow as tf
import tensorflow_text as tf_text

from keras_lrm.arguments import check_positive
from keras_lrm.data.tokenizers.tokenizer import Tokenizer
from keras_lrm.data.tokenizers.tokenizer import as_ids
from keras_lrm.data.tokenizers.tokenizer import as_texts
from keras_lrm.data.tokenizers.tokenizer import check_id_range
from keras_lrm.data.tokenizers.tokenizer import document_batches
from keras_lrm.data.tokenizers.tokenizer import finish_detokenize
from keras_lrm.progress import ProgressDisplay
from keras_lrm.progress import display_mode

VOCAB_FILE = "vocab.txt"
# Python's `str.split()` whitespace, so that words match Transformer-XL's.
# (tensorflow_text.WhitespaceTokenizer 2.21 cuts multi-byte whitespace such
# as U+00A0 in the middle, leaving a stray byte on the word before.)
WHITESPACE = ("[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a"
              "\u2028\u2029\u202f\u205f\u3000]+")


def _as_bytes(token):
    return token.encode("utf-8") if isinstance(token, str) else bytes(token)


def split_lines(texts):
    """Lines of each text: `(batch, lines)` strings, newlines dropped.

    A text is a sequence of lines, each ended by `"\\n"` except perhaps the
    last: `b"a\\nb"` and `b"a\\nb\\n"` both hold two lines, `b"\\n"` one
    empty line and `b""` none.
    """
    stripped = tf.strings.regex_replace(texts, "\n$", "")
    lines = tf.strings.split(stripped, "\n")
    nonempty = tf.strings.length(texts) > 0
    keep = lines.with_flat_values(tf.repeat(nonempty, lines.row_lengths()))
    return tf.ragged.boolean_mask(lines, keep)


def split_words(texts):
    """Words of each line of each text: `(batch, lines, words)` strings."""
    return tf_text.regex_split(split_lines(texts), WHITESPACE)


class WordTokenizer(Tokenizer):
    """Whitespace words with `<eos>` ending each line (Transformer-XL).

    Each line of a text (see `split_lines`) becomes its words, split on
    whitespace as Python's `str.split()` does, followed by `eos_token`; a
    blank line is just `eos_token`. Words not in the vocabulary map to the
    id of `unk_token` (WikiText-103 already holds the literal `<unk>`).
    Lookup runs in TensorFlow (`tf.lookup.StaticHashTable`).

    Build the vocabulary from the train split only with
    `WordTokenizer.build(corpus.texts("train"))`.

    Args:
        vocabulary: the tokens, id = position: a list of `str`/`bytes`, or
            the path of a `vocab.txt` (one token per line). Must hold
            `unk_token` and `eos_token`.
        unk_token: the token of out-of-vocabulary words.
        eos_token: the token ending each line.

    Example:

    >>> tokenizer = WordTokenizer.build([b"a b\\n", b"b\\n"], progress=False)
    >>> tokenizer.tokenize([b"b c\\n"]).to_list()
    [[2, 0, 1]]
    >>> tokenizer.detokenize([2, 0, 1]).numpy()
    b'b <unk>\\n'
    """

    name = "words"

    def __init__(self, vocabulary, unk_token="<unk>", eos_token="<eos>"):
        if isinstance(vocabulary, str):
            if not tf.io.gfile.exists(vocabulary):
                raise FileNotFoundError(
                    "`vocabulary` must be a list of tokens or an existing "
                    f"vocab.txt. Received: vocabulary={vocabulary!r}"
                )
            with tf.io.gfile.GFile(vocabulary, "rb") as f:
                vocabulary = f.read().split(b"\n")
            if vocabulary and vocabulary[-1] == b"":
                vocabulary.pop()
        if not isinstance(vocabulary, (list, tuple)):
            raise ValueError(
                "`vocabulary` must be a list of tokens or a vocab.txt path. "
                f"Received: vocabulary={vocabulary!r}"
            )
        tokens = [_as_bytes(t) for t in vocabulary]
        for token in tokens:
            if not token or b"\n" in token:
                raise ValueError(
                    "Every token in `vocabulary` must be non-empty and "
                    f"without newlines. Received: token={token!r}"
                )
        if len(set(tokens)) != len(tokens):
            seen = collections.Counter(tokens)
            twice = [t for t, count in seen.items() if count > 1][:5]
            raise ValueError(
                "`vocabulary` holds the same token twice. "
                f"Received: repeated tokens={twice!r}"
            )
        index = {token: i for i, token in enumerate(tokens)}
        for arg, special in (("unk_token", unk_token),
                             ("eos_token", eos_token)):
            if _as_bytes(special) not in index:
                raise ValueError(
                    f"`vocabulary` must hold `{arg}`. "
                    f"Received: {arg}={special!r}"
                )
        self.vocabulary = tokens
        self.unk_token = unk_token
        self.eos_token = eos_token
        self.unk_id = index[_as_bytes(unk_token)]
        self.eos_id = index[_as_bytes(eos_token)]
        keys = tf.constant(tokens, dtype=tf.string)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                keys, tf.range(len(tokens), dtype=tf.int32)),
            default_value=self.unk_id)
        # The string each id turns into: the word, or a newline for <eos>.
        self._strings = tf.tensor_scatter_nd_update(
            keys, [[self.eos_id]], ["\n"])

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    @classmethod
    def build(cls, texts, max_size=None, min_count=1, progress=True,
              unk_token="<unk>", eos_token="<eos>"):
        """Builds the vocabulary from `texts` (the train split only).

        Words are counted in batches (never all at once) and ordered by
        count, ties by first appearance, after `unk_token` (id 0) and
        `eos_token` (id 1).

        Args:
            texts: an iterable of `bytes` documents.
            max_size: at most this many tokens, the two specials included;
                `None` for no limit.
            min_count: leave out words seen fewer times.
            progress: show a progress bar (documents counted).
            unk_token: the out-of-vocabulary token.
            eos_token: the end-of-line token.

        Returns:
            A `WordTokenizer`.
        """
        if max_size is not None:
            check_positive("max_size", max_size)
            if max_size < 2:
                raise ValueError(
                    "`max_size` must leave room for `unk_token` and "
                    f"`eos_token`. Received: max_size={max_size}"
                )
        check_positive("min_count", min_count)
        counts = collections.Counter()
        # A bar in a terminal or notebook, plain lines in a file.
        bar = ProgressDisplay("  counted", None, display_mode("auto"),
                              unit="documents") if progress else None
        documents = 0
        for _, batch in document_batches(texts):
            words = split_words(tf.constant(batch)).flat_values
            unique, _, count = tf.unique_with_counts(words)
            counts.update(dict(zip(unique.numpy().tolist(),
                                   count.numpy().tolist(), strict=True)))
            documents += len(batch)
            if bar is not None:
                bar.update(documents)
        if bar is not None:
            bar.finish(documents)
        specials = [_as_bytes(unk_token), _as_bytes(eos_token)]
        words = [word for word, count in counts.most_common()
                 if count >= min_count and word not in specials]
        if max_size is not None:
            words = words[:max_size - len(specials)]
        return cls(specials + words, unk_token=unk_token,
                   eos_token=eos_token)

    def tokenize(self, texts):
        """Word ids of each text, `<eos>` after every line.

        Args:
            texts: a list or 1-D tensor of strings (one string is a batch
                of one).

        Returns:
            An int32 `tf.RaggedTensor` of shape `(batch, None)`.
        """
        lines = split_lines(as_texts(texts))
        words = tf_text.regex_split(lines, WHITESPACE)
        ids = words.with_flat_values(self._table.lookup(words.flat_values))
        eos = lines.with_flat_values(
            tf.fill([tf.shape(lines.flat_values)[0], 1], self.eos_id))
        return tf.concat([ids, eos], axis=2).merge_dims(1, 2)

    def detokenize(self, ids):
        """Words joined by spaces, each `<eos>` turned into a newline.

        Args:
            ids: one sequence `(length,)` or a batch `(batch, None)`.

        Returns:
            A scalar string tensor for one sequence, else `(batch,)`.
        """
        ids, single = as_ids(ids)
        check_id_range(ids, self.vocab_size)
        flat = ids.flat_values
        is_eos = tf.equal(flat, self.eos_id)
        next_is_eos = tf.concat([is_eos[1:], [True]], axis=0)
        rows = ids.value_rowids()
        position = tf.range(tf.size(flat, out_type=tf.int64)) - \
            tf.gather(ids.row_starts(), rows)
        is_last = tf.equal(position, tf.gather(ids.row_lengths(), rows) - 1)
        # A space goes between two words, not around a newline.
        space = ~(is_eos | next_is_eos | is_last)
        pieces = tf.gather(self._strings, flat) + tf.where(space, " ", "")
        strings = tf.strings.reduce_join(ids.with_flat_values(pieces),
                                         axis=-1)
        return finish_detokenize(strings, single)

    def assets(self):
        return {VOCAB_FILE: b"\n".join(self.vocabulary) + b"\n"}

    def get_config(self):
        """The settings and a sha256 of the vocabulary.

        The vocabulary itself is saved to `vocab.txt` by `save`.
        """
        return {
            "name": self.name,
            "vocab_size": self.vocab_size,
            "unk_token": _as_str(self.unk_token),
            "eos_token": _as_str(self.eos_token),
            "vocabulary_sha256": hashlib.sha256(
                self.assets()[VOCAB_FILE]).hexdigest(),
        }

    @classmethod
    def from_directory(cls, directory, config):
        """Loads `vocab.txt` from `directory`, checked against `config`."""
        path = os.path.join(directory, VOCAB_FILE)
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
        digest = hashlib.sha256(data).hexdigest()
        if digest != config["vocabulary_sha256"]:
            raise ValueError(
                f"{path} does not match tokenizer.json (sha256 {digest}, "
                f"expected {config['vocabulary_sha256']}). "
                f"Received: directory={directory!r}"
            )
        return cls(path, unk_token=config["unk_token"],
                   eos_token=config["eos_token"])


def _as_str(token):
    return token.decode("utf-8") if isinstance(token, bytes) else token
