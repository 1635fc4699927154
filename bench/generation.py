"""Generation speed: today's host loop, the compiled loop, and KerasHub.

Steady-state milliseconds per new token, top-k 40, fp32, for a model of
the quickstart's shape (6 layers, d_model 256, 4 heads, d_ff 1024,
pre-norm, byte vocabulary; a memory of 512 in the top layer and 128 in
the other five, the quickstart's `Placement("interleaved", 1, 512, 128)`;
`--memory 0` makes the top memory C) after a prompt of C tokens. The
memory is fixed-size, so C is the text read so far, not the state:

- `before keras` / `before export`: `keras_lrm.generate` at the base
  commit (default e29f24f, before the compiled loop), on the Keras model
  and on its reloaded SavedModel: one call per token, NumPy sampling on
  the host. Runs in a worker process with PYTHONPATH=<a git worktree of
  the base commit>.
- `after keras` / `after export`: this checkout's `MemoryTransformerLM.
  generate` (one XLA while loop, sampling on device) and the export's
  `generate` signature.
- `keras_hub GPT2`: `keras_hub.models.GPT2CausalLM.generate`, the same
  size (6 layers, hidden 256, 4 heads, intermediate 1024, vocabulary 256,
  random weights), XLA, `TopKSampler(k=40)`, at total length C (prompt
  C - n, n new tokens); its position table has 1024 rows, so only C <= 1024.
  Runs in bench/.venv-peers (`bash bench/setup_peers.sh`).

The time per token is `(t(n2) - t(n1)) / (n2 - n1)` for generations of
n1 and n2 tokens after the same prompt, so the prompt and the call's fixed
costs cancel. Each worker builds and compiles everything first; then, round
by round, every (batch, context) is timed by every implementation in turn,
one worker busy at a time. Medians over rounds.

    python -m bench.generation                       # the full run
    python -m bench.generation --contexts 256 --batches 1 --rounds 1 \\
        --tokens 8 --layers 2 --no_report             # a smoke test
    python -m bench.generation --from_json bench/results/generation-X.json

Writes bench/results/generation-<stamp>.json and the section between the
`bench.generation` markers of docs/generation.md.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS_PYTHON = os.path.join(ROOT, "bench", ".venv-peers", "bin", "python")
DOC = os.path.join(ROOT, "docs", "generation.md")
BEGIN = "<!-- bench.generation: begin -->"
END = "<!-- bench.generation: end -->"
IMPLEMENTATIONS = {
    "before": ("before keras", "before export"),
    "after": ("after keras", "after export"),
    "peer": ("keras_hub GPT2",),
}
PEER_MAX_CONTEXT = 1024
PARTIAL = (" (the keras_lrm step has the same shapes whether its memory is "
           "full or not: unfilled rows are masked, not skipped; GPT-2 reads "
           "all C positions)")


# --- workers (one process per role; nothing here runs in the driver) ---

def build_lm(context, layers, d_model, memory=512):
    import keras

    from keras_lrm import Placement
    from keras_lrm.models import MemoryTransformerLM

    keras.utils.set_random_seed(0)
    return MemoryTransformerLM(
        vocab_size=256, num_layers=layers, d_model=d_model, num_heads=4,
        d_ff=4 * d_model, segment_length=128, pre_norm=True,
        placement=Placement("interleaved", 1, memory or context, 128))


def keras_lrm_runners(role, batch, context, layers, d_model, folder,
                      memory=512):
    """`{implementation: run(prompt, n)}` for one configuration."""
    import numpy as np
    import tensorflow as tf

    import keras_lrm
    from keras_lrm.export import export_saved_model

    model = build_lm(context, layers, d_model, memory)
    path = export_saved_model(model, os.path.join(
        folder, f"{role}-{batch}-{context}"))
    loaded = tf.saved_model.load(path)
    if role == "before":
        def on(target):
            return lambda prompt, n: keras_lrm.generate(
                target, prompt, n, top_k=40, seed=0)
        return {"before keras": on(model), "before export": on(loaded)}

    from keras_lrm import samplers

    sampler = samplers.TopKSampler(k=40, seed=0)

    def keras_run(prompt, n):
        return np.asarray(model.generate(prompt, n, sampler=sampler))

    signature = loaded.signatures["generate"]

    def export_run(prompt, n):
        return signature(
            token_ids=tf.constant(prompt), max_new_tokens=tf.constant(n),
            temperature=tf.constant(1.0), top_k=tf.constant(40),
            top_p=tf.constant(1.0),
            seed=tf.constant(0))["new_token_ids"].numpy()

    return {"after keras": keras_run, "after export": export_run}


def peer_runners(batch, context, layers, d_model):
    import keras
    import keras_hub
    import numpy as np

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=256, num_layers=layers, num_heads=4,
        hidden_dim=d_model, intermediate_dim=4 * d_model,
        max_sequence_length=PEER_MAX_CONTEXT)
    model = keras_hub.models.GPT2CausalLM(backbone=backbone,
                                          preprocessor=None)
    model.compile(sampler=keras_hub.samplers.TopKSampler(k=40, seed=0))

    def run(prompt, n):
        # Total length `context`: the prompt's last n positions are the
        # ones generated (padding_mask False), as KerasHub pads to a
        # max_length.
        token_ids = np.array(prompt, "int32")
        padding_mask = np.ones_like(token_ids, bool)
        padding_mask[:, context - n:] = False
        token_ids[:, context - n:] = 0
        return model.generate({"token_ids": token_ids,
                               "padding_mask": padding_mask},
                              stop_token_ids=None)

    return {"keras_hub GPT2": run}


def worker(args):
    import numpy as np

    configs = [(b, c) for b in args.batches for c in args.contexts
               if args.worker != "peer" or c <= PEER_MAX_CONTEXT]
    runners, prompts = {}, {}
    n1, n2 = args.warm_tokens, args.warm_tokens + args.tokens
    with tempfile.TemporaryDirectory() as folder:
        for batch, context in configs:
            if args.worker == "peer":
                found = peer_runners(batch, context, args.layers,
                                     args.d_model)
            else:
                found = keras_lrm_runners(args.worker, batch, context,
                                          args.layers, args.d_model, folder,
                                          args.memory)
            length = context if args.worker == "peer" or \
                not args.prompt_tokens else min(args.prompt_tokens, context)
            prompt = np.random.default_rng(context).integers(
                0, 256, (batch, length)).astype("int32")
            for name, run in found.items():
                run(prompt, n1)  # compile both lengths
                run(prompt, n2)
                runners[f"{name}|{batch}|{context}"] = run
            prompts[(batch, context)] = prompt
        print(json.dumps({"ready": sorted(runners)}), flush=True)
        for line in sys.stdin:
            key = line.strip()
            if not key:
                continue
            _, batch, context = key.split("|")
            prompt = prompts[(int(batch), int(context))]
            run = runners[key]
            start = time.perf_counter()
            run(prompt, n1)
            middle = time.perf_counter()
            run(prompt, n2)
            end = time.perf_counter()
            per_token = ((end - middle) - (middle - start)) / (n2 - n1)
            print(json.dumps({"key": key, "seconds_per_token": per_token,
                              "short_s": middle - start,
                              "long_s": end - middle}), flush=True)


# --- driver ---

def ensure_base(base, commit):
    if os.path.isdir(os.path.join(base, "keras_lrm")):
        return
    subprocess.run(["git", "worktree", "add", "--detach", base, commit],
                   cwd=ROOT, check=True)


def start_worker(role, args):
    flags = ["--worker", role, "--tokens", str(args.tokens),
             "--warm_tokens", str(args.warm_tokens),
             "--layers", str(args.layers), "--d_model", str(args.d_model),
             "--memory", str(args.memory),
             "--prompt_tokens", str(args.prompt_tokens),
             "--contexts", *map(str, args.contexts),
             "--batches", *map(str, args.batches)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    script = os.path.join(ROOT, "bench", "generation.py")
    if role == "before":
        # The script, not `-m`: the current folder would come before
        # PYTHONPATH and shadow the base checkout's keras_lrm.
        command = [sys.executable, script]
        env["PYTHONPATH"] = args.base
        cwd = args.base
    elif role == "after":
        command = [sys.executable, "-m", "bench.generation"]
        env.pop("PYTHONPATH", None)
        cwd = ROOT
    else:
        command = [args.peers_python, script]
        env.pop("PYTHONPATH", None)
        cwd = tempfile.gettempdir()
    process = subprocess.Popen(command + flags, cwd=cwd, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    return process


def read_reply(process, role):
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"the {role} worker stopped (see its stderr)")
    return json.loads(line)


def measure(args):
    roles = ["before", "after"] + ([] if args.no_peer else ["peer"])
    if "before" in roles:
        ensure_base(args.base, args.base_commit)
    workers = {}
    try:
        # One at a time: a worker's compilation does not overlap another's.
        for role in roles:
            print(f"starting the {role} worker...", flush=True)
            workers[role] = start_worker(role, args)
            ready = read_reply(workers[role], role)["ready"]
            print(f"  ready: {', '.join(ready)}", flush=True)
        samples = {}
        for index in range(args.rounds):
            for batch in args.batches:
                for context in args.contexts:
                    for role in roles:
                        if role == "peer" and context > PEER_MAX_CONTEXT:
                            continue
                        for name in IMPLEMENTATIONS[role]:
                            key = f"{name}|{batch}|{context}"
                            workers[role].stdin.write(key + "\n")
                            workers[role].stdin.flush()
                            reply = read_reply(workers[role], role)
                            samples.setdefault(key, []).append(
                                reply["seconds_per_token"])
            print(f"round {index + 1}/{args.rounds} done", flush=True)
    finally:
        for process in workers.values():
            if process.stdin:
                process.stdin.close()
            process.wait(timeout=120)
    rows = []
    for key, values in samples.items():
        name, batch, context = key.split("|")
        rows.append({"implementation": name, "batch": int(batch),
                     "context": int(context),
                     "ms_per_token": 1000 * statistics.median(values),
                     "ms_per_token_rounds": [1000 * v for v in values]})
    return rows


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


def lookup(rows, name, batch, context):
    for row in rows:
        if (row["implementation"], row["batch"], row["context"]) == \
                (name, batch, context):
            return row["ms_per_token"]
    return None


def report(results):
    """The Markdown section of docs/generation.md for `results`."""
    rows = results["rows"]
    names = [n for role in IMPLEMENTATIONS for n in IMPLEMENTATIONS[role]
             if any(r["implementation"] == n for r in rows)]
    contexts = sorted({r["context"] for r in rows})
    batches = sorted({r["batch"] for r in rows})
    header = "| batch | context | " + " | ".join(names) + \
        " | before export / after keras |"
    lines = [header, "|" + "---|" * (len(names) + 3)]
    for batch in batches:
        for context in contexts:
            cells = [lookup(rows, n, batch, context) for n in names]
            before = lookup(rows, "before export", batch, context)
            after = lookup(rows, "after keras", batch, context)
            ratio = f"{before / after:.1f}x" if before and after else "-"
            lines.append(f"| {batch} | {context} | " + " | ".join(
                "-" if c is None else f"{c:.2f}" for c in cells)
                + f" | {ratio} |")
    goals = []
    # Like with like: the export's loop against the export's, the Keras
    # model's against the Keras model's. The issue's baseline is the first
    # ("today's keras_lrm.generate on the quickstart SavedModel").
    pairs = (("after export", "before export", "the SavedModel (the issue's "
              "baseline)"), ("after keras", "before keras", "the Keras "
                             "model"))
    for after_name, before_name, label in pairs:
        speedups = []
        for context in contexts:
            after = lookup(rows, after_name, 1, context)
            before = lookup(rows, before_name, 1, context)
            if before and after:
                speedups.append((before / after, context))
        if speedups:
            worst = min(speedups)
            goals.append(
                f"- At least 3x faster than today's host loop at batch 1, "
                f"on {label}: the smallest speed-up is {worst[0]:.1f}x "
                f"(context {worst[1]}; all: "
                + ", ".join(f"{s:.1f}x" for s, _ in speedups)
                + f"): {'met' if worst[0] >= 3 else 'not met'}.")
    for batch in batches:
        ours = lookup(rows, "after keras", batch, max(contexts))
        peer = lookup(rows, "keras_hub GPT2", batch, 512)
        if ours and peer:
            goals.append(
                f"- At {max(contexts)} context, at most half the peer's "
                f"per-token time at 512 context (batch {batch}): "
                f"{ours:.2f} ms vs {peer:.2f} ms, ratio {ours / peer:.2f}: "
                f"{'met' if ours <= peer / 2 else 'not met'}.")
    memory = results.get("memory", 0)
    top = f"a memory of {memory}" if memory else "memory C"
    prompt = results.get("prompt_tokens") or "C"
    partial = PARTIAL if results.get("prompt_tokens") else ""
    warm = results["warm_tokens"]
    n2 = warm + results["tokens"]
    return f"""{BEGIN}
## Compiled generation against today's host loop and KerasHub

Measured by `{results['command']}` at commit `{results['commit']}`
(base `{results['base_commit']}`) on {results['machine']}
({results['date']}); TensorFlow {results['tf']}, Keras {results['keras']},
keras-hub {results['keras_hub']}. Model: {results['layers']} layers,
d_model {results['d_model']}, 4 heads, d_ff {4 * results['d_model']}, pre-norm,
byte vocabulary; {top} in the top layer, 128 in the others (the
quickstart's placement); fp32; top-k 40 after a prompt of
{prompt} tokens{partial}.
Steady-state milliseconds per new token: `(t(n2) - t(n1)) / (n2 - n1)`
for n1 = {warm} and n2 = {n2}
new tokens, so the prompt and the per-call costs cancel; median of
{results['rounds']} interleaved rounds (every implementation timed in turn,
one process busy at a time).

- **before keras / before export**: `keras_lrm.generate` at the base
  commit on the Keras model and on its SavedModel: one call per token,
  sampled in NumPy on the host.
- **after keras**: `MemoryTransformerLM.generate` (what `keras_lrm.generate`
  now calls): one XLA while loop, sampling on device.
  **after export**: the SavedModel's `generate` signature, the same loop.
- **keras_hub GPT2**: `GPT2CausalLM.generate`, same size, random weights,
  XLA, `TopKSampler(k=40)`, total length C (its cache is as long as the
  text; its position table stops at {PEER_MAX_CONTEXT}, so no larger C).

{chr(10).join(lines)}

Goals (issue 20):

{chr(10).join(goals) or '- (not enough rows to judge)'}

Raw numbers: `{results['json']}`.
{END}
"""


def write_report(path, section):
    text = open(path).read() if os.path.exists(path) else ""
    if BEGIN in text and END in text:
        start = text.index(BEGIN)
        end = text.index(END) + len(END) + 1
        text = text[:start] + section + text[end:]
    else:
        text = section + "\n" + text
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def versions(args):
    import keras
    import tensorflow as tf

    found = {"tf": tf.__version__, "keras": keras.__version__,
             "keras_hub": "not run"}
    if not args.no_peer:
        done = subprocess.run(
            [args.peers_python, "-c",
             "import importlib.metadata as m; print(m.version('keras-hub'))"],
            capture_output=True, text=True)
        found["keras_hub"] = done.stdout.strip() or "unknown"
    return found


def parse(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--contexts", type=int, nargs="+",
                        default=[512, 1024, 2048, 8192])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--tokens", type=int, default=128,
                        help="n2 - n1: tokens timed per measurement")
    parser.add_argument("--warm_tokens", type=int, default=16, help="n1")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prompt_tokens", type=int, default=0,
                        help="keras_lrm prompt length (default: the "
                             "context, filling the memory)")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--memory", type=int, default=512,
                        help="the top layer's memory (the quickstart's "
                             "512); 0: the context C")
    parser.add_argument("--d_model", type=int, default=256)
    parser.add_argument("--base", default="/tmp/gen_base",
                        help="git worktree of the base commit (made if "
                             "missing)")
    parser.add_argument("--base_commit", default="e29f24f")
    parser.add_argument("--peers_python", default=PEERS_PYTHON)
    parser.add_argument("--no_peer", action="store_true")
    parser.add_argument("--no_report", action="store_true",
                        help="write the JSON only, not docs/generation.md")
    parser.add_argument("--report", default=DOC)
    parser.add_argument("--from_json", default=None,
                        help="re-render the report from a results file")
    parser.add_argument("--worker", choices=sorted(IMPLEMENTATIONS),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    if args.worker:
        return worker(args)
    if args.from_json:
        with open(args.from_json) as handle:
            write_report(args.report, report(json.load(handle)))
        return None
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    rows = measure(args)
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, f"generation-{stamp}.json")
    command = "python -m bench.generation " + " ".join(
        sys.argv[1:] if argv is None else argv)
    results = {"rows": rows, "commit": git_commit(),
               "base_commit": args.base_commit,
               "machine": f"{cpu_model()}, {os.cpu_count()} cores",
               "date": datetime.date.today().isoformat(),
               "command": command.strip(), "tokens": args.tokens,
               "warm_tokens": args.warm_tokens, "rounds": args.rounds,
               "layers": args.layers, "d_model": args.d_model,
               "prompt_tokens": args.prompt_tokens, "memory": args.memory,
               "json": os.path.relpath(json_path, ROOT), **versions(args)}
    with open(json_path, "w") as handle:
        json.dump(results, handle, indent=2)
    section = report(results)
    print(section)
    if not args.no_report:
        write_report(args.report, section)
    return results


if __name__ == "__main__":
    main()
