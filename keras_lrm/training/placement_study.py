"""Rae & Razavi's placement study: one model, only the memory varies.

Every run of a study trains the same `Experiment` (model, data order,
steps) with one memory configuration and one seed, and measures:

- validation loss (bits per byte, or perplexity for words) with the
  training memory, and with the long memories lengthened to
  `eval_long_length` (the paper trains with 2304 and evaluates with 6000);
- training time per token, over the steps after the first `warm_steps`
  (the first step compiles);
- peak memory of the training step: XLA's buffer assignment of the
  compiled step where a dump folder is given (exact: arguments, outputs
  and the temporaries live at once, as `bench/` reads it), the device
  allocator's peak on a GPU or TPU, and the process's peak RSS during
  training (Linux; everything the process holds, earlier runs included);
- bytes of memory state one stream carries (`lm.state_spec()`).

`CONFIGS` are the paper's configurations named by the share of layers
with a long memory: every layer, half (interleaved / first / last), one
sixth (interleaved / first / last / middle) and none. Two names that pick
the same layers at a depth (one sixth of 6 layers interleaved is the top
layer, as "last") are run once: `resolve_configs` keeps the first and
names the other as its alias.
"""

import dataclasses
import os
import platform
import re
import time

# name -> (placement policy, share of the layers with a long memory)
CONFIGS = {
    "all": ("all", None),
    "half_interleaved": ("interleaved", 2),
    "half_first": ("first", 2),
    "half_last": ("last", 2),
    "sixth_interleaved": ("interleaved", 6),
    "sixth_first": ("first", 6),
    "sixth_last": ("last", 6),
    "sixth_middle": ("middle", 6),
    "none": ("none", None),
}


def check_config_names(names):
    """`names` (a list) checked against `CONFIGS`: `ValueError` naming the
    unknown ones."""
    unknown = [name for name in names if name not in CONFIGS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(
            f"`configs` must be distinct names from {list(CONFIGS)}. "
            f"Received: configs={','.join(names)!r}")
    return list(names)


def num_long_of(name, num_layers):
    """Layers with a long memory in configuration `name` (at least one for
    a share; `num_layers` for "all", 0 for "none")."""
    policy, share = CONFIGS[name]
    if policy == "all":
        return num_layers
    if policy == "none":
        return 0
    return max(1, num_layers // share)


def long_layers_of(name, num_layers):
    """The sorted layer indices `name` gives a long memory."""
    from keras_lrm.placement import Placement

    policy, _ = CONFIGS[name]
    count = None if policy in ("all", "none") else \
        num_long_of(name, num_layers)
    return Placement(policy, count, 1, 0).long_layers(num_layers)


def resolve_configs(names, num_layers):
    """`(kept, aliases)`: the names in `names` to run, the first of each
    set of names giving the same long layers at `num_layers`, and
    `{dropped name: kept name}` for the others."""
    kept, aliases, seen = [], {}, {}
    for name in check_config_names(names):
        layers = tuple(long_layers_of(name, num_layers))
        if layers in seen:
            aliases[name] = seen[layers]
        else:
            seen[layers] = name
            kept.append(name)
    return kept, aliases


def config_experiment(experiment, name, seed):
    """`experiment` with the placement of configuration `name` and `seed`."""
    policy, _ = CONFIGS[name]
    changes = {"placement": policy, "seed": seed}
    if policy not in ("all", "none"):
        changes["num_long"] = num_long_of(name, experiment.model.num_layers)
    return dataclasses.replace(experiment, **changes)


def machine():
    """This machine in words (as `study.provenance` names it)."""
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, "
            f"{platform.system()} {platform.release()}")


def xla_step_memory(dump, before=()):
    """The largest XLA module compiled into `dump` since `before` (the
    names there then): `{"xla_total_mb", "xla_temp_mb"}` from its buffer
    assignment (arguments, outputs and temporaries; temporaries alone),
    or `None` when no buffer assignment is there."""
    best = None
    names = os.listdir(dump) if dump and os.path.isdir(dump) else []
    for name in sorted(set(names) - set(before)):
        if not name.endswith("after_optimizations-buffer-assignment.txt"):
            continue
        with open(os.path.join(dump, name), encoding="utf-8") as handle:
            text = handle.read()
        sizes = [int(size) for size in re.findall(
            r"^allocation \d+: size (\d+)", text, re.M)]
        temp = re.search(
            r"^allocation \d+: size (\d+), preallocated-temp", text, re.M)
        found = {"xla_total_mb": round(sum(sizes) / 2**20, 2),
                 "xla_temp_mb": round(int(temp.group(1)) / 2**20, 2)
                 if temp else 0.0}
        if best is None or found["xla_total_mb"] > best["xla_total_mb"]:
            best = found
    return best


def _status_mb(key):
    """A /proc/self/status entry in MB (VmHWM: peak RSS), or None."""
    try:
        with open("/proc/self/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        return None
    return None


def _reset_peak_rss():
    """Linux: resets the process's peak-RSS mark (as bench/ does)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as handle:
            handle.write("5")
    except OSError:
        pass


def _accelerator(strategy):
    """`"GPU:0"` / `"TPU:0"` of the strategy's first device, else None."""
    import tensorflow as tf

    try:
        device = strategy.extended.worker_devices[0]
    except RuntimeError:  # the default strategy: TensorFlow's placement
        found = [device.name for kind in ("TPU", "GPU")
                 for device in tf.config.list_logical_devices(kind)]
        device = found[0] if found else ""
    match = re.search(r"device:((?:GPU|TPU):\d+)", device)
    return match.group(1) if match else None


def _device_peak(device, reset):
    """The allocator's peak on `device` in MB (after `reset`, zeroes it)."""
    import tensorflow as tf

    try:
        if reset:
            tf.config.experimental.reset_memory_stats(device)
            return None
        peak = tf.config.experimental.get_memory_info(device)["peak"]
        return round(peak / 2**20, 1)
    except (ValueError, RuntimeError, tf.errors.OpError):
        return None


def _step_timer(warm_steps):
    """A callback timing the optimizer steps after `warm_steps`."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.marks = {}

        def _mark(self, name, logs):
            if logs and "loss" in logs:
                float(logs["loss"])  # waits for the step to finish
            self.marks[name] = (int(self.model.optimizer.iterations.numpy()),
                                time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            if "warm" not in self.marks and \
                    int(self.model.optimizer.iterations.numpy()) \
                    >= warm_steps:
                self._mark("warm", logs)

        def on_train_end(self, logs=None):
            self._mark("end", logs)

    return StepTimer()


def train_and_measure(experiment, xla_dump=None, warm_steps=10):
    """Trains `experiment` for `train_steps` from scratch and measures it
    (see the module docstring); returns a dict of plain values."""
    from keras_lrm.data.shards.manifest import naming_damaged_shards
    from keras_lrm.data.streams.distribution import distribute_streams
    from keras_lrm.data.streams.source import StreamSource
    from keras_lrm.training.evaluation import evaluate_stream
    from keras_lrm.training.progress import RunProgress
    from keras_lrm.training.setup import set_up
    from keras_lrm.training.setup import verbose_for

    training, model_config = experiment.training, experiment.model
    evaluation = experiment.evaluation
    tokens_per_step = training.batch_size * training.segment_length
    warm_steps = max(1, min(warm_steps, training.train_steps // 2))
    with set_up(experiment) as run:
        strategy, layout = run.strategy, run.train_layout
        with strategy.scope():
            model = run.build_model()
        lm = model.lm
        timer = _step_timer(warm_steps)
        callbacks = [timer, RunProgress(verbose_for(experiment),
                                        training.train_steps,
                                        tokens_per_step)]
        before = os.listdir(xla_dump) if xla_dump else ()
        device = _accelerator(strategy)
        if device:
            _device_peak(device, reset=True)
        _reset_peak_rss()
        started, step = time.perf_counter(), 0
        while step < training.train_steps:
            epoch, window = divmod(step, layout.num_windows)
            steps = min(layout.num_windows - window,
                        training.train_steps - step)
            if window == 0:
                model.reset_memory("train")
            data = distribute_streams(strategy, run.train_source, layout,
                                      start_window=window)
            with naming_damaged_shards(run.manifest):
                history = model.fit(
                    data, initial_epoch=epoch, epochs=epoch + 1,
                    steps_per_epoch=steps, callbacks=callbacks,
                    shuffle=False, verbose=0)
            step = int(model.optimizer.iterations.numpy())
        seconds = time.perf_counter() - started
        (first, start), (last, end) = timer.marks["warm"], timer.marks["end"]
        timed_tokens = (last - first) * tokens_per_step
        measured = {
            "policy": model_config.placement,
            "long_layers": model_config.placement_for(1, 0).long_layers(
                model_config.num_layers),
            "memory_lengths": lm.memory_lengths,
            "train_seconds": round(seconds, 1),
            "us_per_token": round((end - start) / timed_tokens * 1e6, 2)
            if timed_tokens else None,
            "last_loss": float(history.history["loss"][-1]),
            "state_bytes": lm.state_spec("memory").nbytes(1),
            "rss_peak_mb": _status_mb("VmHWM"),
            "device_peak_mb": _device_peak(device, reset=False)
            if device else None,
            "replicas": strategy.num_replicas_in_sync,
            "machine": machine(),
        }
        measured.update(xla_step_memory(xla_dump, before) or
                        {"xla_total_mb": None, "xla_temp_mb": None})
        long_length = evaluation.eval_long_length or model_config.long_length
        short_length = evaluation.eval_short_length or \
            model_config.short_length
        eval_lengths = model_config.placement_for(
            long_length, short_length).memory_lengths(model_config.num_layers)
        source = StreamSource.from_manifest(run.manifest, "valid")
        measured["eval_memory_lengths"] = eval_lengths
        measured["eval_state_bytes"] = lm.with_memory_lengths(
            eval_lengths).state_spec("memory").nbytes(1)
        with strategy.scope():
            for key, lengths in (("valid", None),
                                 ("valid_eval_memory", eval_lengths)):
                if lengths is not None and lengths == lm.memory_lengths:
                    measured[key] = measured["valid"]
                    continue
                with naming_damaged_shards(run.manifest):
                    result = evaluate_stream(
                        lm, source, batch_size=evaluation.eval_batch_size,
                        segment_length=evaluation.eval_segment_length
                        or training.segment_length,
                        memory_lengths=lengths,
                        max_tokens=evaluation.eval_tokens or None,
                        jit_compile=training.jit_compile,
                        verbose=verbose_for(experiment))
                measured[key] = result["bits_per_token"] \
                    if run.metric == "bpc" else result["perplexity"]
        measured["unit"] = run.metric
    return measured
