"""Memory search: which placement and memory lengths, for what state size.

Rae & Razavi's question as a KerasTuner search on the quickstart's model
and data (the Python standard library's source as bytes): each trial trains
the model with one placement policy, number of long memories and pair of
lengths, and is scored on validation bits per byte with the memory carried.
Prints every trial, best first, with the bytes of memory state one stream
carries, and writes checkpoints/tune/tuning.json. A rerun continues the
search of the same settings (the tuner's state is in
checkpoints/tune/tuner-<hash of the settings>/).

    python recipes/tune.py --max_trials 8
    python recipes/tune.py --tiny                 # a smoke run
    python recipes/tune.py --search_policies last,first \\
        --search_long_lengths 256,1024 --corpus enwik8 --corpus_path enwik8.zip
"""

import os

if __name__ == "__main__":
    # Parse the flags (and answer --help) before Keras and TensorFlow load.
    os.environ.setdefault("KERAS_LRM_DEFER_IMPORTS", "1")

from keras_lrm.errors import run_main
from keras_lrm.training import Experiment
from keras_lrm.training.cli import parse_experiment

DEFAULTS = Experiment(
    name="tune", corpus="stdlib", corpus_max_bytes=4_000_000,
    tokenizer="bytes", num_layers=6, d_model=256, num_heads=4, d_ff=1024,
    dropout=0.1, pre_norm=True, batch_size=8, segment_length=128,
    train_steps=200, learning_rate=1e-3, warmup_steps=20, eval_tokens=32_768,
)

TINY = dict(name="tune-tiny", corpus_max_bytes=300_000, num_layers=2,
            d_model=32, num_heads=2, d_ff=64, segment_length=16,
            train_steps=6, warmup_steps=1, eval_tokens=1_024)
# Comma-separated values to try, as the flags of the same names take them.
CHOICES = dict(policies="interleaved,first,last,middle", num_long="1,2",
               long_lengths="256,512", short_lengths="64,128")
TINY_CHOICES = dict(CHOICES, num_long="1", long_lengths="32",
                    short_lengths="8,16")
# Experiment fields a search does not read: giving one is an error.
_SEARCHED = "the search tries the values of --search_{}"
_VALIDATION = ("a trial is scored on the first eval_tokens validation "
               "tokens, read with batch_size and segment_length")
UNUSED = dict(
    placement=_SEARCHED.format("policies"),
    num_long=_SEARCHED.format("num_long"),
    long_length=_SEARCHED.format("long_lengths"),
    short_length=_SEARCHED.format("short_lengths"),
    eval_long_length=_VALIDATION, eval_short_length=_VALIDATION,
    eval_batch_size=_VALIDATION, eval_segment_length=_VALIDATION,
    test="a search reads no test split",
    export_dir="a search exports nothing",
    sample_prompt="a search generates nothing",
    sample_tokens="a search generates nothing",
)


# What each `--search_*` flag tries.
SEARCHED = dict(policies="placement policies", num_long="numbers of "
                "long-memory layers", long_lengths="long memory lengths",
                short_lengths="short memory lengths")


def add_search_flags(parser):
    parser.add_argument("--max_trials", type=int, default=8,
                        help="trials in the search (a rerun counts the "
                             "trials already done); default 8")
    for name, value in CHOICES.items():
        tiny = "" if TINY_CHOICES[name] == value else \
            f"; --tiny: {TINY_CHOICES[name]}"
        parser.add_argument(
            f"--search_{name}", default=None,
            help=f"{SEARCHED[name]} to try, comma-separated; default "
                 f"{value}{tiny}")


def search_choices(flags, tiny=False):
    """The search space from the `--search_*` flags (or the defaults): a
    dict of lists; raises `ValueError` naming the flag of a bad value."""
    defaults = TINY_CHOICES if tiny else CHOICES
    choices = {}
    for name in CHOICES:
        flag = f"search_{name}"
        text = defaults[name] if flags[flag] is None else flags[flag]
        values = [value.strip() for value in text.split(",")]
        if name != "policies":
            try:
                values = [int(value) for value in values]
            except ValueError:
                raise ValueError(
                    f"`{flag}` must be comma-separated integers. "
                    f"Received: {flag}={text!r}"
                ) from None
        choices[name] = values
    return choices


def main(argv=None):
    experiment, flags = parse_experiment(DEFAULTS, TINY, argv, __doc__,
                                         add_search_flags, unused=UNUSED)
    # TensorFlow loads only now: `--help` and a bad flag answer at once.
    from keras_lrm.tuning.hypermodel import check_search_space
    from keras_lrm.tuning.search import run_search

    choices = search_choices(flags, tiny=flags["tiny"])
    check_search_space(experiment, prefix="search_", **choices)
    return run_search(experiment, max_trials=flags["max_trials"], **choices)


if __name__ == "__main__":
    run_main(main)
