"""Generation cost: key/value cache, memory state, and re-encoding.

For each context length C, one model of the quickstart's width (6 layers,
d_model 256, 4 heads, d_ff 1024, byte vocabulary) generates tokens, batch
1, fp32, XLA, in two memory configurations:

- `rr`: Rae & Razavi memory: the top layer keeps C tokens, the others 128;
- `all`: Transformer-XL memory of C tokens in every layer;

each stepped one token at a time two ways, interleaved round by round:
on its key/value cache (`call_with_cache`, what `generate` uses) and on its
memory state (`call_with_memory`; at one-token steps it takes the memory's
part of the attention through the queries instead of projecting every
memory row again, docs/design.md).
And `reencode`: no memory; every token re-reads the last C tokens (what a
transformer without a cache does).

It also times the cached steps late in a long generation (cost per token
must not grow) and reports the bytes of state of each configuration.
Writes bench/results/generation-<stamp>.json and docs/generation.md.

    python bench/generation.py                 # about 15 minutes on 2 cores
    python bench/generation.py --contexts 512 --tokens 20   # quick
    python bench/generation.py --from_json bench/results/generation-X.json
                                        # re-render docs/generation.md only
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import time

import keras
import numpy as np
import tensorflow as tf

from keras_lrm import Placement
from keras_lrm.models import MemoryTransformerLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(lengths):
    keras.utils.set_random_seed(0)
    return MemoryTransformerLM(256, 6, 256, 4, 1024, 128, lengths)


def state_bytes(state):
    return int(sum(np.asarray(v).nbytes for v in state.values()))


class Stepper:
    """One-token steps of `model` on its cache or its memory state."""

    def __init__(self, model, cached):
        call = model.call_with_cache if cached else model.call_with_memory
        self.step = tf.function(call, jit_compile=True)
        self.state = model.initial_cache(1) if cached \
            else model.initial_memory(1)
        self.state_bytes = state_bytes(self.state)
        self.run(1)  # compile

    def run(self, count):
        """Seconds per token of `count` steps."""
        token = tf.constant([[65]], tf.int32)
        start = time.perf_counter()
        for _ in range(count):
            logits, self.state = self.step(token, self.state)
        logits.numpy()
        return (time.perf_counter() - start) / count


def time_configuration(model, tokens, rounds, late_after):
    """Median seconds per token, cache and memory alternating by round."""
    cached, plain = Stepper(model, True), Stepper(model, False)
    times = {"cache": [], "memory": []}
    for _ in range(rounds):
        times["cache"].append(cached.run(tokens))
        times["memory"].append(plain.run(tokens))
    cached.run(late_after)
    return {
        "cache_seconds_per_token": float(np.median(times["cache"])),
        "memory_seconds_per_token": float(np.median(times["memory"])),
        "cache_seconds_per_token_late": cached.run(tokens),
        "cache_state_bytes": cached.state_bytes,
        "memory_state_bytes": plain.state_bytes,
    }


def time_reencoding(context, tokens):
    model = build([0] * 6)
    forward = tf.function(lambda ids: model(ids), jit_compile=True)
    ids = tf.constant(np.random.default_rng(0).integers(
        0, 256, (1, context)), tf.int32)
    forward(ids).numpy()  # compile
    start = time.perf_counter()
    for _ in range(tokens):
        forward(ids)[:, -1].numpy()
    return (time.perf_counter() - start) / tokens


def measure(context, tokens, rounds, reencode_tokens, late_after):
    row = {"context": context}
    for name, placement in (("rr", Placement("last", 1, context, 128)),
                            ("all", Placement("all", None, context,
                                              context))):
        times = time_configuration(build(placement), tokens, rounds,
                                   late_after)
        row.update({f"{name}_{key}": value for key, value in times.items()})
    row["reencode_seconds_per_token"] = time_reencoding(context,
                                                        reencode_tokens)
    return row


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                              cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(results, command):
    times, states = [], []
    for r in results["rows"]:
        cells = [str(r["context"])]
        for name in ("rr", "all"):
            cache = r[f"{name}_cache_seconds_per_token"]
            memory = r[f"{name}_memory_seconds_per_token"]
            late = r[f"{name}_cache_seconds_per_token_late"]
            cells += [f"{1000 * cache:.2f}", f"{1000 * memory:.2f}",
                      f"{memory / cache:.1f}x", f"{1000 * late:.2f}"]
        reencode = r["reencode_seconds_per_token"]
        cells += [f"{1000 * reencode:.1f}",
                  f"{reencode / r['rr_cache_seconds_per_token']:.0f}x"]
        times.append("| " + " | ".join(cells) + " |")
        kib = {key: r[key] / 1024 for key in r if key.endswith("_bytes")}
        states.append(
            f"| {r['context']} | {kib['rr_cache_state_bytes']:.0f} KiB | "
            f"{kib['rr_memory_state_bytes']:.0f} KiB | "
            f"{kib['all_cache_state_bytes']:.0f} KiB | "
            f"{kib['all_memory_state_bytes']:.0f} KiB | "
            f"{r['all_cache_state_bytes'] / r['rr_cache_state_bytes']:.1f}x"
            " |")
    changes = [r[f"{k}_cache_seconds_per_token_late"]
               / r[f"{k}_cache_seconds_per_token"] - 1
               for r in results["rows"] for k in ("rr", "all")]
    spread = f"{min(changes):+.0%} to {max(changes):+.0%}"
    return f"""# Generation: key/value cache, memory state, re-encoding

Measured by `{command}` at commit `{results['commit']}` on
{results['machine']} ({results['date']}); TensorFlow {results['tf']},
Keras {results['keras']}. Model: 6 layers, d_model 256, 4 heads, d_ff 1024,
byte vocabulary, batch 1, fp32, XLA. Each token is one `time = 1` step.

- **R&R**: the top layer keeps C tokens, the other five 128.
- **all-C**: Transformer-XL, C tokens in every layer.
- **cache**: the step reads the memory rows' keys and values as projected
  when they were written (`call_with_cache`; what `generate` and the
  export's `step_cached` use). **memory**: the step reads the memory state
  (`call_with_memory`, the export's `step`); at `time = 1` it takes the
  memory's part of the attention through the queries (`W_k^T q` against
  the rows, `(p . m) W_v`) rather than projecting every memory row again,
  as Transformer-XL and the peers in docs/benchmarks.md do. Both give the
  same logits; the two were timed in
  alternating rounds of {results['tokens']} tokens, median of
  {results['rounds']}.
- **late**: the cached step after {results['late_after']} more tokens. Every
  step has the same shapes (the state is fixed-size), so the cost cannot
  grow with the text; late against early measured {spread} here, which is
  the timing drift of this machine, not a trend.
- **re-encode**: no memory, every token re-reads the last C tokens.

Milliseconds per generated token:

| context C | R&R cache | R&R memory | memory / cache | R&R cache late | all-C cache | all-C memory | memory / cache | all-C cache late | re-encode | re-encode / R&R cache |
|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(times)}

Neither step multiplies the C memory rows by the key, value and position
projections; both still read every memory row (the attention) and write
the next state, so their cost grows with C. The cache reads and writes a
key and a value per row, the memory state one hidden state.

State one stream carries between calls (every state tensor plus the
`filled` counter), as the SavedModel passes it. The cache holds a key and a
value per memory row where the memory state holds one hidden state, so it
is about twice the bytes:

| context C | R&R cache | R&R memory | all-C cache | all-C memory | all-C / R&R (cache) |
|---|---|---|---|---|---|
{chr(10).join(states)}

Raw numbers: `{results['json']}`.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contexts", type=int, nargs="+",
                        default=[512, 2048, 8192])
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reencode_tokens", type=int, default=5)
    parser.add_argument("--late_after", type=int, default=1000)
    parser.add_argument("--report", default=os.path.join(
        ROOT, "docs", "generation.md"))
    parser.add_argument("--from_json", default=None,
                        help="re-render the report from a results file")
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json) as handle:
            results = json.load(handle)
        write_report(args.report, report(
            results, results.get("command", "python bench/generation.py "
                                 "(arguments not recorded)")))
        return
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    rows = []
    for context in args.contexts:
        print(f"context {context}...", flush=True)
        rows.append(measure(context, args.tokens, args.rounds,
                            args.reencode_tokens, args.late_after))
        print(json.dumps(rows[-1]), flush=True)
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, f"generation-{stamp}.json")
    results = {"rows": rows, "commit": git_commit(), "machine":
               f"{cpu_model()}, {os.cpu_count()} cores",
               "date": datetime.date.today().isoformat(),
               "tf": tf.__version__, "keras": keras.__version__,
               "late_after": args.late_after, "tokens": args.tokens,
               "rounds": args.rounds,
               "json": os.path.relpath(json_path, ROOT)}
    results["command"] = "python bench/generation.py " + " ".join(
        f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items() if k not in ("report", "from_json"))
    with open(json_path, "w") as handle:
        json.dump(results, handle, indent=2)
    write_report(args.report, report(results, results["command"]))


def write_report(path, text):
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)
    print(text)


if __name__ == "__main__":
    main()
