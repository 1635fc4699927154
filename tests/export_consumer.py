"""Runs an export with TensorFlow alone (tests/test_export.py's subprocess).

Usage: python tests/export_consumer.py EXPORT_DIR CASES.npz OUT.npz
Importing keras_lrm is made impossible first, so that only the SavedModel
and TensorFlow can produce the outputs.
"""

import sys

sys.modules["keras_lrm"] = None  # any `import keras_lrm` now fails

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(export_dir, cases_path, output_path):
    loaded = tf.saved_model.load(export_dir)
    step = loaded.signatures["step"]
    cases = np.load(cases_path)
    outputs = {}
    for name in sorted({k.split("/")[0] for k in cases}):
        ids = cases[f"{name}/ids"]
        pieces = cases[f"{name}/pieces"]
        memory = loaded.signatures["initial_memory"](
            batch_size=tf.constant(ids.shape[0]))
        logits = []
        for start, stop in zip(pieces[:-1], pieces[1:]):
            result = step(token_ids=tf.constant(ids[:, start:stop]),
                          **memory)
            logits.append(result.pop("logits").numpy())
            memory = result
        outputs[f"{name}/logits"] = np.concatenate(logits, axis=1)
        for key, value in memory.items():
            outputs[f"{name}/{key}"] = value.numpy()
    try:
        import keras_lrm  # noqa: F401
    except ImportError:
        outputs["keras_lrm_blocked"] = np.array(True)
    np.savez(output_path, **outputs)


if __name__ == "__main__":
    main(*sys.argv[1:4])
