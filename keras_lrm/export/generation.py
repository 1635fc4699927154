"""Generation from a Keras model or an export: `keras_lrm.generate`.

A Keras `MemoryTransformerLM` generates with `model.generate`: the prompt
in segments into its key/value cache, then one compiled while loop that
samples on device (keras_lrm.models.generation_loop). An export generates
with its `generate` signature, the same loop inside the SavedModel; only
exports written before that signature existed are stepped here one token
per call (`step_cached`, or `step` for the oldest), still sampling with
the same maths. A seed gives the same tokens on all three.
"""

import math
import numbers
import os
import random
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_lrm import samplers
from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.arguments import is_int
from keras_lrm.export.loading import load_model
from keras_lrm.export.saved_model import read_metadata
from keras_lrm.models.memory_transformer_lm import MemoryTransformerLM
from keras_lrm.samplers import functions


def _is_export(model):
    """A SavedModel loaded with `tf.saved_model.load` that has the
    signatures of `export_saved_model`."""
    signatures = getattr(model, "signatures", None)
    return not isinstance(model, keras.Model) and \
        signatures is not None and "step" in signatures


def _sampler(temperature, top_k, top_p):
    """The sampler object of the `generate` settings."""
    if temperature == 0:
        return samplers.GreedySampler()
    if top_p is not None:
        return samplers.TopPSampler(top_p, k=top_k, temperature=temperature)
    if top_k:
        return samplers.TopKSampler(top_k, temperature=temperature)
    return samplers.RandomSampler(temperature=temperature)


def _settings(sampler):
    """`(temperature, top_k, top_p)` of a sampler object, as an export's
    `generate` signature takes them."""
    if isinstance(sampler, samplers.GreedySampler):
        return 0.0, 0, 1.0
    kind = type(sampler)
    if kind not in (samplers.RandomSampler, samplers.TopKSampler,
                    samplers.TopPSampler):
        raise ValueError(
            "`sampler` for an export must be one of keras_lrm's greedy, "
            "random, top-k or top-p samplers (an export takes their "
            f"settings, not code). Received: sampler={sampler!r}")
    return (sampler.temperature, getattr(sampler, "k", None) or 0,
            getattr(sampler, "p", 1.0))


def _export_generate(loaded, ids, max_new_tokens, settings, seed,
                     segment_length):
    """New tokens `(batch, max_new_tokens)` from an export."""
    metadata = read_metadata(loaded)
    temperature, top_k, top_p = settings
    segment = segment_length or metadata["segment_length"]
    tokens = metadata.get("model_config", {}).get("num_memory_tokens", 0)
    if tokens and segment != metadata["segment_length"]:
        # The per-token signatures read each call as a segment: only the
        # `generate` signature writes memory tokens when a segment fills.
        raise ValueError(
            "`segment_length` of a model with memory tokens must be its "
            f"segment_length ({metadata['segment_length']}): the memory "
            "tokens are written every segment_length tokens. Received: "
            f"segment_length={segment}")
    if "generate" in loaded.signatures and \
            segment == metadata["segment_length"]:
        outputs = loaded.signatures["generate"](
            token_ids=tf.constant(ids), max_new_tokens=tf.constant(
                max_new_tokens, tf.int32),
            temperature=tf.constant(temperature, tf.float32),
            top_k=tf.constant(top_k, tf.int32),
            top_p=tf.constant(top_p, tf.float32),
            seed=tf.constant(seed, tf.int32))
        return outputs["new_token_ids"].numpy()
    # An export from before the `generate` signature (or another prompt
    # segment): one signature call per token, the tokens never leaving
    # the device until the end.
    cached = "step_cached" in loaded.signatures
    step = loaded.signatures["step_cached" if cached else "step"]
    state = loaded.signatures["initial_cache" if cached else
                              "initial_memory"](
        batch_size=tf.constant(ids.shape[0], tf.int32))
    for start in range(0, ids.shape[1], segment):
        state = step(token_ids=tf.constant(ids[:, start:start + segment]),
                     **state)
        logits = state.pop("logits")[:, -1]
    tokens = []
    for index in range(max_new_tokens):
        token = functions.sample(logits, seed, index, temperature,
                                 top_k or 0, top_p)
        tokens.append(token)
        if index + 1 < max_new_tokens:
            state = step(token_ids=token[:, None], **state)
            logits = state.pop("logits")[:, -1]
    return tf.stack(tokens, axis=1).numpy()


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


def _check_sampling(temperature, top_k, seed, top_p=None):
    """The checked `(temperature, top_k, seed, top_p)`; `top_k` 0 becomes
    None."""
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
    if top_p is not None:
        if not (isinstance(top_p, numbers.Real)
                and not isinstance(top_p, bool)
                and math.isfinite(top_p) and 0 < top_p <= 1):
            raise ValueError(
                "`top_p` must be a number in (0, 1], or None (every "
                f"token). Received: top_p={top_p!r}")
        top_p = float(top_p)
    return float(temperature), top_k, seed, top_p


def sample_next(logits, temperature, top_k, rng):
    """Deprecated: one token per row from `logits` `[batch, vocab]`, on
    the host with a NumPy `rng`. Generation now samples on device with
    `keras_lrm.samplers`; this stays for code that called it."""
    warnings.warn(
        "keras_lrm.export.generation.sample_next is deprecated: sample on "
        "device with keras_lrm.samplers (e.g. TopKSampler(k)(logits)).",
        DeprecationWarning, stacklevel=2)
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
             seed=None, memory_lengths=None, segment_length=None,
             top_p=None, sampler=None):
    """Continues `prompt` with memory carried from step to step.

    The prompt is read in segments of `segment_length` tokens (default: the
    model's training segment), then each new token is sampled on device
    from the last logits and fed back as one `time = 1` step, all in one
    compiled loop (`MemoryTransformerLM.generate`, or an export's
    `generate` signature).

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
            each call); a fixed seed gives the same output, from a Keras
            model and from its export alike.
        memory_lengths: (Keras models) generate with other memory lengths
            (a copy of the model, compiled again each call: for many calls
            make it once with `model.with_memory_lengths`).
        segment_length: prompt tokens per call (an integer >= 1). A
            model with memory tokens writes them every `segment_length`
            tokens of its own (docs/generation.md): only that value, or
            None, is accepted.
        top_p: sample from the nucleus of probability `top_p` in (0, 1]
            only (after `top_k`); None keeps every token.
        sampler: a `keras_lrm.samplers` sampler or its name, instead of
            `temperature`, `top_k` and `top_p` (an export takes the
            greedy, random, top-k and top-p samplers).

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
    temperature, top_k, seed, top_p = _check_sampling(temperature, top_k,
                                                      seed, top_p)
    if sampler is not None:
        if (temperature, top_k, top_p) != (1.0, None, None):
            raise ValueError(
                "`sampler` replaces `temperature`, `top_k` and `top_p`: "
                "pass one or the others. Received: sampler="
                f"{sampler!r}, temperature={temperature}, top_k={top_k}, "
                f"top_p={top_p}")
        sampler = samplers.get(sampler)
    else:
        sampler = _sampler(temperature, top_k, top_p)
    if segment_length is not None:
        check_positive("segment_length", segment_length)
    if seed is None:
        seed = sampler.seed if sampler.seed is not None \
            else random.getrandbits(31)
    seed %= 2 ** 31
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if isinstance(model, MemoryTransformerLM):
        if memory_lengths is not None:
            model = model.with_memory_lengths(memory_lengths)
        ids, as_text = _prompt_ids(prompt, model.vocab_size)
        tokens = np.asarray(model.generate(
            ids, max_new_tokens, sampler=sampler, seed=seed,
            segment_length=segment_length))
    elif _is_export(model):
        if memory_lengths is not None:
            raise ValueError(
                "`memory_lengths` applies to Keras models; an export has "
                "the lengths it was exported with (export with "
                "memory_lengths=...). Received: "
                f"memory_lengths={memory_lengths!r}")
        ids, as_text = _prompt_ids(prompt,
                                   read_metadata(model)["vocab_size"])
        tokens = _export_generate(model, ids, max_new_tokens,
                                  _settings(sampler), seed, segment_length)
    else:
        raise ValueError(
            "`model` must be a MemoryTransformerLM, a SavedModel from "
            "keras_lrm.export.export_saved_model, or its path. Received: "
            f"{type(model).__name__} without a 'step' signature")
    tokens = tokens.astype(np.int32)
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
