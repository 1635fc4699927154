"""Runs keras_lrm on the JAX backend (tests/test_backends.py's subprocess).

Usage: python tests/jax_consumer.py CASE.npz OUT.npz
Importing TensorFlow is made impossible first, so the layers and the model
must run on `keras.ops` alone.
"""

import json
import os
import sys

sys.modules["tensorflow"] = None  # any `import tensorflow` now fails
os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_lrm  # noqa: E402


def main(case_path, output_path):
    case = np.load(case_path)
    config = json.loads(str(case["config"]))
    model = keras_lrm.models.MemoryTransformerLM(**config)
    memory = model.initial_memory(case["ids"].shape[0])
    model.call_with_memory(case["ids"][:, :1], memory)
    model.set_weights([case[f"weight_{i}"]
                       for i in range(int(case["num_weights"]))])
    outputs = {}
    for i, stop in enumerate(case["pieces"][1:]):
        start = case["pieces"][i]
        logits, memory = model.call_with_memory(
            case["ids"][:, start:stop], memory)
        outputs[f"logits_{i}"] = np.asarray(logits)
    for key, value in memory.items():
        outputs[f"memory/{key}"] = np.asarray(value)
    step = jax.jit(model.call_with_memory)
    logits, _ = step(case["ids"], model.initial_memory(case["ids"].shape[0]))
    outputs["jit_logits"] = np.asarray(logits)
    outputs["fused_jit_logits"], outputs["fused_calls"] = fused_logits(
        model, case["ids"])
    outputs["attention_gradient_error"] = attention_gradient_error()
    outputs["range_error"] = np.array("no error raised")
    try:
        model.call_with_memory(case["ids"] + config["vocab_size"],
                               model.initial_memory(case["ids"].shape[0]))
    except ValueError as error:
        outputs["range_error"] = np.array(str(error))
    outputs["backend"] = np.array(keras.backend.backend())
    np.savez(output_path, **outputs)


def attention_gradient_error():
    """Largest gap between softmax_attention's custom gradient and
    autodiff of softmax + product, under jax.jit."""
    from keras_lrm.layers.softmax_attention import softmax_attention
    rng = np.random.default_rng(0)
    scores = rng.normal(0.0, 3.0, (2, 3, 5, 7)).astype("float32")
    scores += np.where(np.arange(7)[None] <= np.arange(5)[:, None] + 2,
                       0.0, -1e9).astype("float32")
    values = rng.normal(size=(2, 3, 7, 4)).astype("float32")
    weight = rng.normal(size=(2, 3, 5, 4)).astype("float32")

    def reference(s, v):
        return keras.ops.einsum("nbts,nbsh->nbth",
                                keras.ops.softmax(s, axis=-1), v)

    def loss(attend):
        return lambda s, v: (attend(s, v) * weight).sum()

    got = jax.jit(jax.grad(loss(softmax_attention), (0, 1)))(scores, values)
    expected = jax.grad(loss(reference), (0, 1))(scores, values)
    return np.array(max(float(np.abs(g - e).max())
                        for g, e in zip(got, expected)))


def fused_logits(model, ids):
    """Full-pass logits with the attention's fused path forced on.

    Here (a CPU) Keras runs `dot_product_attention` as XLA, not cuDNN: this
    checks the path's math under JAX; the kernel needs a GPU
    (bench/accelerator.py checks it there).
    """
    from keras_lrm.layers import fused_attention
    calls = []
    fused_op = keras.ops.dot_product_attention

    def dot_product_attention(*args, flash_attention=None, **kwargs):
        calls.append(flash_attention)
        return fused_op(*args, flash_attention=False, **kwargs)

    fused_attention.fused_attention_available = lambda *args: True
    keras.ops.dot_product_attention = dot_product_attention
    clone = keras_lrm.models.MemoryTransformerLM.from_config(
        model.get_config())
    clone.call_with_memory(ids[:, :1], clone.initial_memory(ids.shape[0]))
    clone.set_weights(model.get_weights())
    logits, _ = jax.jit(clone.call_with_memory)(
        ids, clone.initial_memory(ids.shape[0]))
    return np.asarray(logits), np.array(len(calls))


if __name__ == "__main__":
    main(*sys.argv[1:])
