"""Calls an export's `generate` signature with TensorFlow alone.

Usage: python tests/generate_consumer.py EXPORT_DIR IDS.npy OUT.npz
(tests/test_generation.py's subprocess). Importing keras_lrm is made
impossible first, so only the SavedModel and TensorFlow run.
"""

import sys

sys.modules["keras_lrm"] = None  # any `import keras_lrm` now fails

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(export_dir, ids_path, output_path):
    loaded = tf.saved_model.load(export_dir)
    outputs = loaded.signatures["generate"](
        token_ids=tf.constant(np.load(ids_path)),
        max_new_tokens=tf.constant(6), temperature=tf.constant(0.0),
        top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant(0))
    result = {name: value.numpy() for name, value in outputs.items()}
    try:
        import keras_lrm  # noqa: F401
    except ImportError:
        result["keras_lrm_blocked"] = np.array(True)
    np.savez(output_path, **result)


if __name__ == "__main__":
    main(*sys.argv[1:4])
