"""Memory tokens against Transformer-XL on the RMT paper's synthetic tasks.

Trains three keras_lrm models on the same task (`keras_lrm.data.
synthetic`: copy, reverse or retrieval), the same generated data, steps
and seeds, and reports the accuracy on held-out examples against the
number of segments `K` each example is read in (mean and spread over
seeds):

- txl: Transformer-XL, an XL memory of `M = --memory` rows in every layer
  (no gradient through it);
- rmt: the Recurrent Memory Transformer, `m = --memory` memory tokens
  (placement "none": no XL memory), gradient through all K segments;
- rmt_xl: both;
- peer_rmt: lucidrains' recurrent-memory-transformer-pytorch with the
  same `m`, layers, width, heads, segment, data and steps (run by
  `bench/peers/peer_rmt_torch.py` in bench/.venv-peers; skipped with a
  message where that environment is missing; one torch thread by default,
  `--peer_threads`: PyTorch's threads spin on a busy machine, ten times
  slower at two).

State: the XL memory keeps M rows x d_model per layer, the memory tokens
m tokens x d_model; `--memory` sets both, so each layer reads a state of
the same size (the RMT paper's matching; the XL memory holds L of them
in all). The task is a copy of `--length` digits (0: the longest the K
segments hold) at the end of the window, so its answer is about
K * segment_length tokens from its question.

Every keras_lrm model starts from kernels of std 0.64 / sqrt(d_model)
(`width_scaled_initializer`; `--init_std` sets another std), the same for
Transformer-XL and the memory tokens: from Transformer-XL's 0.02 the
memory tokens' two attention hops stay on a plateau at these widths
(docs/rmt.md, "Initialisation").

Each model trains with `StatefulLM(lm, bptt_segments=K, carry_memory=
False)` (`lm.call_segments`: gradient through the memory tokens across
the K segments; `--gradient_segments k` truncates it), Adam at a fixed
rate with the gradient's norm clipped, and `--curriculum` trains on 1, 2,
... K segments in turn (the RMT paper's curriculum), the steps shared
equally. Each finished run is written to the results file at once, so a
stopped study resumes; `--report` writes the table into docs/rmt.md
(between its "rmt_tasks" markers) and the plot beside it.

    python recipes/rmt_tasks.py --report docs/rmt.md   # the study
    python recipes/rmt_tasks.py --tiny                  # a smoke run
"""

import argparse
import json
import os
import subprocess
import sys

if __name__ == "__main__":
    # Parse the flags (and answer --help) before Keras and TensorFlow load.
    os.environ.setdefault("KERAS_LRM_DEFER_IMPORTS", "1")

from keras_lrm.errors import run_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER_PYTHON = os.path.join(ROOT, "bench", ".venv-peers", "bin", "python")
# config: (XL memory in every layer, memory tokens)
CONFIGS = {"txl": (True, False), "rmt": (False, True),
           "rmt_xl": (True, True), "peer_rmt": (False, True)}
DEFAULTS = dict(configs=",".join(CONFIGS), segments="2,3,4", seeds=3,
                task="copy", length=4, segment_length=8, memory=4,
                gradient_segments=0, curriculum=False, num_layers=2,
                d_model=64, num_heads=4, d_ff=128, norm="pre", batch_size=32,
                steps=1000, learning_rate=1e-3, clip=1.0,
                train_size=8192, eval_size=512, data_seed=0, peer_threads=1,
                init_std=0.0,
                results="docs/rmt_tasks.json")
TINY = dict(configs="txl,rmt", segments="2", seeds=1, length=2,
            segment_length=4, memory=2, num_layers=1, d_model=16,
            num_heads=2, d_ff=32, batch_size=8, steps=6, train_size=64,
            eval_size=16, results="checkpoints/rmt_tiny.json")


def parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in DEFAULTS.items():
        if isinstance(default, bool):
            parser.add_argument(f"--{name}", action="store_true",
                                default=None, help=f"default {default}")
        else:
            parser.add_argument(f"--{name}", type=type(default),
                                default=None, help=f"default {default}")
    parser.add_argument("--tiny", action="store_true",
                        help="a smoke run of a few seconds")
    parser.add_argument("--peer_python", default=PEER_PYTHON,
                        help="the Python of bench/.venv-peers (torch and "
                             "recurrent-memory-transformer-pytorch)")
    parser.add_argument("--report", default=None, metavar="MARKDOWN",
                        help="write the table and plot into this file "
                             "(docs/rmt.md) after the runs")
    given = parser.parse_args(argv)
    options = dict(DEFAULTS)
    if given.tiny:
        options.update(TINY)
    options.update({k: v for k, v in vars(given).items()
                    if k in DEFAULTS and v is not None})
    unknown = [c for c in options["configs"].split(",") if c not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {unknown}; choose from "
                     f"{list(CONFIGS)}")
    try:
        counts = [int(k) for k in options["segments"].split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        parser.error("--segments: a comma list of segment counts >= 1, "
                     f"e.g. 2,3,4. Received: {options['segments']!r}")
    if options["norm"] not in ("pre", "post"):
        parser.error("--norm: 'pre' (pre-layer-norm blocks, as the peer) "
                     f"or 'post'. Received: {options['norm']!r}")
    if options["gradient_segments"] > min(counts):
        parser.error("--gradient_segments must be at most the fewest "
                     f"--segments ({min(counts)}). Received: "
                     f"{options['gradient_segments']}")
    options["report"] = given.report
    options["peer_python"] = given.peer_python
    return options


def task_for(options, num_segments):
    """The task read in `num_segments` segments (fixed `--length`, or the
    longest that fits for `--length 0`)."""
    from keras_lrm.data.synthetic import get_task

    length = options["length"] or None
    return get_task(options["task"], length=length,
                    num_segments=num_segments,
                    segment_length=options["segment_length"],
                    fill=length is None)


def curriculum(options, num_segments):
    """`[(segments, steps)]`: 1..K segments (those the task fits in) with
    the steps shared equally under `--curriculum`, else `[(K, steps)]`.
    The peer (bench/peers/peer_rmt_torch.py) splits its steps the same
    way."""
    counts = [num_segments]
    if options["curriculum"]:
        counts = []
        for count in range(1, num_segments + 1):
            try:
                task_for(options, count)
            except ValueError:  # the task does not fit in `count` segments
                continue
            counts.append(count)
    share, extra = divmod(options["steps"], len(counts))
    return [(count, share + (index < extra))
            for index, count in enumerate(counts)]


def build_lm(config, options):
    """The keras_lrm model of `config`: XL memory, memory tokens or both."""
    import keras

    from keras_lrm import Placement
    from keras_lrm.data.synthetic import VOCAB_SIZE
    from keras_lrm.models import MemoryTransformerLM
    from keras_lrm.models.memory_transformer_lm import width_scaled_initializer

    xl, tokens = CONFIGS[config]
    size = options["memory"]
    placement = Placement("all", long_length=size, short_length=size) if xl \
        else Placement("none", long_length=0, short_length=0)
    return MemoryTransformerLM(
        VOCAB_SIZE, num_layers=options["num_layers"],
        d_model=options["d_model"], num_heads=options["num_heads"],
        d_ff=options["d_ff"], segment_length=options["segment_length"],
        placement=placement, pre_norm=options["norm"] == "pre",
        kernel_initializer=keras.initializers.RandomNormal(
            stddev=options["init_std"]) if options["init_std"]
        else width_scaled_initializer(options["d_model"]),
        num_memory_tokens=size if tokens else 0)


def train_one(config, num_segments, seed, options):
    """Trains one keras_lrm model; returns its accuracies, time and size."""
    import time

    import keras

    from keras_lrm.data.synthetic import answer_accuracy
    from keras_lrm.data.synthetic import dataset
    from keras_lrm.data.synthetic import generate
    from keras_lrm.training.stateful_lm import StatefulLM

    keras.utils.set_random_seed(seed)
    lm = build_lm(config, options)
    optimizer = keras.optimizers.Adam(options["learning_rate"],
                                      global_clipnorm=options["clip"] or None)
    batch = options["batch_size"]
    gradient = options["gradient_segments"] or None
    start = time.perf_counter()
    for segments, steps in curriculum(options, num_segments):
        model = StatefulLM(lm, batch, bptt_segments=segments,
                           gradient_segments=min(gradient or segments,
                                                 segments),
                           carry_memory=False)
        model.compile(optimizer=optimizer, jit_compile=True)
        train = dataset(task_for(options, segments), options["train_size"],
                        seed=options["data_seed"], batch_size=batch,
                        shuffle=True, repeat=True)
        history = model.fit(train, steps_per_epoch=steps, epochs=1,
                            shuffle=False, verbose=0)
        print(f"  {segments} segments, {steps} steps: loss "
              f"{history.history['loss'][-1]:.3f}", flush=True)
    seconds = time.perf_counter() - start
    task = task_for(options, num_segments)
    size = options["eval_size"] // batch * batch
    windows = generate(task, size, options["data_seed"] + 1).windows
    logits = model.predict(windows, batch_size=batch, verbose=0)
    accuracy = answer_accuracy(logits, windows)
    return {"K": num_segments, "token_accuracy": accuracy["token_accuracy"],
            "answer_accuracy": accuracy["answer_accuracy"],
            "train_seconds": round(seconds, 1),
            "last_loss": float(history.history["loss"][-1]),
            "params": int(lm.count_params()), "task_length": task.length}


def train_peer(num_segments, seed, options):
    """Trains the torch peer in bench/.venv-peers; None (with a message)
    where that environment is missing."""
    python = options["peer_python"]
    if not os.path.exists(python):
        print(f"  skipped: the peer needs {python} (torch and "
              "recurrent-memory-transformer-pytorch; see bench/README.md)",
              flush=True)
        return None
    task = task_for(options, num_segments)
    d_model, heads = options["d_model"], options["num_heads"]
    command = [
        python, "-m", "bench.peers.peer_rmt_torch", "--task", task.kind,
        "--length", str(task.length), "--num_segments", str(num_segments),
        "--tgt_len", str(options["segment_length"]),
        "--num_memory_tokens", str(options["memory"]), "--mem_len", "0",
        "--n_layer", str(options["num_layers"]), "--d_model", str(d_model),
        "--n_head", str(heads), "--d_head", str(d_model // heads),
        "--d_inner", str(options["d_ff"]),
        "--batch", str(options["batch_size"]),
        "--lr", str(options["learning_rate"]), "--clip",
        str(options["clip"]), "--seed", str(seed),
        "--data_seed", str(options["data_seed"]),
        "--train_examples", str(options["train_size"]),
        "--eval_examples", str(options["eval_size"]),
        "--train_steps", str(options["steps"]),
        "--gradient_segments", str(options["gradient_segments"]),
        "--device", "cpu", "--threads", str(options["peer_threads"]),
    ] + (["--curriculum"] if options["curriculum"]
                              else [])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines()
             if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"the peer failed (rc {done.returncode}): "
                           f"{done.stderr[-2000:]}")
    found = json.loads(lines[-1])
    return {"K": num_segments, "token_accuracy": found["token_accuracy"],
            "answer_accuracy": found["answer_accuracy"],
            "train_seconds": round(found["train_seconds"], 1),
            "last_loss": found["last_loss"], "params": found["n_params"],
            "task_length": task.length}


def main(argv=None):
    options = parse(sys.argv[1:] if argv is None else argv)
    from keras_lrm.training.study import StudyResults

    shared = {k: v for k, v in options.items()
              if k not in ("configs", "segments", "seeds", "results",
                           "report", "peer_python", "peer_threads")}
    if not shared["init_std"]:
        # Every keras_lrm model starts from the same width-scaled kernels
        # (docs/rmt.md, "Initialisation").
        del shared["init_std"]
        shared["init"] = "width_scaled"
    else:
        shared["init"] = f"normal({shared.pop('init_std')})"
    results = StudyResults(options["results"], shared)
    configs = options["configs"].split(",")
    counts = [int(k) for k in options["segments"].split(",")]
    for count in counts:
        task_for(options, count)  # a task that does not fit fails now
    todo = [(config, count, seed) for seed in range(options["seeds"])
            for count in counts for config in configs
            if not results.done(f"{config}/K{count}", seed)]
    total = len(configs) * len(counts) * options["seeds"]
    print(f"RMT tasks study: {len(todo)} of {total} runs to do; results in "
          f"{options['results']}")
    for index, (config, count, seed) in enumerate(todo, 1):
        print(f"[{index}/{len(todo)}] {config}, {count} segments, seed "
              f"{seed}", flush=True)
        if config.startswith("peer_"):
            measured = train_peer(count, seed, options)
            if measured is None:
                continue
        else:
            measured = train_one(config, count, seed, options)
        results.record(f"{config}/K{count}", seed, **measured)
        print(f"  token accuracy {measured['token_accuracy']:.3f}, answer "
              f"accuracy {measured['answer_accuracy']:.3f} "
              f"({measured['train_seconds']} s)", flush=True)
    if options["report"]:
        write_report(results, configs, counts, options["report"])
    return 0


MARKERS = ("<!-- rmt_tasks:begin -->", "<!-- rmt_tasks:end -->")
LABELS = {"txl": "Transformer-XL (M rows)", "rmt": "RMT (m tokens)",
          "rmt_xl": "RMT + XL", "peer_rmt": "torch peer RMT (m tokens)"}


def cell(summary, key):
    if key not in summary:
        return "-"
    mean, spread, count = summary[key]
    return f"{mean:.2f} +- {spread:.2f} ({count})"


def write_report(results, configs, counts, markdown):
    """Tables of token and whole-answer accuracy against the number of
    segments (mean +- sd over seeds) between the markers of `markdown`
    (docs/rmt.md), and the plot beside it (rmt_tasks.png)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from keras_lrm.training.study import save_figure
    from keras_lrm.training.study import summarise
    from keras_lrm.training.study import write_section

    runs = results.runs
    tokens = summarise(runs, "token_accuracy")
    answers = summarise(runs, "answer_accuracy")
    seconds = summarise(runs, "train_seconds")
    info = results.provenance_of_file()
    s = results.settings
    params = {run["config"].split("/")[0]: run["params"] for run in runs}
    lengths = {run["K"]: run["task_length"] for run in runs}
    order = [c for c in configs if c in params]
    header = "| model | params | " + " | ".join(
        f"K={k} ({lengths.get(k, '?')} digits)" for k in counts) + " |"
    rule = "|---|---|" + "---|" * len(counts)
    lines = [
        MARKERS[0],
        f"Command: `{info['command']}`; commit {info['commit']}; "
        f"{info['machine']}; TensorFlow {info['tensorflow']}.",
        f"Task: {s['task']} of {s['length'] or 'the longest'} digits, "
        f"segments of {s['segment_length']} tokens, {s['train_size']} "
        f"training examples (seed {s['data_seed']}), {s['eval_size']} held "
        f"out (seed {s['data_seed'] + 1}); model: {s['num_layers']} "
        f"layers, d_model {s['d_model']}, {s['num_heads']} heads, d_ff "
        f"{s['d_ff']}, {s['norm']}-norm; memory {s['memory']} (M rows x "
        f"d_model per layer for the XL memory, m tokens x d_model); "
        f"{s['steps']} steps of "
        f"{s['batch_size']}, Adam {s['learning_rate']}, clip "
        f"{s['clip']}; gradient through "
        f"{s['gradient_segments'] or 'all'} segments; curriculum "
        f"{'1..K segments' if s['curriculum'] else 'none'}.",
        "",
        "Token accuracy on the answer (chance 0.1), mean +- sd (seeds):",
        "",
        header, rule,
    ]
    for config in order:
        lines.append(f"| {LABELS[config]} | {params[config]} | " + " | ".join(
            cell(tokens, f"{config}/K{k}") for k in counts) + " |")
    lines += ["", "Whole answers right (every digit), mean +- sd:", "",
              header, rule]
    for config in order:
        lines.append(f"| {LABELS[config]} | {params[config]} | " + " | ".join(
            cell(answers, f"{config}/K{k}") for k in counts) + " |")
    lines += ["", "Training seconds per run (mean): " + "; ".join(
        f"{config} " + ", ".join(
            f"K={k}: {seconds[f'{config}/K{k}'][0]:.0f}" for k in counts
            if f"{config}/K{k}" in seconds) for config in order) + ".",
        MARKERS[1]]
    path = os.path.join(os.path.dirname(markdown), "rmt_tasks.png")
    figure, axis = pyplot.subplots(figsize=(6.4, 3.6))
    for shift, config in enumerate(order):
        found = [(k, tokens[f"{config}/K{k}"]) for k in counts
                 if f"{config}/K{k}" in tokens]
        offset = (shift - (len(order) - 1) / 2) * 0.04
        axis.errorbar([k + offset for k, _ in found],
                      [value[0] for _, value in found],
                      yerr=[value[1] for _, value in found], marker="o",
                      capsize=3, label=LABELS[config])
    axis.axhline(0.1, color="gray", linestyle=":", label="chance")
    axis.set_xticks(counts)
    axis.set_xlabel("segments K")
    axis.set_ylabel("answer token accuracy")
    axis.set_ylim(0, 1.05)
    axis.set_title(f"{s['task']}, segments of {s['segment_length']}, "
                   f"memory {s['memory']} (mean +- sd over seeds)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    save_figure(figure, path)
    write_section(markdown, "\n".join(lines), *MARKERS)
    print(f"Wrote the tables into {markdown} and the plot to {path}")


if __name__ == "__main__":
    sys.exit(run_main(main))
