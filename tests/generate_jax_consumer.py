"""`MemoryTransformerLM.generate` on the JAX backend (a subprocess of
tests/test_generation.py).

Usage: python tests/generate_jax_consumer.py CASE.npz OUT.npz
TensorFlow cannot be imported here, so the loop and the samplers must run
on `keras.ops` alone.
"""

import json
import os
import sys

sys.modules["tensorflow"] = None  # any `import tensorflow` now fails
os.environ["KERAS_BACKEND"] = "jax"

import numpy as np  # noqa: E402

import keras_lrm  # noqa: E402


def main(case_path, output_path):
    case = np.load(case_path)
    model = keras_lrm.models.MemoryTransformerLM.from_config(
        json.loads(str(case["config"])))
    model.set_weights([case[f"weight_{i}"]
                       for i in range(int(case["num_weights"]))])
    ids = case["ids"]
    np.savez(output_path,
             greedy=np.asarray(model.generate(ids, 6, sampler="greedy")),
             top_k=np.asarray(model.generate(
                 ids, 6, sampler=keras_lrm.samplers.TopKSampler(k=5),
                 seed=3)))


if __name__ == "__main__":
    main(*sys.argv[1:3])
