"""Quickstart: a Rae & Razavi memory LM on text every machine has.

Prepares the Python standard library's source files as byte-level TFRecords
under tfrecords/stdlib/bytes/, trains a 6-layer model whose top layer keeps
a long memory (512) and the others short ones (128) for a few minutes on a
laptop CPU, reports validation bits per byte before and after, and writes
checkpoints/quickstart/ (model.keras, tokenizer/, results.json).

    python recipes/quickstart.py            # about 5 minutes on 2 CPU cores
    python recipes/quickstart.py --tiny     # a smoke run
"""

from keras_lrm.training import Experiment
from keras_lrm.training.cli import run_recipe

DEFAULTS = Experiment(
    name="quickstart",
    corpus="stdlib",
    corpus_max_bytes=4_000_000,
    tokenizer="bytes",
    num_layers=6,
    d_model=256,
    num_heads=4,
    d_ff=1024,
    dropout=0.1,
    pre_norm=True,
    placement="interleaved",
    num_long=1,
    long_length=512,
    short_length=128,
    batch_size=8,
    segment_length=128,
    train_steps=400,
    learning_rate=1e-3,
    warmup_steps=40,
    eval_batch_size=8,
    eval_tokens=65_536,
    save_every=200,
)

TINY = dict(name="quickstart-tiny", corpus_max_bytes=300_000, num_layers=2,
            d_model=64, num_heads=2, d_ff=128, long_length=64,
            short_length=16, segment_length=32, train_steps=12,
            warmup_steps=2, eval_tokens=4_096, save_every=5)


def main(argv=None):
    return run_recipe(DEFAULTS, TINY, __doc__, argv)


if __name__ == "__main__":
    main()
