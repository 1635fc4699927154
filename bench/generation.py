"""Generation cost: memory state vs re-encoding the whole context per token.

For each context length C, one model of the quickstart's width (6 layers,
d_model 256, 4 heads, d_ff 1024, byte vocabulary) generates tokens three
ways, batch 1, fp32, XLA:

- `rr`: Rae & Razavi memory: the top layer keeps C tokens, the others 128;
  one `time = 1` step per token.
- `all`: Transformer-XL memory of C tokens in every layer; one step per
  token.
- `reencode`: no memory; every token re-reads the last C tokens (what a
  transformer without a cache does).

It also times the memory steps early and late in a long generation (cost
per token must not grow) and reports the bytes of the memory state of each
configuration. Writes bench/results/generation-<stamp>.json and
docs/generation.md.

    python bench/generation.py                 # about 10 minutes on 2 cores
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


def state_bytes(model):
    memory = model.initial_memory(1)
    return int(sum(np.asarray(v).nbytes for v in memory.values()))


def time_memory_steps(model, tokens, late_after):
    """Seconds per token of `time = 1` steps: early, and after many."""
    step = tf.function(lambda ids, memory: model.call_with_memory(ids,
                                                                  memory),
                       jit_compile=True)
    memory = model.initial_memory(1)
    token = tf.constant([[65]], tf.int32)
    logits, memory = step(token, memory)  # compile
    logits.numpy()

    def run(count):
        nonlocal memory
        start = time.perf_counter()
        for _ in range(count):
            logits, memory = step(token, memory)
        logits.numpy()
        return (time.perf_counter() - start) / count

    early = run(tokens)
    run(late_after)
    late = run(tokens)
    return early, late


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


def measure(context, tokens, reencode_tokens, late_after):
    rr = build(Placement("last", 1, context, 128))
    full = build(Placement("all", None, context, context))
    rr_early, rr_late = time_memory_steps(rr, tokens, late_after)
    all_early, all_late = time_memory_steps(full, tokens, late_after)
    reencode = time_reencoding(context, reencode_tokens)
    return {
        "context": context,
        "rr_seconds_per_token": rr_early,
        "rr_seconds_per_token_late": rr_late,
        "all_seconds_per_token": all_early,
        "all_seconds_per_token_late": all_late,
        "reencode_seconds_per_token": reencode,
        "rr_state_bytes": state_bytes(rr),
        "all_state_bytes": state_bytes(full),
    }


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
    rows = []
    for r in results["rows"]:
        ms = {k: 1000 * r[k] for k in r if k.endswith("per_token")
              or k.endswith("_late")}
        rows.append(
            f"| {r['context']} | {ms['rr_seconds_per_token']:.2f} | "
            f"{ms['rr_seconds_per_token_late']:.2f} | "
            f"{ms['all_seconds_per_token']:.2f} | "
            f"{ms['all_seconds_per_token_late']:.2f} | "
            f"{ms['reencode_seconds_per_token']:.1f} | "
            f"{r['reencode_seconds_per_token'] / r['rr_seconds_per_token']:.0f}x"
            f" | {r['rr_state_bytes'] / 1024:.0f} KiB | "
            f"{r['all_state_bytes'] / 1024:.0f} KiB | "
            f"{r['all_state_bytes'] / r['rr_state_bytes']:.1f}x |")
    changes = [r[f"{k}_seconds_per_token_late"]
               / r[f"{k}_seconds_per_token"] - 1
               for r in results["rows"] for k in ("rr", "all")]
    spread = f"{min(changes):+.0%} to {max(changes):+.0%}"
    return f"""# Generation: memory state vs re-encoding

Measured by `{command}` at commit `{results['commit']}` on
{results['machine']} ({results['date']}); TensorFlow {results['tf']},
Keras {results['keras']}. Model: 6 layers, d_model 256, 4 heads, d_ff 1024,
byte vocabulary, batch 1, fp32, XLA. Milliseconds per generated token:

- **R&R memory**: the top layer keeps C tokens, the other five 128; each
  token is one `time = 1` step. "late" is the same step after
  {results['late_after']} more tokens. Every step has the same shapes
  (the memory is fixed-size), so the cost cannot grow with the text; late
  against early measured {spread} here, which is the timing drift of this
  machine, not a trend (it goes both ways).
- **all-C memory**: Transformer-XL with C tokens in every layer.
- **re-encode**: no memory, every token re-reads the last C tokens.

A memory step projects the keys and values of all its memory rows again (as
Transformer-XL and the peers in docs/benchmarks.md do), so its cost grows
with C, not with the length generated. Caching the projected keys and
values at inference would cut that further; it is not implemented.

State: bytes of the memory state one stream carries between calls (all
memory tensors plus the `filled` counter), as the SavedModel passes it.

| context C | R&R ms/token | R&R late | all-C ms/token | all-C late | re-encode ms/token | re-encode / R&R | R&R state | all-C state | all-C / R&R state |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Raw numbers: `{results['json']}`.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contexts", type=int, nargs="+",
                        default=[512, 2048, 8192])
    parser.add_argument("--tokens", type=int, default=100)
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
        rows.append(measure(context, args.tokens, args.reencode_tokens,
                            args.late_after))
        print(json.dumps(rows[-1]), flush=True)
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, f"generation-{stamp}.json")
    results = {"rows": rows, "commit": git_commit(), "machine":
               f"{cpu_model()}, {os.cpu_count()} cores",
               "date": datetime.date.today().isoformat(),
               "tf": tf.__version__, "keras": keras.__version__,
               "late_after": args.late_after,
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
