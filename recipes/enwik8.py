"""enwik8 with 4 interleaved long-range memories (Rae & Razavi 2020).

The paper's setup: a 24-layer Transformer-XL (d_model 1024, 8 heads of 128,
d_ff 3072), window 384, long memories of 2304 in 4 interleaved layers
(6000 at evaluation), short memories of 128 elsewhere, batch 32; optimiser
as Transformer-XL's enwik8 TPU script (Adam 2.5e-4, 4000 warm-up steps,
cosine decay over 400k steps, clipping 0.25, dropout 0.15).

On a Cloud TPU (data and checkpoints on GCS):
    python recipes/enwik8.py --strategy tpu --corpus_path gs://B/enwik8.zip \\
        --data_dir gs://B/tfrecords --checkpoint_dir gs://B/checkpoints \\
        --log_dir gs://B/logs
Here, on a sample:
    python recipes/enwik8.py --tiny --corpus_path path/to/enwik8
"""

import os

if __name__ == "__main__":
    # Parse the flags (and answer --help) before Keras and TensorFlow load.
    os.environ.setdefault("KERAS_LRM_DEFER_IMPORTS", "1")

from keras_lrm.errors import run_main
from keras_lrm.training import Experiment
from keras_lrm.training.cli import run_recipe

DEFAULTS = Experiment(
    name="enwik8",
    corpus="enwik8",
    corpus_path="enwik8.zip",
    tokenizer="bytes",
    num_layers=24,
    d_model=1024,
    num_heads=8,
    d_ff=3072,
    dropout=0.15,
    attention_dropout=0.15,
    placement="interleaved",
    num_long=4,
    long_length=2304,
    short_length=128,
    eval_long_length=6000,
    batch_size=32,
    segment_length=384,
    train_steps=400_000,
    learning_rate=2.5e-4,
    warmup_steps=4000,
    eval_batch_size=16,
    eval_segment_length=128,
    test=True,
    steps_per_execution=100,
    save_every=10_000,
)

TINY = dict(name="enwik8-tiny", corpus_allow_short=True, num_layers=3,
            d_model=64, num_heads=2, d_ff=128, num_long=1, long_length=48,
            short_length=8,
            eval_long_length=96, batch_size=4, segment_length=16,
            train_steps=6, warmup_steps=2, eval_batch_size=4,
            eval_segment_length=16, eval_tokens=2_048,
            steps_per_execution=1, save_every=3)


def main(argv=None):
    return run_recipe(DEFAULTS, TINY, __doc__, argv)


if __name__ == "__main__":
    run_main(main)
