"""Shared test set-up: quiet TensorFlow, float32 policy, fixed seed."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPUs stand in for two accelerators in the strategy tests. This
# must happen before TensorFlow starts its runtime, hence at import time.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(autouse=True)
def float32_policy():
    """Every test starts and ends with the float32 policy and a fixed seed."""
    keras.mixed_precision.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_dtype_policy("float32")
