"""Installing keras_lrm never pulls plain TensorFlow over tensorflow-tpu."""

from importlib import metadata

from packaging.requirements import Requirement

import keras_lrm


def requirements():
    found = {}
    for line in metadata.requires("keras_lrm") or []:
        requirement = Requirement(line)
        extra = None
        if requirement.marker is not None:
            for extra_name in ("cpu", "gpu", "tpu", "test"):
                if requirement.marker.evaluate({"extra": extra_name}):
                    extra = extra_name
        found.setdefault(extra, set()).add(requirement.name.lower())
    return found


def test_tensorflow_comes_only_from_the_hardware_extras():
    found = requirements()
    base = found[None]
    assert {"keras", "keras-tuner", "tensorflow-datasets",
            "tensorboard"} <= base
    assert not base & {"tensorflow", "tensorflow-text", "tensorflow-tpu"}
    assert {"tensorflow", "tensorflow-text"} <= found["cpu"]
    assert {"tensorflow", "tensorflow-text"} <= found["gpu"]
    assert found["tpu"] == {"tensorflow-tpu"}


def test_version_matches_the_installed_distribution():
    assert metadata.version("keras_lrm") == keras_lrm.__version__
