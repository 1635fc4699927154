"""Choosing a `tf.distribute` strategy: TPU, multi-worker, mirrored, default.

TensorFlow-specific. `resolve_strategy("auto")` picks, in order: a TPU when
one is reachable (Colab or a Cloud TPU VM), `MultiWorkerMirroredStrategy`
when `TF_CONFIG` names several workers, `MirroredStrategy` over several
GPUs, else the default strategy (one device).
"""

import json
import logging
import os

import tensorflow as tf

STRATEGIES = ("auto", "tpu", "multiworker", "mirrored", "cpu")

_TPU_ENVIRONMENT = ("TPU_NAME", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE")


def tpu_visible(environ=None):
    """Whether this process can reach a TPU (without connecting to it)."""
    environ = os.environ if environ is None else environ
    if any(environ.get(name) for name in _TPU_ENVIRONMENT):
        return True
    return on_tpu_vm()


def on_tpu_vm():
    """Whether this machine has TPU chips of its own (a TPU VM: `/dev/accel*`
    on v2-v4, `/dev/vfio/*` on v5e and later), reached as "local"."""
    return os.path.exists("/dev/accel0") or os.path.exists("/dev/vfio/0")


def num_workers(environ=None):
    """Workers named by `TF_CONFIG` (1 when it is absent)."""
    environ = os.environ if environ is None else environ
    raw = environ.get("TF_CONFIG")
    if not raw:
        return 1
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError) as error:
        raise ValueError(
            f"`TF_CONFIG` must be JSON with a 'cluster'. Received: {raw!r}"
        ) from error
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def choose(name="auto", environ=None, num_gpus=None):
    """The strategy kind `name` resolves to here, without creating it."""
    if name not in STRATEGIES:
        raise ValueError(
            f"`strategy` must be one of {STRATEGIES}. Received: "
            f"strategy={name!r}"
        )
    if name != "auto":
        return name
    if tpu_visible(environ):
        return "tpu"
    if num_workers(environ) > 1:
        return "multiworker"
    if num_gpus is None:
        num_gpus = len(tf.config.list_physical_devices("GPU"))
    return "mirrored" if num_gpus > 1 else "cpu"


def connect_tpu(tpu=None):
    """Connects to a TPU and returns its `TPUStrategy`.

    Args:
        tpu: TPU name or address; `None` finds it from the environment
            (Colab: `COLAB_TPU_ADDR`; a TPU VM: "local").
    """
    if tpu is None and on_tpu_vm():
        tpu = "local"
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    if tpu != "local":
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def resolve_strategy(name="auto", tpu=None):
    """Creates the strategy `name` stands for (see `choose`).

    Args:
        name: "auto", "tpu", "multiworker", "mirrored" (all GPUs, or all
            logical CPUs when there is no GPU) or "cpu" (the default
            strategy).
        tpu: TPU name or address for "tpu".

    Returns:
        A `tf.distribute.Strategy`.
    """
    kind = choose(name)
    if kind == "tpu":
        strategy = connect_tpu(tpu)
    elif kind == "multiworker":
        if num_workers() < 2:
            raise ValueError(
                "`strategy`='multiworker' needs TF_CONFIG naming the "
                "workers. Received: strategy='multiworker' without it"
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif kind == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        if not devices:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        strategy = tf.distribute.get_strategy()
    logging.info("Strategy %s with %d replicas", type(strategy).__name__,
                 strategy.num_replicas_in_sync)
    return strategy


def is_chief(strategy):
    """Whether this worker writes shared outputs (checkpoints, exports)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 \
        and not has_chief
