"""One training run: strategy, data, model, stateful `fit`, evaluation.

Recipes fill in an `Experiment` and call `run_experiment`. Training is
counted in steps (as Transformer-XL does); a Keras epoch is one pass over
the training streams, which starts with an empty memory.
"""

import dataclasses
import json
import logging
import os
import time

import keras
import tensorflow as tf

from keras_lrm.data.corpora.registry import get_corpus
from keras_lrm.data.files.temporaries import atomic_write
from keras_lrm.data.files.temporaries import remove_temp_files
from keras_lrm.data.shards.manifest import naming_damaged_shards
from keras_lrm.data.shards.preparation import prepare
from keras_lrm.data.streams.distribution import distribute_streams
from keras_lrm.data.streams.layouts import train_layout
from keras_lrm.data.streams.source import StreamSource
from keras_lrm.distribute import is_chief
from keras_lrm.distribute import resolve_strategy
from keras_lrm.export.generation import generate_text
from keras_lrm.export.saved_model import export_saved_model
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.progress import resolve_verbose
from keras_lrm.training.checkpoint import StreamCheckpoint
from keras_lrm.training.evaluation import evaluate_stream
# Re-exported: `Experiment` lived here, and recipes import it from here.
from keras_lrm.training.experiment_config import Experiment  # noqa: F401
from keras_lrm.training.experiment_config import MAX_BYTES_CORPORA
from keras_lrm.training.learning_curve import PLOT
from keras_lrm.training.learning_curve import LossCurve
from keras_lrm.training.learning_curve import curve_interval
from keras_lrm.training.learning_curve import points_until
from keras_lrm.training.learning_curve import write_learning_curve
from keras_lrm.training.progress import RunProgress
from keras_lrm.training.run_dir import MODEL
from keras_lrm.training.run_dir import RESULTS
from keras_lrm.training.run_dir import TOKENIZER
from keras_lrm.training.run_dir import model_temp_path
from keras_lrm.training.run_dir import read_results
from keras_lrm.training.run_dir import remove_stale_temporaries
from keras_lrm.training.stateful_lm import StatefulLM
from keras_lrm.training.summary import run_summary


def precision_for(experiment, strategy):
    """The dtype policy: `precision`, or for "auto" `mixed_bfloat16` on a
    TPU and float32 elsewhere."""
    if experiment.precision != "auto":
        return experiment.precision
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    return "float32"


def build_lm(experiment, vocab_size):
    """The `MemoryTransformerLM` an experiment describes."""
    return MemoryTransformerLM(
        vocab_size=vocab_size,
        num_layers=experiment.num_layers,
        d_model=experiment.d_model,
        num_heads=experiment.num_heads,
        d_ff=experiment.d_ff,
        segment_length=experiment.segment_length,
        placement=experiment.placement_for(experiment.long_length,
                                           experiment.short_length),
        dropout=experiment.dropout,
        attention_dropout=experiment.attention_dropout,
        pre_norm=experiment.pre_norm,
        tie_embeddings=experiment.tie_embeddings,
        clamp_len=experiment.clamp_len or None,
    )


def build_optimizer(experiment):
    """Adam, linear warm-up then cosine decay, global norm clipping."""
    decay_steps = max(1, experiment.train_steps - experiment.warmup_steps)
    if experiment.warmup_steps:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps, alpha=experiment.min_learning_rate_ratio,
            warmup_target=experiment.learning_rate,
            warmup_steps=experiment.warmup_steps)
    else:
        schedule = keras.optimizers.schedules.CosineDecay(
            experiment.learning_rate, decay_steps,
            alpha=experiment.min_learning_rate_ratio)
    return keras.optimizers.Adam(schedule,
                                 global_clipnorm=experiment.clip_norm or None)


def prepare_data(experiment):
    """Prepares (or finds already prepared) the experiment's TFRecords."""
    options = {}
    if experiment.corpus in MAX_BYTES_CORPORA and experiment.corpus_max_bytes:
        options["max_bytes"] = experiment.corpus_max_bytes
    if experiment.corpus == "enwik8" and experiment.corpus_allow_short:
        options["allow_short"] = True
    corpus = get_corpus(experiment.corpus, experiment.corpus_path or None,
                        **options)
    return prepare(corpus, experiment.tokenizer,
                   output_dir=experiment.data_dir)


def metric_for(manifest):
    """Bits per byte for byte-level data, perplexity for words and pieces."""
    return "bpc" if manifest.tokenizer_config.get("name") == "bytes" \
        else "perplexity"


def verbose_for(experiment):
    """Keras' `verbose` from the flag, an int given as text or "auto":
    1 (a bar) in a terminal or notebook, else 2 (plain lines)."""
    value = experiment.verbose
    return resolve_verbose(int(value) if str(value).isdigit() else value)


def _evaluate(experiment, lm, manifest, split, label):
    long_length = experiment.eval_long_length or experiment.long_length
    short_length = experiment.eval_short_length or experiment.short_length
    lengths = None
    if (long_length, short_length) != (experiment.long_length,
                                       experiment.short_length):
        lengths = experiment.placement_for(long_length, short_length)
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
            batch_size=experiment.eval_batch_size,
            segment_length=experiment.eval_segment_length
            or experiment.segment_length,
            memory_lengths=lengths,
            max_tokens=experiment.eval_tokens or None,
            jit_compile=experiment.jit_compile,
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

    Progress goes to stdout (`verbose`: a bar in a terminal, plain lines
    in a file), and the run ends by printing a summary: the validation
    before and after, tokens/s, the wall time, where each file went and
    the command that generates from the export.

    Raises:
        NonFiniteError: training produced a non-finite loss or weights;
            the message names the step and the last good checkpoint.
        ValueError: the run folder holds files that a run did not write,
            or a checkpoint of another layout.
    """
    started = time.perf_counter()
    keras.utils.set_random_seed(experiment.seed)
    strategy = resolve_strategy(experiment.strategy, experiment.tpu or None)
    keras.mixed_precision.set_dtype_policy(
        precision_for(experiment, strategy))
    chief = is_chief(strategy)
    earlier = {}
    if chief:
        earlier = read_results(experiment.run_dir) or {}
        remove_stale_temporaries(experiment.run_dir)
        remove_temp_files(experiment.run_dir, {PLOT})
    manifest = prepare_data(experiment)
    train_source = StreamSource.from_manifest(manifest, "train")
    layout = train_layout(train_source.num_tokens, experiment.batch_size,
                          experiment.segment_length)
    metric = metric_for(manifest)
    with strategy.scope():
        lm = build_lm(experiment, manifest.vocab_size)
        model = StatefulLM(lm, experiment.batch_size, metric=metric)
        model.compile(
            optimizer=build_optimizer(experiment),
            jit_compile=experiment.jit_compile,
            steps_per_execution=experiment.steps_per_execution)
        checkpoint = StreamCheckpoint(
            experiment.run_dir, model, experiment.save_every,
            layout={"windows_per_pass": layout.num_windows,
                    "train_tokens": train_source.num_tokens})
        step = checkpoint.restore()
        results = {"experiment": dataclasses.asdict(experiment),
                   "status": "training",
                   "strategy": type(strategy).__name__,
                   "replicas": strategy.num_replicas_in_sync,
                   "memory_lengths": lm.memory_lengths,
                   "windows_per_pass": layout.num_windows}
        if step == 0:
            results["before"] = _evaluate(experiment, lm, manifest, "valid",
                                          "before training")
        elif "before" in earlier:
            results["before"] = earlier["before"]
        attempt = {"first_step": step}
        results["attempts"] = list(earlier.get("attempts", [])) + [attempt]
        if chief:
            _write_results(experiment.run_dir, results)

        def save_curve(record):
            results["curve"] = record
            if chief:
                _write_results(experiment.run_dir, results)

        curve = LossCurve(
            curve_interval(experiment.train_steps, experiment.save_every),
            checkpoint, points_until(earlier.get("curve"), step),
            on_save=save_curve)
        results["curve"] = curve.record()
        callbacks = [
            curve,
            checkpoint,
            keras.callbacks.TensorBoard(
                os.path.join(experiment.log_dir, experiment.name)),
            RunProgress(verbose_for(experiment), experiment.train_steps,
                        experiment.batch_size * experiment.segment_length),
        ]
        seconds_before = checkpoint.progress["seconds"]
        while step < experiment.train_steps:
            epoch, window = divmod(step, layout.num_windows)
            steps = min(layout.num_windows - window,
                        experiment.train_steps - step)
            if window == 0:
                model.reset_memory("train")
            dataset = distribute_streams(strategy, train_source, layout,
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
            "tokens_per_second": step * experiment.batch_size
            * experiment.segment_length / seconds if seconds else 0.0,
            "last_loss": progress["last_loss"],
            "attempts": progress["attempts"],
        }
        results["curve"] = curve.record()
        results["after"] = _evaluate(experiment, lm, manifest, "valid",
                                     "after training")
        if experiment.test:
            results["test"] = _evaluate(experiment, lm, manifest, "test",
                                        "test")
    if chief:
        results["status"] = "trained" if experiment.export_dir \
            else "complete"
        save_results(experiment, lm, manifest, results)
        if experiment.export_dir:
            export_and_sample(experiment, manifest, results)
        print(run_summary(results, time.perf_counter() - started,
                          _written(experiment, checkpoint, results)),
              flush=True)
    return results


def _written(experiment, checkpoint, results):
    """`(what, path)` of each thing a run wrote, for its summary."""
    run_dir = experiment.run_dir
    plot = os.path.join(run_dir, PLOT)
    return [
        ("run folder", run_dir),
        ("checkpoint", checkpoint.last_good_checkpoint),
        ("model", results.get("model_path")),
        ("results", os.path.join(run_dir, RESULTS)),
        ("learning curve", plot if tf.io.gfile.exists(plot) else ""),
        ("TensorBoard logs", os.path.join(experiment.log_dir,
                                          experiment.name)),
        ("export", results.get("export_path")),
    ]


def _write_results(run_dir, results):
    tf.io.gfile.makedirs(run_dir)
    atomic_write(os.path.join(run_dir, RESULTS),
                 json.dumps(results, indent=2, default=str))


def export_and_sample(experiment, manifest, results):
    """Exports the saved model, reloads the export and prints a sample.

    The export is made from `model.keras` loaded outside any strategy, so
    it is the same on one CPU, several GPUs or a TPU.
    """
    lm = keras.saving.load_model(results["model_path"])
    path = export_saved_model(
        lm, os.path.join(experiment.export_dir, experiment.name),
        tokenizer=manifest.tokenizer())
    results["export_path"] = path
    results["status"] = "complete"
    print(f"Exported {path}", flush=True)
    if experiment.sample_prompt:
        loaded = tf.saved_model.load(path)
        text = generate_text(loaded, experiment.sample_prompt,
                             experiment.sample_tokens,
                             tokenizer=manifest.tokenizer(), top_k=40,
                             temperature=0.8, seed=experiment.seed)
        results["sample"] = experiment.sample_prompt + text
        print("Sample from the reloaded SavedModel:\n"
              f"{results['sample']}", flush=True)
    _write_results(experiment.run_dir, results)


def save_results(experiment, lm, manifest, results):
    """Writes `model.keras`, `tokenizer/`, `results.json` and
    `learning_curve.png` atomically."""
    run_dir = experiment.run_dir
    read_results(run_dir)
    tf.io.gfile.makedirs(run_dir)
    final = os.path.join(run_dir, MODEL)
    temporary = model_temp_path(run_dir)
    lm.save(temporary)
    tf.io.gfile.rename(temporary, final, overwrite=True)
    manifest.tokenizer().save(os.path.join(run_dir, TOKENIZER))
    results["model_path"] = final
    results["data_dir"] = manifest.directory
    _write_results(run_dir, results)
    write_learning_curve(os.path.join(run_dir, PLOT), results)
