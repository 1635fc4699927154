"""PG-19 (books) at byte level with a few long-range memories.

PG-19 comes through TensorFlow Datasets: prepare it once on a machine with
internet (`tfds build pg19 --data_dir gs://B/tfds`), then train with
`--corpus_path gs://B/tfds`. A 24-layer model (d_model 1024, 8 heads,
d_ff 4096), window 512, 4 interleaved long memories of 2048 (4096 at
evaluation), short memories of 256.

    python recipes/pg19.py --strategy tpu --corpus_path gs://B/tfds \\
        --data_dir gs://B/tfrecords --checkpoint_dir gs://B/checkpoints
    python recipes/pg19.py --tiny --corpus_path path/to/tfds_data_dir
"""

import os

if __name__ == "__main__":
    # Parse the flags (and answer --help) before Keras and TensorFlow load.
    os.environ.setdefault("KERAS_LRM_DEFER_IMPORTS", "1")

from keras_lrm.errors import run_main
from keras_lrm.training import Experiment
from keras_lrm.training.cli import run_recipe

DEFAULTS = Experiment(
    name="pg19",
    corpus="pg19",
    tokenizer="bytes",
    num_layers=24,
    d_model=1024,
    num_heads=8,
    d_ff=4096,
    dropout=0.1,
    attention_dropout=0.1,
    placement="interleaved",
    num_long=4,
    long_length=2048,
    short_length=256,
    eval_long_length=4096,
    batch_size=32,
    segment_length=512,
    train_steps=500_000,
    learning_rate=2.5e-4,
    warmup_steps=4000,
    eval_batch_size=16,
    eval_segment_length=128,
    test=True,
    steps_per_execution=100,
    save_every=10_000,
)

TINY = dict(name="pg19-tiny", num_layers=3, d_model=64, num_heads=2,
            d_ff=128, num_long=1, long_length=48, short_length=8,
            eval_long_length=96, batch_size=2, segment_length=16,
            train_steps=6, warmup_steps=2, eval_batch_size=2,
            eval_segment_length=16, eval_tokens=2_048,
            steps_per_execution=1, save_every=3)


def main(argv=None):
    return run_recipe(DEFAULTS, TINY, __doc__, argv)


if __name__ == "__main__":
    run_main(main)
