import json

import pytest
import tensorflow as tf

from keras_lrm import distribute


def test_auto_prefers_tpu_then_workers_then_gpus():
    cluster = json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                          "task": {"type": "worker", "index": 0}})
    assert distribute.choose("auto", {"COLAB_TPU_ADDR": "10.0.0.2:8470"},
                             num_gpus=0) == "tpu"
    assert distribute.choose("auto", {"TPU_NAME": "my-tpu",
                                      "TF_CONFIG": cluster}, 4) == "tpu"
    assert distribute.choose("auto", {"TF_CONFIG": cluster}, 4) == \
        "multiworker"
    assert distribute.choose("auto", {}, num_gpus=2) == "mirrored"
    assert distribute.choose("auto", {}, num_gpus=1) == "cpu"
    assert distribute.choose("mirrored", {}, num_gpus=0) == "mirrored"


def test_workers_counted_from_tf_config():
    assert distribute.num_workers({}) == 1
    config = {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}}
    assert distribute.num_workers({"TF_CONFIG": json.dumps(config)}) == 3
    with pytest.raises(ValueError, match="`TF_CONFIG`"):
        distribute.num_workers({"TF_CONFIG": "{not json"})


def test_unknown_strategy_names_the_argument():
    with pytest.raises(ValueError, match="`strategy`"):
        distribute.choose("gpu-cluster")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.resolve_strategy("multiworker")


def test_mirrored_uses_both_logical_cpus_and_default_is_one_device():
    mirrored = distribute.resolve_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == 2
    assert distribute.is_chief(mirrored)
    default = distribute.resolve_strategy("cpu")
    assert default.num_replicas_in_sync == 1
