"""The layers and models run on the JAX backend, without TensorFlow."""

import json
import os
import subprocess
import sys

import keras
import numpy as np

import keras_lrm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = dict(vocab_size=40, num_layers=3, d_model=16, num_heads=2, d_ff=24,
              segment_length=5, memory_lengths=[10, 5, 10], dropout=0.0)


def test_jax_backend_gives_the_tensorflow_logits_and_memory(tmp_path):
    keras.utils.set_random_seed(3)
    model = keras_lrm.models.MemoryTransformerLM(**CONFIG)
    ids = np.random.default_rng(0).integers(0, 40, (2, 12)).astype("int32")
    pieces = [0, 5, 7, 12]
    memory = model.initial_memory(2)
    expected = {}
    for i, (start, stop) in enumerate(zip(pieces[:-1], pieces[1:])):
        logits, memory = model.call_with_memory(ids[:, start:stop], memory)
        expected[f"logits_{i}"] = np.asarray(logits)
    for key, value in memory.items():
        expected[f"memory/{key}"] = np.asarray(value)
    full_logits, _ = model.call_with_memory(ids, model.initial_memory(2))
    weights = model.get_weights()
    np.savez(tmp_path / "case.npz", config=json.dumps(CONFIG), ids=ids,
             pieces=np.array(pieces), num_weights=len(weights),
             **{f"weight_{i}": w for i, w in enumerate(weights)})
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "jax_consumer.py"),
         str(tmp_path / "case.npz"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    got = np.load(tmp_path / "out.npz")
    assert str(got["backend"]) == "jax"
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(got["jit_logits"], np.asarray(full_logits),
                               atol=1e-5)
    # The fused attention path (as XLA here) under jax.jit: one fused op
    # per layer and call, the same logits.
    assert int(got["fused_calls"]) >= CONFIG["num_layers"]
    np.testing.assert_allclose(got["fused_jit_logits"],
                               np.asarray(full_logits), atol=1e-5)
    assert "must lie in [0, vocab_size=40)" in str(got["range_error"])
    # softmax_attention's hand-written gradient, as JAX differentiates it.
    assert float(got["attention_gradient_error"]) < 1e-5
