"""Files written by keras_lrm 0.1.0 still load and give the same logits.

`tests/fixtures/` holds a tiny byte LM saved by commit e29f24f (the release
before the state spec, the attention seams and `memory_lengths=`): its
`.keras` file (placement given as a list of lengths, as that release
allowed), its SavedModel (as a tar.gz) and the logits it gave for the
tokens 1..6 from an empty memory. Made by the script in the docstring of
`_make` below, run with that commit on the path.
"""

import tarfile
import warnings

import keras
import numpy as np
import tensorflow as tf

import keras_lrm
from keras_lrm.export import export_saved_model
from keras_lrm.export import load_model

FIXTURES = __file__.rsplit("/", 1)[0] + "/fixtures"
IDS = np.array([[1, 2, 3, 4, 5, 6]], "int32")


def _make():
    """How the fixtures were made (with e29f24f's keras_lrm):

        model = MemoryTransformerLM(vocab_size=256, num_layers=2,
            d_model=16, num_heads=2, d_ff=32, segment_length=4,
            placement=[4, 8])
        model.set_weights([N(0, 0.15) per weight, numpy seed 0])
        model.save("lm_0.1.0.keras")
        export_saved_model(model, "export_0.1.0")
        logits of call_with_memory(IDS, initial_memory(1)) ->
            logits_0.1.0.npy
    """


def _expected():
    return np.load(f"{FIXTURES}/logits_0.1.0.npy")


def test_a_keras_file_of_the_previous_release_loads_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        model = keras.saving.load_model(f"{FIXTURES}/lm_0.1.0.keras")
    assert model.memory_lengths == [4, 8] and model.placement is None
    logits, state = model.call_with_memory(IDS, model.initial_memory(1))
    np.testing.assert_allclose(np.asarray(logits), _expected(), atol=1e-5)
    model.state_spec().check(state, 1)


def _unpack(tmp_path):
    with tarfile.open(f"{FIXTURES}/export_0.1.0.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    return str(tmp_path / "export_0.1.0")


def test_a_saved_model_of_the_previous_release_serves_and_generates(
        tmp_path):
    path = _unpack(tmp_path)
    loaded = tf.saved_model.load(path)
    state = loaded.signatures["initial_memory"](batch_size=tf.constant(1))
    out = loaded.signatures["step"](token_ids=tf.constant(IDS), **state)
    np.testing.assert_allclose(out["logits"].numpy(), _expected(), atol=1e-5)
    # keras_lrm.generate serves it with its per-token signatures (it has
    # no `generate` signature), as it serves the Keras model.
    model = load_model(f"{FIXTURES}/lm_0.1.0.keras")
    from_export = keras_lrm.generate(load_model(path), IDS[0].tolist(),
                                     max_new_tokens=5, top_k=1)
    from_keras = keras_lrm.generate(model, IDS[0].tolist(),
                                    max_new_tokens=5, top_k=1)
    np.testing.assert_array_equal(np.asarray(from_export),
                                  np.asarray(from_keras))


def test_the_previous_release_model_exports_with_this_release(tmp_path):
    model = keras.saving.load_model(f"{FIXTURES}/lm_0.1.0.keras")
    path = export_saved_model(model, str(tmp_path / "again"))
    loaded = tf.saved_model.load(path)
    assert "generate" in loaded.signatures
    state = loaded.signatures["initial_memory"](batch_size=tf.constant(1))
    out = loaded.signatures["step"](token_ids=tf.constant(IDS), **state)
    np.testing.assert_allclose(out["logits"].numpy(), _expected(), atol=1e-5)
