"""Runs an export with TensorFlow alone (tests/test_export.py's subprocess).

Usage: python tests/export_consumer.py EXPORT_DIR CASES.npz OUT.npz
Importing keras_lrm is made impossible first, so that only the SavedModel
and TensorFlow can produce the outputs.
"""

import sys

sys.modules["keras_lrm"] = None  # any `import keras_lrm` now fails

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def run(loaded, step, initial, ids, pieces):
    """Logits of `ids` fed in `pieces`, and the last state."""
    state = loaded.signatures[initial](batch_size=tf.constant(ids.shape[0]))
    logits = []
    for start, stop in zip(pieces[:-1], pieces[1:]):
        result = loaded.signatures[step](
            token_ids=tf.constant(ids[:, start:stop]), **state)
        logits.append(result.pop("logits").numpy())
        state = result
    return np.concatenate(logits, axis=1), state


def main(export_dir, cases_path, output_path):
    loaded = tf.saved_model.load(export_dir)
    cases = np.load(cases_path)
    outputs = {}
    for name in sorted({k.split("/")[0] for k in cases}):
        ids = cases[f"{name}/ids"]
        pieces = cases[f"{name}/pieces"]
        logits, memory = run(loaded, "step", "initial_memory", ids, pieces)
        outputs[f"{name}/logits"] = logits
        for key, value in memory.items():
            outputs[f"{name}/{key}"] = value.numpy()
        outputs[f"{name}/cached_logits"], _ = run(
            loaded, "step_cached", "initial_cache", ids, pieces)
    try:
        import keras_lrm  # noqa: F401
    except ImportError:
        outputs["keras_lrm_blocked"] = np.array(True)
    np.savez(output_path, **outputs)


if __name__ == "__main__":
    main(*sys.argv[1:4])
