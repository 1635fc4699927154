"""LaS against plain attention on Long Range Arena's ListOps.

Trains `MemoryTransformerClassifier` on generated ListOps data (the same
data, model size, steps and seeds for every configuration; only the
attention changes) and reports test accuracy, mean and spread over seeds:

- plain: Transformer-XL's relative attention;
- las: LaS, decay (multiplicative, the paper's form) and pooling after the
  softmax (the paper's formula);
- las_no_pool, las_no_decay: each half alone;
- las_additive: LaS with the additive (ALiBi-like) decay;
- las_pool_before: LaS pooling the scores before the softmax.

Each finished run is written to the results file at once, so a run that is
stopped resumes where it was. `--report` writes the table and a plot into
docs/las.md (between its "listops" markers) and docs/las_listops.png.

    python recipes/lra_listops.py --report docs/las.md   # ~40 min, 2 cores
    python recipes/lra_listops.py --tiny           # a smoke run
    python recipes/lra_listops.py --lra            # the LRA set-up (GPU/TPU)
"""

import argparse
import os
import sys

if __name__ == "__main__":
    # Parse the flags (and answer --help) before Keras and TensorFlow load.
    os.environ.setdefault("KERAS_LRM_DEFER_IMPORTS", "1")

from keras_lrm.errors import run_main

CONFIGS = {
    "plain": {},
    "las": {"decay_max": "D", "pool_size": "P"},
    "las_no_pool": {"decay_max": "D"},
    "las_no_decay": {"pool_size": "P"},
    "las_additive": {"decay_max": "D", "pool_size": "P",
                     "decay_form": "additive"},
    "las_pool_before": {"decay_max": "D", "pool_size": "P",
                        "pool_order": "before_softmax"},
}
DEFAULTS = dict(configs=",".join(CONFIGS), seeds=3, min_length=32,
                max_length=128, max_depth=10, max_args=10,
                train_size=20_000, valid_size=1_000, test_size=2_000,
                num_layers=2, d_model=64, num_heads=4, d_ff=128,
                segment_length=0, batch_size=32, steps=800,
                learning_rate=1e-3, decay_max=0.5, pool_size=3,
                data_seed=0, results="docs/las_listops.json")
TINY = dict(configs="plain,las", seeds=2, min_length=8, max_length=48,
            max_depth=3, max_args=4, train_size=256, valid_size=64,
            test_size=64, num_layers=1, d_model=16, num_heads=2, d_ff=32,
            batch_size=16, steps=20, results="checkpoints/lra_tiny.json")
# Long Range Arena's ListOps: length 500-2000, 6 layers (GPU/TPU).
LRA = dict(min_length=500, max_length=2_000, train_size=96_000,
           valid_size=2_000, test_size=2_000, num_layers=6, d_model=512,
           num_heads=8, d_ff=2_048, batch_size=32, steps=5_000,
           learning_rate=5e-4)


def parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=type(default), default=None,
                            help=f"default {default}")
    parser.add_argument("--tiny", action="store_true",
                        help="a smoke run of a few seconds")
    parser.add_argument("--lra", action="store_true",
                        help="LRA's sizes (length 2000, 6 layers, d512)")
    parser.add_argument("--report", default=None, metavar="MARKDOWN",
                        help="write the table and plot into this file "
                             "(docs/las.md) after the runs")
    given = parser.parse_args(argv)
    options = dict(DEFAULTS)
    if given.tiny:
        options.update(TINY)
    if given.lra:
        options.update(LRA)
    options.update({k: v for k, v in vars(given).items()
                    if k in DEFAULTS and v is not None})
    unknown = [c for c in options["configs"].split(",") if c not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {unknown}; choose from "
                     f"{list(CONFIGS)}")
    options["report"] = given.report
    return options


def model_arguments(config, options):
    """The LaS arguments of `config`, with the study's decay and pool."""
    values = {"D": options["decay_max"], "P": options["pool_size"]}
    return {name: values.get(value, value)
            for name, value in CONFIGS[config].items()}


def train_one(config, seed, data, options):
    """Trains one model; returns its measured accuracies and time."""
    import time

    import keras

    from keras_lrm.data import listops
    from keras_lrm.models import MemoryTransformerClassifier

    keras.utils.set_random_seed(seed)
    length = options["max_length"]
    model = MemoryTransformerClassifier(
        listops.VOCAB_SIZE, listops.NUM_CLASSES,
        num_layers=options["num_layers"], d_model=options["d_model"],
        num_heads=options["num_heads"], d_ff=options["d_ff"],
        segment_length=options["segment_length"] or length,
        **model_arguments(config, options))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, options["steps"], warmup_target=options["learning_rate"],
        warmup_steps=max(1, options["steps"] // 10))
    model.compile(optimizer=keras.optimizers.AdamW(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True),
                  metrics=["accuracy"], jit_compile=True)
    batch = options["batch_size"]
    train = listops.dataset(*data["train"], batch, length, shuffle=True,
                            seed=seed).repeat()
    start = time.perf_counter()
    model.fit(train, steps_per_epoch=options["steps"], epochs=1, shuffle=False,
              verbose=2 if options.get("verbose", 1) else 0)
    seconds = time.perf_counter() - start
    measured = {"train_seconds": round(seconds, 1)}
    for split in ("valid", "test"):
        evaluation = listops.dataset(*data[split], batch, length,
                                     drop_remainder=False)
        _, accuracy = model.evaluate(evaluation, verbose=0)
        measured[f"{split}_accuracy"] = float(accuracy)
    return measured


def main(argv=None):
    options = parse(sys.argv[1:] if argv is None else argv)
    import time

    from keras_lrm.data import listops
    from keras_lrm.training.study import StudyResults

    shared = {k: v for k, v in options.items()
              if k not in ("configs", "seeds", "results", "report")}
    results = StudyResults(options["results"], shared)
    configs = options["configs"].split(",")
    todo = [(config, seed) for seed in range(options["seeds"])
            for config in configs if not results.done(config, seed)]
    print(f"ListOps study: {len(todo)} of "
          f"{len(configs) * options['seeds']} runs to do; results in "
          f"{options['results']}")
    if todo:
        start = time.perf_counter()
        print("Generating ListOps (train, valid, test)...", flush=True)
        data = listops.splits(
                options["data_seed"], train_size=options["train_size"],
                valid_size=options["valid_size"],
                test_size=options["test_size"],
                min_length=options["min_length"],
                max_length=options["max_length"],
                max_depth=options["max_depth"],
                max_args=options["max_args"])
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
    for index, (config, seed) in enumerate(todo, 1):
        print(f"[{index}/{len(todo)}] {config}, seed {seed}")
        measured = train_one(config, seed, data, options)
        results.record(config, seed, **measured)
        print(f"  test accuracy {measured['test_accuracy']:.3f} "
              f"({measured['train_seconds']} s)")
    if options["report"]:
        write_report(results, configs, options["report"])
    return 0


MARKERS = ("<!-- listops:begin -->", "<!-- listops:end -->")


def write_report(results, configs, markdown):
    """The table of test accuracy (mean and spread over seeds) and a plot,
    between the markers of `markdown` (docs/las.md), and the PNG beside
    it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from keras_lrm.training.study import save_figure
    from keras_lrm.training.study import summarise
    from keras_lrm.training.study import write_section

    stored = results.runs
    summary = summarise(stored, "test_accuracy")
    seconds = summarise(stored, "train_seconds")
    order = [c for c in configs if c in summary]
    info = results.provenance_of_file()
    settings = results.settings
    lines = [
        MARKERS[0],
        f"Command: `{info['command']}`; commit {info['commit']}; "
        f"{info['machine']}; TensorFlow {info['tensorflow']}.",
        f"Data: {settings['train_size']} / {settings['valid_size']} / "
        f"{settings['test_size']} expressions of "
        f"{settings['min_length']}-{settings['max_length']} tokens (depth "
        f"<= {settings['max_depth']}, <= {settings['max_args']} "
        f"arguments); model: {settings['num_layers']} layers, d_model "
        f"{settings['d_model']}, {settings['num_heads']} heads, d_ff "
        f"{settings['d_ff']}; {settings['steps']} steps of "
        f"{settings['batch_size']}; LaS decay_max {settings['decay_max']}, "
        f"pool_size {settings['pool_size']}.",
        "",
        "| configuration | test accuracy (mean +- sd) | seeds | "
        "training s per run |",
        "|---|---|---|---|",
    ]
    for config in order:
        mean, spread, count = summary[config]
        lines.append(f"| {config} | {mean:.3f} +- {spread:.3f} | {count} | "
                     f"{seconds[config][0]:.0f} |")
    lines.append(MARKERS[1])
    path = os.path.join(os.path.dirname(markdown), "las_listops.png")
    figure, axis = pyplot.subplots(figsize=(7, 3.2))
    for position, config in enumerate(order):
        found = [run["test_accuracy"] for run in stored
                 if run["config"] == config]
        axis.scatter([position] * len(found), found, color="gray", s=12)
        axis.errorbar(position, summary[config][0], yerr=summary[config][1],
                      fmt="o", color="black", capsize=4)
    axis.set_xticks(range(len(order)), order, rotation=20)
    axis.set_ylabel("ListOps test accuracy")
    axis.set_title("LaS vs plain attention (dots: seeds; bars: mean +- sd)")
    figure.tight_layout()
    save_figure(figure, path)
    write_section(markdown, "\n".join(lines), *MARKERS)
    print(f"Wrote the table into {markdown} and the plot to {path}")


if __name__ == "__main__":
    sys.exit(run_main(main))
