"""The compiled generation loop behind `MemoryTransformerLM.generate`.

The prompt is read segment by segment into the key/value cache (one
compiled call per segment shape), then every new token is one step of a
single compiled while loop: the sampler draws on device, the token is
written into a pre-allocated `(batch, max_new_tokens)` buffer and fed
back. Nothing returns to the host until the loop ends.

On the TensorFlow backend the loop is a `tf.function(jit_compile=True)`
(XLA); on JAX `keras.ops.while_loop` is `lax.while_loop`, compiled as a
whole. The compiled functions live on the model (`GenerationLoop`,
created on first use), keyed by the sampler's settings; TensorFlow retraces
them per batch size and `max_new_tokens`, never per token.

A model with memory tokens generates through a `MemoryTokenStream`: a
token attends to the XL memory, the read tokens and its segment so far,
and the memory tokens are written when a segment fills (every
`segment_length` tokens, prompt and new tokens counted together), as in
training; its state holds the segment's rows (docs/generation.md).
"""

import json
import random

import keras
import numpy as np
from keras import ops

from keras_lrm import samplers
from keras_lrm.arguments import check_positive
from keras_lrm.models.memory_token_stream import SEGMENT_FILLED
from keras_lrm.models.memory_token_stream import MemoryTokenStream
from keras_lrm.models.memory_token_stream import is_stream_state
from keras_lrm.samplers.sampler import check_seed
from keras_lrm.token_checks import as_token_tensor

ATTRIBUTE = "_keras_lrm_generation_loop"


def compile_function(function):
    """`function` compiled as a whole for the backend: XLA on TensorFlow.
    Elsewhere it is returned as it is (on JAX the while loop inside is
    already one compiled `lax.while_loop`)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True,
                           reduce_retracing=False)
    return function


def empty_cache(model, batch_size):
    """An empty state of the key/value cache form: a one-token step then
    projects only its own token. With memory tokens, the stream's state
    (`MemoryTokenStream`)."""
    if model.num_memory_tokens:
        return loop_of(model).stream.initial_state(batch_size)
    return model.initial_memory(batch_size, form="cache")


def cache_step(model, token_ids, cache):
    """Logits and state after `token_ids`: a cached call, or with memory
    tokens a stream step (inside one segment)."""
    if model.num_memory_tokens:
        return loop_of(model).stream.step(token_ids, cache)
    return model.call_with_memory(token_ids, cache, training=False)


class GenerationLoop:
    """Compiled prompt reading and token loop of one model.

    Attributes:
        step_traces: how many times the Python step of the token loop was
            traced (once per compiled loop, however many tokens it makes).
    """

    def __init__(self, model):
        self.model = model
        self.stream = MemoryTokenStream(model) \
            if model.num_memory_tokens else None
        self.step_traces = 0
        self.read = compile_function(self._read)
        self._loops = {}

    def _read(self, token_ids, cache):
        logits, cache = cache_step(self.model, token_ids, cache)
        return logits[:, -1], cache

    def loop(self, sampler):
        """The compiled token loop for `sampler`'s settings."""
        config = {k: v for k, v in sampler.get_config().items()
                  if k != "seed"}
        key = type(sampler).__name__ + json.dumps(config, sort_keys=True)
        if key not in self._loops:
            def run(logits, cache, seed, max_new_tokens):
                return self._run(sampler, logits, cache, seed,
                                 max_new_tokens)
            self._loops[key] = compile_function(run)
        return self._loops[key]

    def _run(self, sampler, logits, cache, seed, max_new_tokens):
        batch = ops.shape(logits)[0]
        tokens = ops.zeros((batch, max_new_tokens), "int32")
        positions = ops.expand_dims(ops.arange(max_new_tokens,
                                               dtype="int32"), 0)

        def body(index, logits, cache, tokens):
            token = sampler(logits, step=index, seed=seed)
            tokens = ops.where(positions == index,
                               ops.expand_dims(token, 1), tokens)
            self.step_traces += 1
            logits, cache = cache_step(self.model,
                                       ops.expand_dims(token, 1), cache)
            return index + 1, logits[:, -1], cache, tokens

        def cond(index, logits, cache, tokens):
            return index < max_new_tokens

        start = ops.convert_to_tensor(0, "int32")
        _, _, cache, tokens = ops.while_loop(
            cond, body, (start, logits, cache, tokens))
        return tokens, cache


def loop_of(model):
    """The `GenerationLoop` kept on `model` (made on first use)."""
    loop = model.__dict__.get(ATTRIBUTE)
    if loop is None:
        loop = GenerationLoop(model)
        object.__setattr__(model, ATTRIBUTE, loop)
    return loop


def _inputs(inputs):
    """`(token_ids, state or None)` of ids or a `{"token_ids", "state"}`
    dict."""
    state = None
    if isinstance(inputs, dict):
        unknown = set(inputs) - {"token_ids", "state"}
        if "token_ids" not in inputs or unknown:
            raise ValueError(
                "`inputs` as a dict must hold 'token_ids' and may hold "
                "'state' (a key/value cache to continue from). Received: "
                f"keys {sorted(inputs)}")
        state = inputs.get("state")
        inputs = inputs["token_ids"]
    token_ids = as_token_tensor(inputs, name="inputs")
    if len(token_ids.shape) == 1:
        token_ids = ops.expand_dims(token_ids, 0)
    if len(token_ids.shape) != 2 or not token_ids.shape[1]:
        raise ValueError(
            "`inputs` must be token ids of shape (time,) or (batch, time) "
            "with time >= 1. Received: shape="
            f"{tuple(token_ids.shape)}")
    return ops.cast(token_ids, "int32"), state


def _stream_state(stream, state, segment):
    """A stream state from `state` (the stream's, or the model's cache
    form at a segment boundary) and its position in the segment, which
    every row must share."""
    if segment != stream.segment_length:
        raise ValueError(
            "`segment_length` of a model with memory tokens must be its "
            f"segment_length ({stream.segment_length}): the memory tokens "
            "are written every segment_length tokens. Received: "
            f"segment_length={segment}")
    if not is_stream_state(state):
        state = stream.from_cache(state)
    offsets = np.unique(np.asarray(state[SEGMENT_FILLED]))
    if len(offsets) != 1:
        raise ValueError(
            "`state` rows must all be at the same position of their "
            "segment to generate together. Received: segment_filled="
            f"{np.asarray(state[SEGMENT_FILLED]).tolist()}")
    return state, int(offsets[0])


def generate(model, inputs, max_new_tokens, sampler="top_k", seed=None,
             segment_length=None, return_state=False):
    """`MemoryTransformerLM.generate` (see there)."""
    max_new_tokens = check_positive("max_new_tokens", max_new_tokens)
    sampler = samplers.get(sampler)
    seed = check_seed(seed)
    segment = model.segment_length if segment_length is None \
        else check_positive("segment_length", segment_length)
    token_ids, state = _inputs(inputs)
    batch, time = token_ids.shape
    loop = loop_of(model)
    if state is None:
        state = empty_cache(model, batch)
    offset = 0
    if model.num_memory_tokens:
        state, offset = _stream_state(loop.stream, state, segment)
    # With memory tokens, pieces end where segments end.
    ends = list(range(segment - offset, time, segment)) + [time]
    start = 0
    for end in ends:
        logits, state = loop.read(token_ids[:, start:end], state)
        start = end
    if seed is None:
        seed = sampler.seed if sampler.seed is not None \
            else random.getrandbits(31)
    tokens, state = loop.loop(sampler)(
        logits, state, ops.convert_to_tensor(np.int32(seed)),
        max_new_tokens)
    return (tokens, state) if return_state else tokens
