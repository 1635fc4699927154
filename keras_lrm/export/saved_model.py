"""SavedModels that carry the memory as explicit state tensors.

TensorFlow-specific. The exported model needs nothing but TensorFlow to
load: every signature is built from core ops.
"""

import json
import os
import uuid

import tensorflow as tf

from keras_lrm.export import folder_swap
from keras_lrm.export.folder_swap import EXPORT_FORMAT
from keras_lrm.export.folder_swap import METADATA_FILE
from keras_lrm.export.generate_signature import GenerateFunction
from keras_lrm.models.memory_token_stream import MemoryTokenStream
from keras_lrm.placement import Placement
from keras_lrm.state_spec import CACHE
from keras_lrm.state_spec import MEMORY
from keras_lrm.version import __version__

SIGNATURES = ("serving_default", "step", "initial_memory", "step_cached",
              "initial_cache", "generate")


def tensor_specs(spec):
    """`{name: tf.TensorSpec}` of a `StateSpec`, with an unknown batch."""
    return {entry.name: tf.TensorSpec([None, *entry.shape],
                                      tf.as_dtype(entry.dtype),
                                      name=entry.name)
            for entry in spec}


class MemoryModule(tf.Module):
    """The functions a SavedModel of a `MemoryTransformerLM` exposes."""

    def __init__(self, model, metadata):
        super().__init__(name="keras_lrm_memory_model")
        # Track the TensorFlow variables only: a tracked Keras model would
        # try to trace its own call for the SavedModel (as keras.export
        # does, the functions reach the model through a closure).
        self.model_variables = [getattr(v, "value", v)
                                for v in model.variables]
        self._call_with_memory = model.call_with_memory
        self._call_with_cache = model.call_with_cache
        self.vocab_size = model.vocab_size
        self.memory_dtype = tf.as_dtype(model.compute_dtype)
        # Both forms of the state, as the model's spec lays them out.
        self.memory_specs = tensor_specs(model.state_spec(MEMORY))
        self.cache_specs = tensor_specs(model.state_spec(CACHE))
        token_spec = tf.TensorSpec([None, None], tf.int32, name="token_ids")
        batch_spec = tf.TensorSpec([], tf.int32, name="batch_size")
        self.step = tf.function(
            self._step, input_signature=[{"token_ids": token_spec,
                                          **self.memory_specs}])
        self.initial_memory = tf.function(self._initial_memory,
                                          input_signature=[batch_spec])
        self.step_cached = tf.function(
            self._step_cached, input_signature=[{"token_ids": token_spec,
                                                 **self.cache_specs}])
        self.initial_cache = tf.function(self._initial_cache,
                                         input_signature=[batch_spec])
        # With memory tokens, generation steps through a stream that
        # writes them when a segment fills; its state holds the segment's
        # rows (keras_lrm.models.memory_token_stream).
        generate_step, self.generate_specs = self._call_with_cache, \
            self.cache_specs
        if model.num_memory_tokens:
            stream = MemoryTokenStream(model)
            generate_step = stream.step
            self.generate_specs = tensor_specs(stream.state_spec())
        self.generate = GenerateFunction(
            generate_step, self.generate_specs, model.segment_length,
            model.vocab_size).function()
        self.byte_level = model.vocab_size == 256 and \
            metadata.get("tokenizer", {}).get("name", "bytes") == "bytes"
        if self.byte_level:
            text_spec = tf.TensorSpec([None], tf.string, name="text")
            self.step_text = tf.function(
                self._step_text,
                input_signature=[{"text": text_spec, **self.memory_specs}])
            self.detokenize = tf.function(
                self._detokenize,
                input_signature=[tf.TensorSpec([None, None], tf.int32,
                                               name="token_ids")])

    def _check(self, inputs, specs):
        """Asserts naming the input: ranks, ids in range, batches that
        agree."""
        token_ids = inputs["token_ids"]
        ranks = [_assert_rank("token_ids", token_ids, 2)] + [
            _assert_rank(name, inputs[name], spec.shape.rank)
            for name, spec in specs.items()]
        # A signature call does not check ranks (its graph assumes them),
        # so the shapes are read only once the ranks are known to fit.
        with tf.control_dependencies(ranks):
            batch = tf.shape(token_ids)[0]
            checks = [
                tf.debugging.assert_greater(
                    tf.shape(token_ids)[1], 0,
                    message="`token_ids` must hold at least one token per "
                            "row (time >= 1)"),
                tf.debugging.assert_non_negative(
                    token_ids, message="`token_ids` must be >= 0"),
                tf.debugging.assert_less(
                    token_ids, tf.constant(self.vocab_size, tf.int32),
                    message=f"`token_ids` must be < vocab_size="
                            f"{self.vocab_size}"),
            ]
            if "filled" in specs:
                checks.append(tf.debugging.assert_non_negative(
                    inputs["filled"],
                    message="`filled` must be >= 0 (a count of real "
                            "memory rows)"))
            for name, spec in specs.items():
                shape = tf.shape(inputs[name])
                checks.append(tf.debugging.assert_equal(
                    shape[0], batch,
                    message=f"`{name}` must have the batch size of "
                            "`token_ids`"))
                if spec.shape.rank > 1:
                    checks.append(tf.debugging.assert_equal(
                        shape[1:], tf.constant(spec.shape[1:].as_list()),
                        message=f"`{name}` must have shape [batch, "
                                f"{', '.join(map(str, spec.shape[1:]))}]"))
        return ranks + checks

    def _run(self, inputs, specs, call):
        # Every input waits for the checks, so a bad one fails with its
        # name before any computation can fail without it.
        with tf.control_dependencies(self._check(inputs, specs)):
            inputs = {name: tf.identity(value)
                      for name, value in inputs.items()}
        state = {name: inputs[name] for name in specs}
        logits, new_state = call(inputs["token_ids"], state)
        # Static state shapes on the outputs too, so a serving client
        # sees that each output fits the input of the same name.
        new_state = {name: tf.ensure_shape(value, specs[name].shape)
                     for name, value in new_state.items()}
        return {"logits": logits, **new_state}

    def _step(self, inputs):
        return self._run(
            inputs, self.memory_specs,
            lambda ids, memory: self._call_with_memory(ids, memory,
                                                       training=False))

    def _step_cached(self, inputs):
        return self._run(inputs, self.cache_specs, self._call_with_cache)

    def _initial_memory(self, batch_size):
        return self._zeros(batch_size, self.memory_specs)

    def _initial_cache(self, batch_size):
        return self._zeros(batch_size, self.cache_specs)

    def _zeros(self, batch_size, specs):
        with tf.control_dependencies([tf.debugging.assert_positive(
                batch_size, message="`batch_size` must be >= 1")]):
            batch_size = tf.identity(batch_size)
        return {
            name: tf.zeros(tf.stack([batch_size] + spec.shape[1:].as_list()),
                           spec.dtype)
            for name, spec in specs.items()
        }

    def _step_text(self, inputs):
        text = inputs["text"]
        with tf.control_dependencies([_assert_rank("text", text, 1)]):
            lengths = tf.strings.length(text)
            has_rows = tf.debugging.assert_positive(
                tf.size(text), message="`text` must hold at least one string")
        with tf.control_dependencies([has_rows]):
            checks = [
                tf.debugging.assert_positive(
                    lengths, message="every `text` must hold at least one "
                                     "byte"),
                tf.debugging.assert_equal(
                    lengths, lengths[0],
                    message="every `text` in a batch must have the same "
                            "number of bytes"),
            ]
        with tf.control_dependencies(checks):
            token_ids = tf.cast(tf.io.decode_raw(text, tf.uint8), tf.int32)
        return self._step({"token_ids": token_ids,
                           **{name: inputs[name]
                              for name in self.memory_specs}})

    def _detokenize(self, token_ids):
        table = tf.constant([bytes([i]) for i in range(256)])
        with tf.control_dependencies([_assert_rank("token_ids", token_ids,
                                                   2)]):
            checks = [
                tf.debugging.assert_non_negative(
                    token_ids, message="`token_ids` must be >= 0"),
                tf.debugging.assert_less(
                    token_ids, tf.constant(256, tf.int32),
                    message="`token_ids` must be < 256 (bytes)"),
            ]
        with tf.control_dependencies(checks):
            pieces = tf.gather(table, token_ids)
        return {"text": tf.strings.reduce_join(pieces, axis=-1)}


def _assert_rank(name, value, rank):
    """Asserts the rank of `value` when the graph runs.

    `tf.rank` is folded into a constant from the signature's shape, so
    the rank is counted from the runtime shape instead.
    """
    actual = tf.reduce_sum(tf.sign(tf.shape(value) + 1))
    return tf.debugging.Assert(
        tf.equal(actual, rank),
        [f"`{name}` must have rank {rank}; received rank", actual])


def read_metadata(loaded):
    """The metadata dict of a loaded export (`tf.saved_model.load`)."""
    asset = getattr(loaded, "metadata_asset", None)
    if asset is None:
        raise ValueError(
            "`loaded` is not a keras_lrm export: it has no metadata asset. "
            f"Received: {type(loaded).__name__}"
        )
    with tf.io.gfile.GFile(asset.asset_path.numpy().decode(), "r") as f:
        return json.load(f)


def _metadata(model, placement, tokenizer, signatures, generate_state):
    tokenizer_config = tokenizer.get_config() if tokenizer is not None \
        else {"name": "bytes"} if model.vocab_size == 256 else None
    if isinstance(placement, Placement):
        placement = placement.get_config()
    return {
        "format": EXPORT_FORMAT,
        "library_version": __version__,
        "vocab_size": model.vocab_size,
        "d_model": model.d_model,
        "num_layers": model.num_layers,
        "segment_length": model.segment_length,
        "memory_lengths": model.memory_lengths,
        "memory_dtype": model.compute_dtype,
        "placement": placement,
        "tokenizer": tokenizer_config,
        "state": list(model.state_spec(MEMORY).names),
        "cache_state": list(model.state_spec(CACHE).names),
        "generate_state": list(generate_state),
        "signatures": signatures,
        "model_config": model.get_config(),
    }


def export_saved_model(model, path=None, memory_lengths=None, tokenizer=None,
                       directory="saved_models", overwrite=True):
    """Exports `model` as a SavedModel with the memory as explicit state.

    Signatures (inputs and outputs keyed by name):

    - `step` (also `serving_default`): `token_ids` int32 `[batch, time]`,
      one `memory_<l>` `[batch, M_l, d_model]` per layer and `filled` int32
      `[batch]` -> `logits` float32 `[batch, time, vocab]` and the next
      `memory_<l>` and `filled`, under the same names, ready to feed back.
      Batch and time are dynamic.
    - `initial_memory`: `batch_size` int32 scalar -> an empty state.
    - `step_cached` and `initial_cache`: the same with a key/value cache
      for state (`keys_<l>`, `values_<l>` `[batch, heads, M_l, key_dim]`
      and `filled`; see `MemoryTransformerLM.call_with_cache`): the same
      logits, but a call projects only its own tokens (`step` avoids
      projecting the memory rows of short calls too, through the queries;
      the cached step was 1.1-1.3x faster at batch 1, docs/generation.md).
      The cache holds about twice the bytes of the memory state.
    - `generate`: `token_ids` int32 `[batch, time]` (a prompt, read into
      an empty cache), `max_new_tokens`, `temperature` (0: greedy),
      `top_k` (0: all), `top_p` (1: all) and `seed` scalars ->
      `new_token_ids` int32 `[batch, max_new_tokens]` and the cache after
      them: every token from one XLA while loop that samples on device
      (keras_lrm.export.generate_signature). With memory tokens the state
      is a `MemoryTokenStream`'s (`stream_keys_<l>`, `stream_values_<l>`
      `[batch, heads, M_l + m + S, key_dim]`, `filled`, `memory_tokens`,
      `segment_filled`; metadata `generate_state`): they are written when
      a segment fills, as in training.
    - byte-level models also get `step_text` (`text` string `[batch]` of
      equal byte lengths, plus the state) and `detokenize`, from core
      TensorFlow string ops only.

    A metadata JSON (`assets/keras_lrm.json`; `read_metadata(loaded)`)
    holds the memory lengths, placement, tokenizer, width, library version
    and signature names.

    Nothing but an earlier export is ever replaced: `path` may be missing,
    an empty folder, or (with `overwrite`) a keras_lrm export holding
    nothing else; a file, a folder with other files or another SavedModel
    raises `ValueError`, whatever `overwrite` says. The export is written
    to a temporary folder beside `path` and swapped in (atomically on
    Linux), so `path` never holds a partial export. A killed export leaves
    only its own temporaries (`.tmp-keras_lrm-<host>-<pid>-...-<name>`),
    which the next export to `path` deletes; if the kill came between
    moving the old export aside and renaming the new one in (file systems
    without an atomic exchange), the next export puts the old one back
    first.

    Args:
        model: a `MemoryTransformerLM`.
        path: output folder; default `<directory>/<model.name>`.
        memory_lengths: export with other memory lengths (a `Placement` or
            per-layer list), e.g. longer evaluation memories.
        tokenizer: the `keras_lrm.data` tokenizer, saved as assets.
        directory: parent folder when `path` is omitted.
        overwrite: replace an earlier keras_lrm export at `path`.

    Returns:
        The path written.
    """
    if not hasattr(model, "call_with_memory"):
        raise ValueError(
            "`model` must be a keras_lrm MemoryTransformerLM. Received: "
            f"model of type {type(model).__name__}"
        )
    placement = model.placement
    if memory_lengths is not None:
        model = model.with_memory_lengths(memory_lengths)
        placement = memory_lengths
    path = path or os.path.join(directory, model.name)
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(
            "`path` must be a folder path (str). Received: "
            f"path={path!r}")
    path = os.fspath(path).rstrip("/") or "/"
    # A kill between the renames of an earlier export is repaired before
    # `path` is judged.
    folder_swap.clean_stale(path)
    folder_swap.check_target(path, overwrite)
    signatures = list(SIGNATURES)
    if model.vocab_size == 256 and (tokenizer is None
                                    or tokenizer.name == "bytes"):
        signatures += ["step_text", "detokenize"]
    generate_state = MemoryTokenStream(model).state_spec().names \
        if model.num_memory_tokens else model.state_spec(CACHE).names
    metadata = _metadata(model, placement, tokenizer, signatures,
                         generate_state)
    module = MemoryModule(model, metadata)
    token = uuid.uuid4().hex[:8]
    staging = folder_swap.temporary_path(path, "staging", token)
    try:
        tf.io.gfile.makedirs(staging)
        metadata_path = os.path.join(staging, METADATA_FILE)
        with tf.io.gfile.GFile(metadata_path, "w") as handle:
            json.dump(metadata, handle, indent=2)
        module.metadata_asset = tf.saved_model.Asset(metadata_path)
        if tokenizer is not None:
            tokenizer_dir = os.path.join(staging, "tokenizer")
            tokenizer.save(tokenizer_dir)
            module.tokenizer_assets = [
                tf.saved_model.Asset(os.path.join(tokenizer_dir, name))
                for name in sorted(tf.io.gfile.listdir(tokenizer_dir))]
        step = module.step.get_concrete_function()
        functions = {"serving_default": step, "step": step}
        for name in SIGNATURES[2:]:
            functions[name] = getattr(module, name).get_concrete_function()
        if module.byte_level:
            functions["step_text"] = module.step_text.get_concrete_function()
            functions["detokenize"] = \
                module.detokenize.get_concrete_function()
        new = folder_swap.temporary_path(path, "new", token)
        tf.saved_model.save(module, new, signatures=functions)
        # What is at `path` may have changed during the save.
        folder_swap.check_target(path, overwrite)
        folder_swap.swap_in(new, path, token)
    finally:
        folder_swap.remove_own(path, token)
    return path

