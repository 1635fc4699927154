"""Streaming generation: the prompt in segments, then one token per step.

Every new token is a `time = 1` call with the memory of the calls before,
so the cost of a token does not grow with how much has been generated:
the memory is a fixed-size state, as in an RNN. The state is the key/value
cache (`call_with_cache`), so a step projects only its own token, not every
memory row again.
"""

import math
import numbers
import os
import weakref

import numpy as np
import tensorflow as tf

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import is_int
from keras_lrm.export.loading import load_model
from keras_lrm.export.saved_model import read_metadata

# Compiled runners of Keras models, kept while the model lives: a second
# `generate` call on the same model does not trace and compile again.
_KERAS_RUNNERS = weakref.WeakKeyDictionary()


class _KerasRunner:
    """Steps a `MemoryTransformerLM` on its cache (XLA, per input shape).

    Kept in `_KERAS_RUNNERS` while the model lives, so it holds the model
    weakly (a strong reference would keep the model alive for ever). With
    other `memory_lengths` it owns a copy of the model with those lengths.
    """

    def __init__(self, model, memory_lengths=None):
        self.source = weakref.ref(model)
        self._copy = None
        if memory_lengths is not None:
            self._copy = model.with_memory_lengths(memory_lengths)
        self.vocab_size = model.vocab_size
        self.segment_length = model.segment_length

        def step(token_ids, cache):
            return self.model.call_with_cache(token_ids, cache)

        self._step = tf.function(step, jit_compile=True,
                                 reduce_retracing=False)

    @property
    def model(self):
        return self.source() if self._copy is None else self._copy

    def refresh(self):
        """Gives the copy the weights the model has now, not when the copy
        was made."""
        if self._copy is not None:
            self._copy.set_weights(self.source().get_weights())
        return self

    def initial_memory(self, batch_size):
        return self.model.initial_cache(batch_size)

    def step(self, token_ids, memory):
        logits, memory = self._step(tf.constant(token_ids, tf.int32), memory)
        return logits[:, -1].numpy(), memory


class _SavedModelRunner:
    """Steps an exported model through its signatures (TensorFlow only).

    On its key/value cache (`step_cached`) where the export has one, else
    (exports written before the cache existed) on its memory state.
    """

    def __init__(self, loaded):
        if "step" not in getattr(loaded, "signatures", {}):
            raise ValueError(
                "`model` must be a MemoryTransformerLM, a SavedModel from "
                "keras_lrm.export.export_saved_model, or its path. Received: "
                f"{type(loaded).__name__} without a 'step' signature"
            )
        self.metadata = read_metadata(loaded)
        self.vocab_size = self.metadata["vocab_size"]
        self.segment_length = self.metadata["segment_length"]
        cached = "step_cached" in loaded.signatures
        self._step = loaded.signatures["step_cached" if cached else "step"]
        self._initial = loaded.signatures[
            "initial_cache" if cached else "initial_memory"]

    def initial_memory(self, batch_size):
        return self._initial(batch_size=tf.constant(batch_size, tf.int32))

    def step(self, token_ids, memory):
        outputs = self._step(token_ids=tf.constant(token_ids, tf.int32),
                             **memory)
        logits = outputs.pop("logits")
        return logits[:, -1].numpy(), outputs


def _runner(model, memory_lengths):
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if hasattr(model, "call_with_memory"):
        # A Placement's repr holds its policy and lengths.
        key = None if memory_lengths is None else repr(memory_lengths)
        runners = _KERAS_RUNNERS.setdefault(model, {})
        if key not in runners:
            runners[key] = _KerasRunner(model, memory_lengths)
        return runners[key].refresh()
    if memory_lengths is not None:
        raise ValueError(
            "`memory_lengths` applies to Keras models; an export has the "
            "lengths it was exported with (export with memory_lengths=...). "
            f"Received: memory_lengths={memory_lengths!r}"
        )
    return _SavedModelRunner(model)


def _prompt_ids(prompt, vocab_size):
    """`[batch, time]` ids and whether the prompt was text."""
    texts = [prompt] if isinstance(prompt, (str, bytes)) else prompt
    if isinstance(texts, (list, tuple)) and len(texts) and \
            all(isinstance(t, (str, bytes)) for t in texts):
        if vocab_size != 256:
            raise ValueError(
                "A text `prompt` needs a byte-level model (vocab_size 256); "
                "pass token ids for other tokenizers. Received: a text "
                f"prompt for vocab_size={vocab_size}"
            )
        encoded = [t.encode("utf-8") if isinstance(t, str) else t
                   for t in texts]
        if not min(len(t) for t in encoded):
            raise ValueError(
                "A text `prompt` must hold at least one byte: the first "
                "token is sampled after reading it. Received: an empty text"
            )
        if len({len(t) for t in encoded}) != 1:
            raise ValueError(
                "Every text of a `prompt` batch must have the same number "
                f"of bytes. Received: lengths {[len(t) for t in encoded]}"
            )
        ids = np.array([list(t) for t in encoded], dtype=np.int32)
        return ids, True
    try:
        ids = np.asarray(prompt)
    except (ValueError, TypeError) as error:
        raise ValueError(
            "`prompt` must be text or integer ids of shape (time,) or "
            f"(batch, time) with rows of equal length ({error}). Received: "
            f"prompt={_short(prompt)}") from error
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2 or ids.shape[1] < 1 or \
            not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            "`prompt` must be text or integer ids of shape (time,) or "
            f"(batch, time) with time >= 1. Received: shape={ids.shape}, "
            f"dtype={ids.dtype}"
        )
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(
            f"`prompt` ids must lie in [0, {vocab_size}). Received: "
            f"min={ids.min()}, max={ids.max()}"
        )
    return ids.astype(np.int32), False


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _check_sampling(temperature, top_k, seed):
    """The checked `(temperature, top_k, seed)`; `top_k` 0 becomes None."""
    if not (isinstance(temperature, numbers.Real)
            and not isinstance(temperature, bool)
            and math.isfinite(temperature) and temperature >= 0):
        raise ValueError(
            "`temperature` must be a finite number >= 0 (0 picks the most "
            f"likely token). Received: temperature={temperature!r}")
    if top_k is not None:
        if not is_int(top_k) or top_k < 0:
            raise ValueError(
                "`top_k` must be an integer >= 0, or None; 0 and None "
                f"sample from every token. Received: top_k={top_k!r}")
        top_k = int(top_k) or None
    if seed is not None:
        seed = check_non_negative("seed", seed)
    return float(temperature), top_k, seed


def sample_next(logits, temperature, top_k, rng):
    """One token per row from `logits` `[batch, vocab]` (host side)."""
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int32)
    scaled = logits.astype(np.float64) / temperature
    if top_k and top_k < scaled.shape[-1]:
        cutoff = np.sort(scaled, axis=-1)[:, -top_k][:, None]
        scaled = np.where(scaled < cutoff, -np.inf, scaled)
    scaled -= scaled.max(axis=-1, keepdims=True)
    probs = np.exp(scaled)
    probs /= probs.sum(axis=-1, keepdims=True)
    return np.array([rng.choice(len(row), p=row) for row in probs],
                    dtype=np.int32)


def generate(model, prompt, max_new_tokens, temperature=1.0, top_k=None,
             seed=None, memory_lengths=None, segment_length=None):
    """Continues `prompt` with memory carried from step to step.

    The prompt is read in segments of `segment_length` tokens (default: the
    model's training segment), then each new token is sampled from the last
    logits and fed back as one `time = 1` step.

    Args:
        model: a `MemoryTransformerLM`, a SavedModel loaded with
            `tf.saved_model.load`, or the path of an export folder or a
            `.keras` file (read with `load_model`).
        prompt: text (str/bytes, or a list of equally long ones) for a
            byte-level model, or token ids `(time,)` / `(batch, time)`.
        max_new_tokens: tokens to generate.
        temperature: softmax temperature; 0 picks the most likely token.
        top_k: sample among the `top_k` most likely tokens only; None or
            0 (as in `recipes/generate.py --top_k 0`) samples from every
            token, as does a `top_k` of at least the vocabulary size.
        seed: seed of the sampler, an integer >= 0 or None (a fresh one
            each call); a fixed seed gives the same output.
        memory_lengths: (Keras models) generate with other memory lengths.
        segment_length: prompt tokens per call (an integer >= 1).

    Raises:
        ValueError: an argument out of range, naming it; a `model` path
            that is damaged or not an export (`FileNotFoundError` if
            missing).

    Returns:
        The generated tokens: text (str, or a list for a batch of texts)
        for a text prompt, else int32 ids `(batch, max_new_tokens)`.

    Example:

    >>> generate(model, "def main(", max_new_tokens=64, top_k=40, seed=0)
    """
    max_new_tokens = check_positive("max_new_tokens", max_new_tokens)
    temperature, top_k, seed = _check_sampling(temperature, top_k, seed)
    if segment_length is not None:
        check_positive("segment_length", segment_length)
    runner = _runner(model, memory_lengths)
    ids, as_text = _prompt_ids(prompt, runner.vocab_size)
    segment = segment_length or runner.segment_length
    memory = runner.initial_memory(ids.shape[0])
    for start in range(0, ids.shape[1], segment):
        logits, memory = runner.step(ids[:, start:start + segment], memory)
    rng = np.random.default_rng(seed)
    generated = []
    for index in range(max_new_tokens):
        token = sample_next(logits, temperature, top_k, rng)
        generated.append(token)
        if index + 1 < max_new_tokens:
            logits, memory = runner.step(token[:, None], memory)
    tokens = np.stack(generated, axis=1)
    if not as_text:
        return tokens
    texts = [bytes(row.astype(np.uint8)).decode("utf-8", errors="replace")
             for row in tokens]
    return texts[0] if isinstance(prompt, (str, bytes)) else texts


def generate_text(model, prompt, max_new_tokens, tokenizer=None, **kwargs):
    """`generate` from a text prompt for any tokenizer; returns text.

    Byte-level models need no tokenizer. Other models take the
    `keras_lrm.data` tokenizer they were trained with (an export carries it
    in its assets: `keras_lrm.data.load_tokenizer(f"{path}/assets")`).

    Returns the continuation, to be appended to the prompt as it is
    (`prompt + text`): with a word tokenizer, a prompt that does not end a
    line is continued on that line (its last `<eos>` is dropped) and the
    text starts with the space between two words.
    """
    if tokenizer is not None and not all(
            hasattr(tokenizer, name) for name in ("name", "tokenize",
                                                  "detokenize")):
        raise ValueError(
            "`tokenizer` must be a keras_lrm.data tokenizer (or None for "
            f"bytes). Received: tokenizer={_short(tokenizer)}")
    if tokenizer is None or tokenizer.name == "bytes":
        return generate(model, prompt, max_new_tokens, **kwargs)
    if not isinstance(prompt, (str, bytes)) or not prompt:
        raise ValueError(
            "`prompt` must be a non-empty text (str or bytes) for "
            f"generate_text. Received: prompt={_short(prompt)}")
    data = prompt.encode("utf-8") if isinstance(prompt, str) else prompt
    ids = tokenizer.tokenize([data]).to_tensor().numpy()
    open_line = tokenizer.name == "words" and not data.endswith(b"\n")
    if open_line and ids.shape[1] > 1:
        ids = ids[:, :-1]  # the `<eos>` the tokenizer ends every line with
    tokens = generate(model, ids, max_new_tokens, **kwargs)
    text = tokenizer.detokenize(tf.ragged.constant(tokens.tolist()))
    text = text.numpy()[0] if hasattr(text, "numpy") else text[0]
    text = text.decode("utf-8", errors="replace") \
        if isinstance(text, bytes) else text
    if open_line and data.strip() and not data[-1:].isspace() and \
            not text.startswith("\n"):
        text = " " + text
    return text
