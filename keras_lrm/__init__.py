"""keras_lrm: memory-augmented transformer layers for Keras 3.

Transformer-XL layers with a per-layer memory length, so that only a few
layers keep a long-range memory (Rae & Razavi, 2020).

The layers and models are written in `keras.ops` and import nothing from
TensorFlow, so they also run on the JAX backend (tests/test_backends.py;
other backends are untested). Export, generation from a SavedModel, data
pipelines and training helpers are TensorFlow-specific and are imported on
first use.
"""

import os

from keras_lrm import quiet
from keras_lrm.version import __version__

# TensorFlow's routine start-up notices (no CUDA driver, oneDNN, CPU
# instructions) stay off stderr; everything else it says is shown.
quiet.quiet_tensorflow_start_up()

__all__ = ["Placement", "generate", "layers", "models", "samplers",
           "__version__"]


# The layers and models load with the package, as Keras users expect: that
# registers them, so `keras.saving.load_model` finds them after
# `import keras_lrm`. The recipes set KERAS_LRM_DEFER_IMPORTS=1 before they
# import keras_lrm, so that parsing their flags (and `--help`) waits for
# neither Keras nor TensorFlow; those load when the run starts. The
# TensorFlow-specific parts always load on first use (PEP 562).
if not os.environ.get("KERAS_LRM_DEFER_IMPORTS"):
    from keras_lrm import layers  # noqa: E402
    from keras_lrm import models  # noqa: E402
    from keras_lrm import samplers  # noqa: E402
    from keras_lrm.placement import Placement  # noqa: E402

_LAZY_MODULES = ("data", "distribute", "export", "layers", "metrics",
                 "models", "samplers", "training", "tuning")


def __getattr__(name):
    if name == "Placement":
        from keras_lrm.placement import Placement
        return Placement
    if name == "generate":
        from keras_lrm.export.generation import generate
        return generate
    if name in _LAZY_MODULES:
        import importlib
        return importlib.import_module(f"keras_lrm.{name}")
    raise AttributeError(f"module 'keras_lrm' has no attribute {name!r}")
