"""A user-provided SentencePiece model (no training here)."""

import hashlib
import os
import re

import tensorflow as tf
import tensorflow_text as tf_text

from keras_lrm.data.tokenizers.tokenizer import Tokenizer
from keras_lrm.data.tokenizers.tokenizer import as_ids
from keras_lrm.data.tokenizers.tokenizer import as_texts
from keras_lrm.data.tokenizers.tokenizer import check_id_range
from keras_lrm.data.tokenizers.tokenizer import finish_detokenize

MODEL_FILE = "sentencepiece.model"


class SentencePieceTokenizer(Tokenizer):
    """Wraps `tensorflow_text.SentencepieceTokenizer` around a `.model` file.

    Train the model elsewhere (e.g. with the `sentencepiece` package); this
    class only applies it. `save` copies the model beside `tokenizer.json`.

    Args:
        model_path: the serialized SentencePiece model (local or `gs://`).

    Example:

    >>> tokenizer = SentencePieceTokenizer("spm.model")
    >>> ids = tokenizer.tokenize([b"Hello world"])
    """

    name = "sentencepiece"

    def __init__(self, model_path):
        if not isinstance(model_path, str) or \
                not tf.io.gfile.exists(model_path):
            raise FileNotFoundError(
                "`model_path` must be an existing SentencePiece .model "
                f"file. Received: model_path={model_path!r}"
            )
        with tf.io.gfile.GFile(model_path, "rb") as f:
            self._model = f.read()
        self.model_path = model_path
        try:
            self._tokenizer = tf_text.SentencepieceTokenizer(
                model=self._model, out_type=tf.int32)
            self._vocab_size = int(self._tokenizer.vocab_size())
        except (tf.errors.InvalidArgumentError, tf.errors.InternalError) \
                as error:
            raise ValueError(
                "`model_path` is not a SentencePiece model "
                f"({_reason(error)}). "
                f"Received: model_path={model_path!r}"
            ) from None

    @property
    def vocab_size(self):
        return self._vocab_size

    def tokenize(self, texts):
        """Piece ids of each text: int32 `tf.RaggedTensor` `(batch, None)`."""
        return self._tokenizer.tokenize(as_texts(texts))

    def detokenize(self, ids):
        """The text of one sequence (scalar) or of a batch `(batch,)`."""
        ids, single = as_ids(ids)
        check_id_range(ids, self.vocab_size)
        return finish_detokenize(self._tokenizer.detokenize(ids), single)

    def assets(self):
        return {MODEL_FILE: self._model}

    def get_config(self):
        return {
            "name": self.name,
            "vocab_size": self.vocab_size,
            "model_sha256": hashlib.sha256(self._model).hexdigest(),
        }

    @classmethod
    def from_directory(cls, directory, config):
        """Loads the model saved in `directory`, checked against `config`."""
        tokenizer = cls(os.path.join(directory, MODEL_FILE))
        digest = tokenizer.get_config()["model_sha256"]
        if digest != config["model_sha256"]:
            raise ValueError(
                f"{tokenizer.model_path} does not match tokenizer.json "
                f"(sha256 {digest}, expected {config['model_sha256']}). "
                f"Received: directory={directory!r}"
            )
        return tokenizer


def _reason(error):
    """TensorFlow's message without its `{{function_node ...}}` prefix."""
    return re.sub(r"\{\{[^}]*\}\}\s*", "", error.message).strip()[:200]
