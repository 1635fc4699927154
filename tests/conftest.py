"""Shared test set-up: quiet TensorFlow, float32 policy, fixed seed, and
the `optin` tests left out unless `KERAS_LRM_OPTIN=1`."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The tests' models are tiny: XLA:CPU spends its time compiling them, not
# running them. Without LLVM's optimisations a compile is shorter (about a
# fifth less time for the XLA-heavy test files, measured); the suite's
# tolerances hold as before. Child processes (recipes, workers) inherit it;
# a user's own XLA_FLAGS wins. The library and its recipes keep the default.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

# First, so that TensorFlow's start-up notices stay out of the output.
import keras_lrm  # noqa: E402,F401
import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPUs stand in for two accelerators in the strategy tests. This
# must happen before TensorFlow starts its runtime, hence at import time.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def pytest_collection_modifyitems(config, items):
    """Files with a `slow` test go first, and the `optin` tests (longer
    variants, for a nightly run) are skipped unless `KERAS_LRM_OPTIN=1`.

    Under `--dist loadfile` a file is one piece of work: a long file
    handed out last keeps one worker busy while the other waits, so the
    long files are handed out first and the short ones even out the end.
    The order within a file is kept (the sort is stable).
    """
    slow_files = {item.path for item in items if "slow" in item.keywords}
    items.sort(key=lambda item: item.path not in slow_files)
    if os.environ.get("KERAS_LRM_OPTIN") == "1":
        return
    skip = pytest.mark.skip(reason="opt-in: set KERAS_LRM_OPTIN=1 to run")
    for item in items:
        if "optin" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def float32_policy():
    """Every test starts and ends with the float32 policy and a fixed seed."""
    keras.mixed_precision.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_dtype_policy("float32")
