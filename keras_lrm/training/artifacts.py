"""What a run leaves behind: its run folder's files, the export, a sample.

`RunArtifacts` is the one writer of a run's files: `results.json` (merged
with the earlier attempts' figures by `run_experiment`, and written
whenever it changes: when training starts, at each checkpoint's curve,
after training and after the export), `model.keras`, `tokenizer/`,
`learning_curve.png`, the SavedModel and the sample text. Only the chief
writes; on another worker every write is skipped.
"""

import json
import os

import keras
import tensorflow as tf

from keras_lrm.data.files.temporaries import atomic_write
from keras_lrm.data.files.temporaries import remove_temp_files
from keras_lrm.export.generation import generate_text
from keras_lrm.export.saved_model import export_saved_model
from keras_lrm.training.learning_curve import PLOT
from keras_lrm.training.learning_curve import write_learning_curve
from keras_lrm.training.run_dir import MODEL
from keras_lrm.training.run_dir import RESULTS
from keras_lrm.training.run_dir import TOKENIZER
from keras_lrm.training.run_dir import model_temp_path
from keras_lrm.training.run_dir import read_results
from keras_lrm.training.run_dir import remove_stale_temporaries


class RunArtifacts:
    """The files of one run of `experiment`.

    Made before the data are prepared: it reads the earlier attempts'
    `results.json` (`earlier`, `{}` if none) and removes the temporaries
    killed runs left, refusing a run folder that holds files a run did
    not write.

    Args:
        experiment: the `Experiment`.
        chief: whether this worker writes (`keras_lrm.distribute.is_chief`).

    Raises:
        ValueError: the run folder holds a `results.json`, `model.keras`
            or `tokenizer/` that a run did not write.
    """

    def __init__(self, experiment, chief=True):
        self.experiment = experiment
        self.chief = chief
        self.run_dir = experiment.run_dir
        self.earlier = {}
        if chief:
            self.earlier = read_results(self.run_dir) or {}
            remove_stale_temporaries(self.run_dir)
            remove_temp_files(self.run_dir, {PLOT})

    @property
    def results_path(self):
        return os.path.join(self.run_dir, RESULTS)

    @property
    def plot_path(self):
        return os.path.join(self.run_dir, PLOT)

    @property
    def log_dir(self):
        output = self.experiment.output
        return os.path.join(output.log_dir, self.experiment.name)

    def write_results(self, results):
        """Writes `results.json` atomically (the chief only)."""
        if not self.chief:
            return
        tf.io.gfile.makedirs(self.run_dir)
        atomic_write(self.results_path,
                     json.dumps(results, indent=2, default=str))

    def save(self, lm, manifest, results):
        """Writes `model.keras`, `tokenizer/`, `results.json` (with
        `model_path` and `data_dir`) and `learning_curve.png`."""
        if not self.chief:
            return
        read_results(self.run_dir)
        tf.io.gfile.makedirs(self.run_dir)
        final = os.path.join(self.run_dir, MODEL)
        temporary = model_temp_path(self.run_dir)
        lm.save(temporary)
        tf.io.gfile.rename(temporary, final, overwrite=True)
        manifest.tokenizer().save(os.path.join(self.run_dir, TOKENIZER))
        results["model_path"] = final
        results["data_dir"] = manifest.directory
        self.write_results(results)
        write_learning_curve(self.plot_path, results)

    def export_and_sample(self, manifest, results):
        """Exports the saved model, reloads the export and prints a sample
        (`sample_prompt`, if any); `results` gets `export_path`, `sample`
        and `status` "complete", and is written.

        The export is made from `model.keras` loaded outside any strategy,
        so it is the same on one CPU, several GPUs or a TPU.
        """
        if not self.chief:
            return
        output = self.experiment.output
        lm = keras.saving.load_model(results["model_path"])
        path = export_saved_model(
            lm, os.path.join(output.export_dir, self.experiment.name),
            tokenizer=manifest.tokenizer())
        results["export_path"] = path
        results["status"] = "complete"
        print(f"Exported {path}", flush=True)
        if output.sample_prompt:
            results["sample"] = output.sample_prompt + self.sample(
                path, manifest.tokenizer())
            print("Sample from the reloaded SavedModel:\n"
                  f"{results['sample']}", flush=True)
        self.write_results(results)

    def sample(self, export_path, tokenizer):
        """`sample_tokens` new tokens after `sample_prompt` from the
        reloaded SavedModel (top-k 40, temperature 0.8, the run's seed)."""
        output = self.experiment.output
        loaded = tf.saved_model.load(export_path)
        return generate_text(loaded, output.sample_prompt,
                             output.sample_tokens, tokenizer=tokenizer,
                             top_k=40, temperature=0.8,
                             seed=self.experiment.training.seed)

    def written(self, checkpoint, results):
        """`(what, path)` of each thing the run wrote, for its summary."""
        plot = self.plot_path
        return [
            ("run folder", self.run_dir),
            ("checkpoint", checkpoint.last_good_checkpoint),
            ("model", results.get("model_path")),
            ("results", self.results_path),
            ("learning curve", plot if tf.io.gfile.exists(plot) else ""),
            ("TensorBoard logs", self.log_dir),
            ("export", results.get("export_path")),
        ]
