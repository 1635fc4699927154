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

import sys

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


def add_search_flags(parser):
    parser.add_argument("--max_trials", type=int, default=8)
    for name, value in CHOICES.items():
        parser.add_argument(
            f"--search_{name}", default=None,
            help=f"comma-separated values to try; default {value} "
                 f"({TINY_CHOICES[name]} with --tiny)")


def main(argv=None):
    from keras_lrm.tuning.search import run_search

    args = sys.argv[1:] if argv is None else list(argv)
    experiment, flags = parse_experiment(DEFAULTS, TINY, args, __doc__,
                                         add_search_flags)
    defaults = TINY_CHOICES if "--tiny" in args else CHOICES
    choices = {name: (flags[f"search_{name}"] or defaults[name]).split(",")
               for name in CHOICES}
    try:
        numbers = {name: [int(v) for v in values]
                   for name, values in choices.items() if name != "policies"}
    except ValueError as error:
        raise SystemExit("--search_num_long, --search_long_lengths and "
                         "--search_short_lengths take comma-separated "
                         f"integers: {error}")
    return run_search(experiment, max_trials=flags["max_trials"],
                      policies=choices["policies"], **numbers)


if __name__ == "__main__":
    main()
