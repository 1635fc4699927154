"""WikiText-103, word level, with 3 of 18 layers keeping a long memory.

Rae & Razavi (2020) use Transformer-XL's 18-layer WikiText-103 model with
l/6 = 3 long-range memories (interleaved: perplexity 18.4 vs 18.3 for all
18). Dimensions and optimiser follow Transformer-XL's large WikiText-103
TPU script (d_model 1024, 16 heads of 64, d_ff 4096, dropout 0.2, Adam
2.5e-4 with 16000 warm-up steps, window 384, evaluation memory 1600,
clamp_len 1000). Differences: a full tied softmax over the word vocabulary
(no adaptive softmax) and short memories of 128 in the other 15 layers.

    python recipes/wikitext103.py --strategy tpu \\
        --corpus_path gs://B/wikitext-103 ...
    python recipes/wikitext103.py --tiny --corpus_path path/to/wikitext-103
"""

import os

if __name__ == "__main__":
    # Parse the flags (and answer --help) before Keras and TensorFlow load.
    os.environ.setdefault("KERAS_LRM_DEFER_IMPORTS", "1")

from keras_lrm.errors import run_main
from keras_lrm.training import Experiment
from keras_lrm.training.cli import run_recipe

DEFAULTS = Experiment(
    name="wikitext103",
    corpus="wikitext103",
    corpus_path="wikitext-103",
    tokenizer="words",
    num_layers=18,
    d_model=1024,
    num_heads=16,
    d_ff=4096,
    dropout=0.2,
    attention_dropout=0.2,
    clamp_len=1000,
    placement="interleaved",
    num_long=3,
    long_length=384,
    short_length=128,
    eval_long_length=1600,
    batch_size=128,
    segment_length=384,
    train_steps=4_000_000,
    learning_rate=2.5e-4,
    warmup_steps=16_000,
    eval_batch_size=8,
    eval_segment_length=128,
    test=True,
    steps_per_execution=100,
    save_every=10_000,
)

TINY = dict(name="wikitext103-tiny", num_layers=3, d_model=64, num_heads=2,
            d_ff=128, num_long=1, long_length=32, short_length=8,
            eval_long_length=64, clamp_len=0, batch_size=2,
            segment_length=16, train_steps=6, warmup_steps=2,
            eval_batch_size=2, eval_segment_length=16, eval_tokens=1_024,
            steps_per_execution=1, save_every=3)


def main(argv=None):
    return run_recipe(DEFAULTS, TINY, __doc__, argv)


if __name__ == "__main__":
    run_main(main)
