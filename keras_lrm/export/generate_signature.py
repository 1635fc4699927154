"""The `generate` signature of an export: N new tokens in one call.

TensorFlow-specific. The prompt is read segment by segment into the
key/value cache (a graph while loop: the prompt's length is dynamic), then
the tokens come from one XLA-compiled while loop that samples on device
(`keras_lrm.samplers.functions.sample`, the maths of the sampler objects,
so an export draws the tokens `MemoryTransformerLM.generate` draws for the
same seed). A serving client sends the prompt and the sampling settings
and gets the new tokens and the cache after them.
"""

import tensorflow as tf

from keras_lrm.samplers import functions

INPUTS = ("token_ids", "max_new_tokens", "temperature", "top_k", "top_p",
          "seed")


def input_signature():
    return [{
        "token_ids": tf.TensorSpec([None, None], tf.int32, name="token_ids"),
        "max_new_tokens": tf.TensorSpec([], tf.int32, name="max_new_tokens"),
        "temperature": tf.TensorSpec([], tf.float32, name="temperature"),
        "top_k": tf.TensorSpec([], tf.int32, name="top_k"),
        "top_p": tf.TensorSpec([], tf.float32, name="top_p"),
        "seed": tf.TensorSpec([], tf.int32, name="seed"),
    }]


class GenerateFunction:
    """Builds the `generate` `tf.function` of an export.

    Args:
        step: `(token_ids, cache) -> (logits, cache)`, the model's cached
            step (inference).
        cache_specs: `{name: tf.TensorSpec}` of the cache, batch first.
        segment_length: prompt tokens per step.
        vocab_size: the model's vocabulary.
    """

    def __init__(self, step, cache_specs, segment_length, vocab_size):
        self.step = step
        self.cache_specs = dict(cache_specs)
        self.segment_length = segment_length
        self.vocab_size = vocab_size
        self.token_loop = tf.function(self._token_loop, jit_compile=True)

    def function(self):
        return tf.function(self._generate,
                           input_signature=input_signature())

    def _checks(self, inputs):
        token_ids = inputs["token_ids"]
        # A signature call does not check ranks (its graph assumes them):
        # the rank is counted from the runtime shape, before any other
        # check reads the shape.
        rank = tf.reduce_sum(tf.sign(tf.shape(token_ids) + 1))
        with tf.control_dependencies([tf.debugging.Assert(
                tf.equal(rank, 2),
                ["`token_ids` must have rank 2 (batch, time); received "
                 "rank", rank])]):
            token_ids = tf.identity(token_ids)
        return [
            tf.debugging.assert_greater(
                tf.shape(token_ids)[1], 0,
                message="`token_ids` must hold at least one token per row "
                        "(time >= 1)"),
            tf.debugging.assert_greater(
                tf.shape(token_ids)[0], 0,
                message="`token_ids` must hold at least one row"),
            tf.debugging.assert_non_negative(
                token_ids, message="`token_ids` must be >= 0"),
            tf.debugging.assert_less(
                token_ids, tf.constant(self.vocab_size, tf.int32),
                message=f"`token_ids` must be < vocab_size="
                        f"{self.vocab_size}"),
            tf.debugging.assert_positive(
                inputs["max_new_tokens"],
                message="`max_new_tokens` must be >= 1"),
            tf.debugging.assert_non_negative(
                inputs["temperature"],
                message="`temperature` must be >= 0 (0 picks the most "
                        "likely token)"),
            tf.debugging.assert_non_negative(
                inputs["top_k"],
                message="`top_k` must be >= 0 (0 keeps every token)"),
            tf.debugging.Assert(
                tf.logical_and(inputs["top_p"] > 0, inputs["top_p"] <= 1),
                ["`top_p` must lie in (0, 1] (1 keeps every token); "
                 "received", inputs["top_p"]]),
            tf.debugging.assert_non_negative(
                inputs["seed"], message="`seed` must be >= 0"),
        ]

    def _generate(self, inputs):
        with tf.control_dependencies(self._checks(inputs)):
            inputs = {name: tf.identity(value)
                      for name, value in inputs.items()}
        token_ids = inputs["token_ids"]
        batch = tf.shape(token_ids)[0]
        time = tf.shape(token_ids)[1]
        cache = {name: tf.zeros(tf.concat([[batch], spec.shape[1:]], 0),
                                spec.dtype)
                 for name, spec in self.cache_specs.items()}
        segment = self.segment_length

        def read(start, logits, cache):
            logits, cache = self.step(token_ids[:, start:start + segment],
                                      cache)
            cache = {name: tf.ensure_shape(value,
                                           self.cache_specs[name].shape)
                     for name, value in cache.items()}
            return start + segment, logits[:, -1], cache

        logits = tf.zeros(tf.stack([batch, self.vocab_size]), tf.float32)
        _, logits, cache = tf.while_loop(
            lambda start, logits, cache: start < time, read,
            (tf.constant(0), logits, cache))
        tokens, cache = self.token_loop(
            logits, cache, inputs["max_new_tokens"], inputs["temperature"],
            inputs["top_k"], inputs["top_p"], inputs["seed"])
        cache = {name: tf.ensure_shape(value, self.cache_specs[name].shape)
                 for name, value in cache.items()}
        return {"new_token_ids": tokens, **cache}

    def _token_loop(self, logits, cache, max_new_tokens, temperature, top_k,
                    top_p, seed):
        batch = tf.shape(logits)[0]
        tokens = tf.zeros(tf.stack([batch, max_new_tokens]), tf.int32)
        positions = tf.range(max_new_tokens)[None]

        def body(index, logits, cache, tokens):
            token = functions.sample(logits, seed, index, temperature,
                                     top_k, top_p)
            tokens = tf.where(positions == index, token[:, None], tokens)
            logits, cache = self.step(token[:, None], cache)
            return index + 1, logits[:, -1], cache, tokens

        _, _, cache, tokens = tf.while_loop(
            lambda index, *_: index < max_new_tokens, body,
            (tf.constant(0), logits, cache, tokens))
        return tokens, cache
