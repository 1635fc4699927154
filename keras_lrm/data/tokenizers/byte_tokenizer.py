"""Byte-level tokenization: one token per byte, as for enwik8."""

import tensorflow as tf
import tensorflow_text as tf_text

from keras_lrm.data.tokenizers.tokenizer import Tokenizer
from keras_lrm.data.tokenizers.tokenizer import as_ids
from keras_lrm.data.tokenizers.tokenizer import as_texts
from keras_lrm.data.tokenizers.tokenizer import check_id_range
from keras_lrm.data.tokenizers.tokenizer import finish_detokenize

# The string of each byte value, for detokenizing by lookup.
BYTE_STRINGS = [bytes([i]) for i in range(256)]


class ByteTokenizer(Tokenizer):
    """Each byte of the text is a token, its id the byte value (0 to 255).

    Splits with `tensorflow_text.ByteSplitter`, so any byte string works
    (it need not be valid UTF-8) and `detokenize(tokenize(x))` gives back
    exactly `x`.

    Example:

    >>> tokenizer = ByteTokenizer()
    >>> tokenizer.tokenize([b"hi"]).to_list()
    [[104, 105]]
    >>> tokenizer.detokenize([104, 105]).numpy()
    b'hi'
    """

    name = "bytes"
    vocab_size = 256

    def __init__(self):
        self._splitter = tf_text.ByteSplitter()
        self._strings = tf.constant(BYTE_STRINGS)

    def tokenize(self, texts):
        """Byte ids of each text.

        Args:
            texts: a list or 1-D tensor of strings (one string is a batch
                of one).

        Returns:
            An int32 `tf.RaggedTensor` of shape `(batch, None)`.
        """
        texts = as_texts(texts)
        return tf.cast(self._splitter.split(texts), tf.int32)

    def detokenize(self, ids):
        """The bytes of each sequence of ids.

        Args:
            ids: one sequence `(length,)` or a batch `(batch, None)`, as a
                RaggedTensor, tensor, array or lists.

        Returns:
            A scalar string tensor for one sequence, else `(batch,)`.
        """
        ids, single = as_ids(ids)
        check_id_range(ids, self.vocab_size)
        strings = tf.strings.reduce_join(
            tf.gather(self._strings, ids), axis=-1)
        return finish_detokenize(strings, single)

    def get_config(self):
        return {"name": self.name, "vocab_size": self.vocab_size}

    @classmethod
    def from_config(cls, config):
        del config
        return cls()
