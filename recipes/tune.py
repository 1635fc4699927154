"""Memory search: which placement and memory lengths, for what state size.

Rae & Razavi's question as a KerasTuner search on the quickstart's model
and data (the Python standard library's source as bytes): each trial trains
the model with one placement policy, number of long memories and pair of
lengths, and is scored on validation bits per byte with the memory carried.
A --search_* flag takes values to try (64,128) or a range MIN:MAX[:STEP]
(lengths on a log scale, where STEP multiplies; counts on a linear one).
--tuner picks KerasTuner's RandomSearch, BayesianOptimization, Hyperband or
GridSearch (a grid steps a range without STEP by doubling lengths and by 1
for counts). Prints every trial, best first, with the bytes of memory state
one stream carries, and writes to checkpoints/tune/: tuning.json,
trials.csv and figure4_srm_length.png (validation BPC against the short
memory length, as the paper's Figure 4). A rerun continues the search of
the same settings (the tuner's state is in checkpoints/tune/tuner-<hash of
the settings>/).

    python recipes/tune.py --max_trials 8
    python recipes/tune.py --tiny                 # a smoke run
    python recipes/tune.py --tuner grid --search_policies interleaved \\
        --search_num_long 1 --search_long_lengths 2304 \\
        --search_short_lengths 32:2048            # the paper's Figure 4
    python recipes/tune.py --tuner hyperband --search_num_memory_tokens 0:8:4
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
# Values to try (comma-separated, or a range MIN:MAX[:STEP]), as the flags
# of the same names take them. The short memory spans the paper's sweep.
CHOICES = dict(policies="interleaved,first,last,middle", num_long="1,2",
               long_lengths="256,512", short_lengths="32:2048",
               num_memory_tokens=None)
TINY_CHOICES = dict(CHOICES, num_long="1", long_lengths="32",
                    short_lengths="4:64")
TUNER_NAMES = ("random", "bayesian", "hyperband", "grid")
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
                short_lengths="short memory lengths",
                num_memory_tokens="numbers of memory tokens")
_SCALES = dict(num_long="linear", long_lengths="log", short_lengths="log",
               num_memory_tokens="linear")


def add_search_flags(parser):
    parser.add_argument("--max_trials", type=int, default=8,
                        help="trials in the search (a rerun counts the "
                             "trials already done); default 8")
    parser.add_argument(
        "--tuner", default="random", choices=TUNER_NAMES,
        help="KerasTuner's tuner: random (RandomSearch), bayesian "
             "(BayesianOptimization), hyperband (Hyperband, at most "
             "--max_trials trials) or grid (GridSearch); default random")
    parser.add_argument(
        "--hyperband_max_epochs", type=int, default=3,
        help="with --tuner hyperband, epochs of its longest trials (an "
             "epoch is train_steps // this many steps); default 3")
    parser.add_argument(
        "--hyperband_factor", type=int, default=3,
        help="with --tuner hyperband, its reduction factor; default 3")
    for name, value in CHOICES.items():
        tiny = "" if TINY_CHOICES[name] == value else \
            f"; --tiny: {TINY_CHOICES[name]}"
        if name == "policies":
            form = "comma-separated"
        else:
            step = "multiplies" if _SCALES[name] == "log" else "adds"
            form = (f"comma-separated, or a range MIN:MAX[:STEP] on a "
                    f"{_SCALES[name]} scale (STEP {step})")
        shown = "not searched (--num_memory_tokens holds)" \
            if value is None else value
        parser.add_argument(
            f"--search_{name}", default=None,
            help=f"{SEARCHED[name]} to try, {form}; default "
                 f"{shown}{tiny}")


def _parse_values(flag, text):
    """A flag's text as a list of integers or an `IntRange`."""
    from keras_lrm.tuning.space import IntRange

    wanted = (f"`{flag}` must be comma-separated integers, or a range "
              f"MIN:MAX[:STEP] of integers. Received: {flag}={text!r}")
    if ":" in text:
        parts = [part.strip() for part in text.split(":")]
        try:
            numbers = [int(part) for part in parts]
        except ValueError:
            raise ValueError(wanted) from None
        if len(numbers) not in (2, 3):
            raise ValueError(wanted)
        low, high, step = (numbers + [None])[:3]
        if not 0 <= low <= high or (step is not None and step < 1):
            raise ValueError(
                f"`{flag}` must be a range MIN:MAX[:STEP] with 0 <= MIN <= "
                f"MAX and STEP >= 1. Received: {flag}={text!r}")
        return IntRange(low, high, step)
    try:
        return [int(value.strip()) for value in text.split(",")]
    except ValueError:
        raise ValueError(wanted) from None


def search_choices(flags, tiny=False):
    """The search space from the `--search_*` flags (or the defaults): a
    dict of lists or `IntRange`s (`num_memory_tokens`: only when given);
    raises `ValueError` naming the flag of a bad value."""
    defaults = TINY_CHOICES if tiny else CHOICES
    choices = {}
    for name in CHOICES:
        flag = f"search_{name}"
        text = defaults[name] if flags[flag] is None else flags[flag]
        if text is None:
            continue
        if name == "policies":
            choices[name] = [value.strip() for value in text.split(",")]
        else:
            choices[name] = _parse_values(flag, text)
    return choices


def main(argv=None):
    experiment, flags = parse_experiment(DEFAULTS, TINY, argv, __doc__,
                                         add_search_flags, unused=UNUSED)
    # TensorFlow loads only now: `--help` and a bad flag answer at once.
    from keras_lrm.tuning.search import check_tuner
    from keras_lrm.tuning.search import run_search
    from keras_lrm.tuning.space import check_search_space

    choices = search_choices(flags, tiny=flags["tiny"])
    check_search_space(experiment, prefix="search_", **choices)
    tokens = getattr(experiment, "num_memory_tokens", 0)
    if "num_memory_tokens" in choices and tokens:
        raise ValueError(
            "`num_memory_tokens` has no effect with "
            "--search_num_memory_tokens (the search tries its values). "
            f"Received: num_memory_tokens={tokens}")
    options = dict(tuner=flags["tuner"],
                   hyperband_max_epochs=flags["hyperband_max_epochs"],
                   hyperband_factor=flags["hyperband_factor"])
    check_tuner(experiment=experiment, **options)
    return run_search(experiment, max_trials=flags["max_trials"],
                      **options, **choices)


if __name__ == "__main__":
    run_main(main)
