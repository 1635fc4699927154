"""Where do the long memories go? Rae & Razavi's study, resumable.

Trains one model (the same sizes, data order, steps and seeds) once per
memory configuration and seed; only the memory lengths change:

- all: every layer long (Transformer-XL);
- half_interleaved, half_first, half_last: half the layers long;
- sixth_interleaved, sixth_first, sixth_last, sixth_middle: one layer in
  six long (at 6 layers sixth_interleaved is the top layer, as
  sixth_last: it runs once);
- none: every layer short.

Each run reports validation bits per byte (perplexity for words) with the
training memory and with the long memories lengthened to
--eval_long_length, training time per token, the step's peak memory and
the bytes of memory state. Every finished run is written to the results
file at once, so a stopped study resumes where it was; a results file of
other settings is refused. At the end (and with --report_only) the table
goes into <out>/study.md and the plots to <out>/study_<tag>_*.png.

    python recipes/placement_study.py                   # ~2 h, 2 CPU cores
    python recipes/placement_study.py --corpus text --tag vimdoc \\
        --corpus_path '/usr/share/vim/vim90/doc/*.txt'    # English prose
    python recipes/placement_study.py --paper --corpus_path enwik8.zip \\
        --data_dir gs://bucket/tfrecords --train_steps 20000  # 24 layers
    python recipes/placement_study.py --tiny     # a smoke run
"""

import os
import sys

if __name__ == "__main__":
    # Parse the flags (and answer --help) before Keras and TensorFlow load.
    os.environ.setdefault("KERAS_LRM_DEFER_IMPORTS", "1")

from keras_lrm.errors import run_main
from keras_lrm.training import Experiment
from keras_lrm.training.cli import parse_experiment

DEFAULTS = Experiment(
    name="placement_study", corpus="stdlib", corpus_max_bytes=4_000_000,
    tokenizer="bytes", num_layers=6, d_model=128, num_heads=4, d_ff=512,
    dropout=0.0, pre_norm=True, long_length=512, short_length=16,
    eval_long_length=1536, batch_size=16, segment_length=64,
    train_steps=1500, learning_rate=1e-3, warmup_steps=100,
    eval_batch_size=8, eval_tokens=131_072, verbose="2",
)
TINY = dict(corpus_max_bytes=300_000, num_layers=2, d_model=32,
            num_heads=2, d_ff=64, long_length=32, short_length=8,
            eval_long_length=64, batch_size=4, segment_length=16,
            train_steps=6, warmup_steps=1, eval_batch_size=2,
            eval_tokens=1_024)
# Rae & Razavi's enwik8 model (Dai et al.'s 24 layers; window 384, long
# memory 2304 evaluated at 6000, short 128, batch 32): a TPU's work.
PAPER = dict(num_layers=24, d_model=1024, num_heads=8, d_ff=3072,
             dropout=0.15, attention_dropout=0.15, pre_norm=False,
             long_length=2304, eval_long_length=6000, short_length=128,
             batch_size=32, segment_length=384, learning_rate=2.5e-4,
             warmup_steps=0, eval_batch_size=8, eval_tokens=500_000,
             corpus="enwik8", corpus_max_bytes=0)
_VARIED = "the study sets it for each configuration and seed"
UNUSED = dict(
    name="the study names runs by configuration and seed",
    placement=_VARIED, num_long=_VARIED, seed=_VARIED + " (--seeds)",
    checkpoint_dir="the study keeps no checkpoints (--results)",
    log_dir="the study writes no TensorBoard logs",
    save_every="the study keeps no checkpoints",
    export_dir="the study exports nothing",
    sample_prompt="the study generates nothing",
    sample_tokens="the study generates nothing",
    test="the study reads the validation split only",
)
# Experiment fields that do not change what a run measures.
NOT_SETTINGS = ("name", "placement", "num_long", "seed", "data_dir",
                "checkpoint_dir", "log_dir", "save_every", "export_dir",
                "sample_prompt", "sample_tokens", "verbose", "test", "tpu",
                "strategy")


def add_flags(parser):
    from keras_lrm.training.placement_study import CONFIGS

    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help="configurations to run, comma-separated; "
                             "default all of them")
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds 0 .. seeds-1 per configuration; "
                             "default 3")
    parser.add_argument("--out", default="",
                        help="folder of study.md (the table) and the PNGs; "
                             "default docs (--tiny: checkpoints/study-tiny)")
    parser.add_argument("--tag", default="",
                        help="names this study's table, PNGs and results "
                             "(study_<tag>_*); default the corpus name")
    parser.add_argument("--results", default="",
                        help="the resumable results file; default "
                             "<out>/study_<tag>.json")
    parser.add_argument("--paper", action="store_true",
                        help="the paper's sizes (24 layers, d_model 1024, "
                             "enwik8, memory 2304 -> 6000, short 128): a "
                             "TPU's work; give --train_steps")
    parser.add_argument("--report_only", action="store_true",
                        help="write the table and PNGs from the results "
                             "file without training")


def parse(argv):
    defaults = DEFAULTS
    if "--paper" in argv:
        import dataclasses

        defaults = dataclasses.replace(DEFAULTS, **PAPER)
    experiment, flags = parse_experiment(
        defaults, TINY, argv, __doc__, add_flags=add_flags, unused=UNUSED)
    from keras_lrm.training.placement_study import check_config_names

    flags["configs"] = check_config_names(flags["configs"].split(","))
    if flags["seeds"] < 1:
        raise ValueError(f"`seeds` must be >= 1. Received: "
                         f"seeds={flags['seeds']}")
    flags["tag"] = flags["tag"] or experiment.corpus
    flags["out"] = flags["out"] or (
        os.path.join("checkpoints", "study-tiny") if flags["tiny"]
        else "docs")
    flags["results"] = flags["results"] or os.path.join(
        flags["out"], f"study_{flags['tag']}.json")
    return experiment, flags


def settings_of(experiment):
    """What every run of the study shares (a results file of other
    settings is refused)."""
    return {key: value for key, value in experiment.flat_dict().items()
            if key not in NOT_SETTINGS}


def xla_dump_folder():
    """Makes XLA write its buffer assignments to a temporary folder
    (before TensorFlow starts; None if it started, or a dump is set)."""
    import tempfile

    flags = os.environ.get("XLA_FLAGS", "")
    if "tensorflow" in sys.modules or "--xla_dump_to" in flags:
        return None
    folder = tempfile.mkdtemp(prefix="placement_study_xla_")
    os.environ["XLA_FLAGS"] = (
        f"{flags} --xla_dump_to={folder} --xla_dump_hlo_as_text").strip()
    return folder


def main(argv=None):
    experiment, flags = parse(sys.argv[1:] if argv is None else argv)
    dump = None if flags["report_only"] else xla_dump_folder()
    import shutil
    import time

    from keras_lrm.training.placement_study import config_experiment
    from keras_lrm.training.placement_study import resolve_configs
    from keras_lrm.training.placement_study import train_and_measure
    from keras_lrm.training.placement_study_report import write_report
    from keras_lrm.training.study import StudyResults

    results = StudyResults(flags["results"], settings_of(experiment))
    configs, aliases = resolve_configs(flags["configs"],
                                       experiment.model.num_layers)
    for name, kept in aliases.items():
        print(f"{name} gives the same long layers as {kept} at "
              f"{experiment.model.num_layers} layers: run once, as {kept}.")
    todo = [] if flags["report_only"] else [
        (config, seed) for seed in range(flags["seeds"])
        for config in configs if not results.done(config, seed)]
    print(f"Placement study: {len(todo)} of "
          f"{len(configs) * flags['seeds']} runs to do; results in "
          f"{flags['results']}", flush=True)
    started = time.perf_counter()
    try:
        for index, (config, seed) in enumerate(todo, 1):
            print(f"[{index}/{len(todo)}] {config}, seed {seed}", flush=True)
            measured = train_and_measure(
                config_experiment(experiment, config, seed), xla_dump=dump)
            for name in os.listdir(dump) if dump else ():
                os.remove(os.path.join(dump, name))
            results.record(config, seed, **measured)
            elapsed = time.perf_counter() - started
            print(f"  valid {measured['unit']} {measured['valid']:.4f} "
                  f"(long memory {measured['valid_eval_memory']:.4f}), "
                  f"{measured['us_per_token']} us/token; study "
                  f"{elapsed / 60:.1f} min, about "
                  f"{elapsed / index * (len(todo) - index) / 60:.0f} min "
                  "left", flush=True)
    finally:
        if dump:
            shutil.rmtree(dump, ignore_errors=True)
    if results.runs:
        paths = write_report(results, flags["configs"], flags["out"],
                             flags["tag"])
        print("Wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
