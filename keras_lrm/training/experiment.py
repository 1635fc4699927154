"""One training run: set-up, stateful `fit`, evaluation, artifacts.

Recipes fill in an `Experiment` and call `run_experiment`. Training is
counted in steps (as Transformer-XL does); a Keras epoch is one pass over
the training streams, which starts with an empty memory. The run is set
up by `keras_lrm.training.setup` (as the memory search is) and writes its
files through `keras_lrm.training.artifacts`.
"""

import logging
import time

import keras

from keras_lrm.data.shards.manifest import naming_damaged_shards
from keras_lrm.data.streams.distribution import distribute_streams
from keras_lrm.data.streams.source import StreamSource
from keras_lrm.distribute import is_chief
from keras_lrm.training.artifacts import RunArtifacts
from keras_lrm.training.checkpoint import StreamCheckpoint
from keras_lrm.training.evaluation import evaluate_stream

# Re-exported: `Experiment` lived here, and recipes import it from here.
from keras_lrm.training.experiment_config import Experiment  # noqa: F401
from keras_lrm.training.learning_curve import LossCurve
from keras_lrm.training.learning_curve import curve_interval
from keras_lrm.training.learning_curve import points_until
from keras_lrm.training.progress import RunProgress

# Re-exported: these lived here (`keras_lrm.training.build_lm`, ...).
from keras_lrm.training.setup import build_lm  # noqa: F401
from keras_lrm.training.setup import build_optimizer  # noqa: F401
from keras_lrm.training.setup import metric_for
from keras_lrm.training.setup import precision_for  # noqa: F401
from keras_lrm.training.setup import prepare_data  # noqa: F401
from keras_lrm.training.setup import set_up
from keras_lrm.training.setup import verbose_for
from keras_lrm.training.summary import run_summary


def evaluate_split(experiment, lm, manifest, split, label):
    """Evaluates `lm` on `split` as the experiment's evaluation fields say
    (memory carried, every token once); prints and returns the result with
    its `unit` ("bpc" or "perplexity") and `value`.

    Raises:
        ValueError: the split has fewer than 2 tokens.
    """
    model, evaluation = experiment.model, experiment.evaluation
    long_length = evaluation.eval_long_length or model.long_length
    short_length = evaluation.eval_short_length or model.short_length
    lengths = None
    if (long_length, short_length) != (model.long_length,
                                       model.short_length):
        lengths = model.placement_for(
            long_length, short_length).memory_lengths(model.num_layers)
    logging.info("Evaluating %s (%s)", split, label)
    source = StreamSource.from_manifest(manifest, split)
    if source.num_tokens < 2:
        raise ValueError(
            f"The {split!r} split of {manifest.directory} has "
            f"{source.num_tokens} tokens; evaluation needs at least 2. "
            "Give the corpus more text (a `text` corpus splits its files "
            "by a hash of their paths), or skip this evaluation. Received: "
            f"{split} tokens={source.num_tokens}"
        )
    with naming_damaged_shards(manifest):
        result = evaluate_stream(
            lm, source,
            batch_size=evaluation.eval_batch_size,
            segment_length=evaluation.eval_segment_length
            or experiment.training.segment_length,
            memory_lengths=lengths,
            max_tokens=evaluation.eval_tokens or None,
            jit_compile=experiment.training.jit_compile,
            verbose=verbose_for(experiment))
    unit = metric_for(manifest)
    value = result["bits_per_token"] if unit == "bpc" \
        else result["perplexity"]
    print(f"{label} {split}: {unit} {value:.4f} over {result['tokens']} "
          f"tokens", flush=True)
    return {**result, "unit": unit, "value": value}


def run_experiment(experiment):
    """Trains and evaluates; returns a dict of results (also saved as JSON).

    Resumes from `<checkpoint_dir>/<name>/` when a checkpoint is there,
    continuing the training streams at the next window with every
    replica's memory (see `StreamCheckpoint`: a checkpoint of another
    stream layout is refused, a non-finite one never saved nor resumed).

    `results.json` is written when training starts (`status`
    "training", with `before`), after training ("trained", with
    `model_path`) and after the export ("complete"; at once without an
    export). A resumed run merges its figures with the earlier runs', so
    the file reads as an uninterrupted run's: `before` is the first run's,
    and `train` covers every step: `seconds` is the time inside `fit`
    summed over the runs (the steps a killed run made after its last
    checkpoint are not counted: they were made again), `tokens_per_second`
    every trained token over those seconds, `last_loss` the mean loss over
    the last pass's steps up to the end (what Keras logs for it), and
    `attempts` the number of runs that trained. `attempts` (top level)
    lists each run: the step it started from and, once it finished, its
    last step and seconds. A run that finds training already done (e.g.
    killed during the export) keeps these figures and evaluates again.
    `curve` holds the mean training loss every few steps (written before
    each checkpoint, so a resumed run keeps an uninterrupted run's), which
    `learning_curve.png` draws with the validation before and after.
    `experiment` holds every field by its flag name
    (`Experiment.flat_dict()`).

    Progress goes to stdout (`verbose`: a bar in a terminal, plain lines
    in a file), and the run ends by printing a summary: the validation
    before and after, tokens/s, the wall time, where each file went and
    the command that generates from the export. Keras' global dtype
    policy is the run's `precision` during the run and what it was before
    after it.

    Raises:
        NonFiniteError: training produced a non-finite loss or weights;
            the message names the step and the last good checkpoint.
        ValueError: the run folder holds files that a run did not write,
            or a checkpoint of another layout.
    """
    started = time.perf_counter()
    with set_up(experiment) as run:
        artifacts = RunArtifacts(experiment, chief=is_chief(run.strategy))
        lm, results, checkpoint = _train(experiment, run, artifacts)
        if artifacts.chief:
            results["status"] = "trained" \
                if experiment.output.export_dir else "complete"
            artifacts.save(lm, run.manifest, results)
            if experiment.output.export_dir:
                artifacts.export_and_sample(run.manifest, results)
            print(run_summary(results, time.perf_counter() - started,
                              artifacts.written(checkpoint, results)),
                  flush=True)
    return results


def _train(experiment, run, artifacts):
    """Trains from the last checkpoint to `train_steps` and evaluates;
    returns the trained `MemoryTransformerLM`, the results and the
    `StreamCheckpoint`."""
    training, output = experiment.training, experiment.output
    strategy, manifest, layout = run.strategy, run.manifest, run.train_layout
    earlier = artifacts.earlier
    with strategy.scope():
        model = run.build_model()
        lm = model.lm
        checkpoint = StreamCheckpoint(
            experiment.run_dir, model, output.save_every,
            layout={"windows_per_pass": layout.num_windows,
                    "train_tokens": run.train_source.num_tokens})
        step = checkpoint.restore()
        results = {"experiment": experiment.flat_dict(),
                   "status": "training",
                   "strategy": type(strategy).__name__,
                   "replicas": strategy.num_replicas_in_sync,
                   "memory_lengths": lm.memory_lengths,
                   "windows_per_pass": layout.num_windows}
        if step == 0:
            results["before"] = evaluate_split(experiment, lm, manifest,
                                               "valid", "before training")
        elif "before" in earlier:
            results["before"] = earlier["before"]
        attempt = {"first_step": step}
        results["attempts"] = list(earlier.get("attempts", [])) + [attempt]
        artifacts.write_results(results)

        def save_curve(record):
            results["curve"] = record
            artifacts.write_results(results)

        curve = LossCurve(
            curve_interval(training.train_steps, output.save_every),
            checkpoint, points_until(earlier.get("curve"), step),
            on_save=save_curve)
        results["curve"] = curve.record()
        callbacks = [
            curve,
            checkpoint,
            keras.callbacks.TensorBoard(artifacts.log_dir),
            RunProgress(verbose_for(experiment), training.train_steps,
                        training.batch_size * experiment.window_length),
        ]
        seconds_before = checkpoint.progress["seconds"]
        while step < training.train_steps:
            epoch, window = divmod(step, layout.num_windows)
            steps = min(layout.num_windows - window,
                        training.train_steps - step)
            if window == 0:
                model.reset_memory("train")
            dataset = distribute_streams(strategy, run.train_source, layout,
                                         start_window=window)
            with naming_damaged_shards(manifest):
                model.fit(
                    dataset, initial_epoch=epoch, epochs=epoch + 1,
                    steps_per_epoch=steps, callbacks=callbacks,
                    shuffle=False, verbose=0)
            step = checkpoint.step
        progress = checkpoint.progress
        seconds = progress["seconds"]
        attempt.update(last_step=step, seconds=seconds - seconds_before)
        results["train"] = {
            "steps": step,
            "seconds": seconds,
            "tokens_per_second": step * training.batch_size
            * experiment.window_length / seconds if seconds else 0.0,
            "last_loss": progress["last_loss"],
            "attempts": progress["attempts"],
        }
        results["curve"] = curve.record()
        results["after"] = evaluate_split(experiment, lm, manifest, "valid",
                                          "after training")
        if experiment.evaluation.test:
            results["test"] = evaluate_split(experiment, lm, manifest,
                                             "test", "test")
    return lm, results, checkpoint

