"""Per-product rates: XLA:CPU against TensorFlow's kernels, model shapes.

Takes the matrix products of one keras_lrm training step
(`products_worker.layer_products`: forward, and the gradients autodiff
writes for each) and times every distinct one under XLA
(`jit_compile=True`) and on TensorFlow's own kernels (graph mode),
alternating the two in one process, `--copies` independent copies per
compiled call so the call's overhead is spread. Prints a Markdown table:
each product's count per step, its time per step both ways, its rate in
GFLOP/s both ways, and its share of the XLA products' time. This says
which products hold the step's products-only ceiling down, where the
products-only workers give only the total. With `--out` it also writes
the rows as JSON for bench/report.py.

Copies in one call are independent, so the runtime may overlap them; a
product's rate here is what it reaches with work beside it, as in a step.

usage: bench/.venv-peers/bin/python bench/product_rates.py --mem 512 \
           --out bench/results/rates-all512.json
       bench/.venv-peers/bin/python bench/product_rates.py \
           --lengths 64,64,64,64,64,512
"""
import argparse
import collections
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import products_worker  # noqa: E402 (sets sys.path, harness)

worker = products_worker.worker


def step_products(args, lengths):
    """{(name, lhs, rhs, grads): count per step} over the layers and the
    tied softmax, in first-seen order."""
    counts = collections.Counter()
    for memory in lengths:
        for product in products_worker.layer_products(args, memory):
            counts[product] += 1
    for product in products_worker.vocab_products(args):
        counts[product] += 1
    return counts


def flop(product):
    """Forward and backward FLOPs of one product."""
    _, lhs, rhs, grads = product
    forward = products_worker.forward_flops([(lhs, rhs, grads)])
    return forward * (1 + len(grads))


def measure(tf, products, copies, rounds):
    """{product: (XLA s, TF kernels s)} per product, medians over rounds."""
    functions = {}
    for product in products:
        _, lhs, rhs, grads = product
        shapes = [(lhs, rhs, grads)] * copies
        functions[product] = [products_worker.products_function(
            tf, shapes, jit) for jit in (True, False)]
        for function, inputs in functions[product]:
            function(*inputs)  # compile / trace
            function(*inputs)
    times = {p: ([], []) for p in products}
    for r in range(rounds):
        for product, pair in functions.items():
            order = (0, 1) if r % 2 == 0 else (1, 0)
            for way in order:
                function, inputs = pair[way]
                start = time.perf_counter()
                function(*inputs)
                times[product][way].append(
                    (time.perf_counter() - start) / copies)
    return {p: tuple(statistics.median(t) for t in pair)
            for p, pair in times.items()}


def rows_of(counts, seconds):
    """JSON rows: one per distinct product."""
    rows = []
    for product, count in counts.items():
        name, lhs, rhs, grads = product
        xla, kernels = seconds[product]
        rows.append({"product": name, "lhs": list(lhs), "rhs": list(rhs),
                     "grads": len(grads), "count": count,
                     "gflop": flop(product) / 1e9,
                     "xla_s": xla, "tf_s": kernels})
    return rows


def markdown(rows):
    """The rates table, largest XLA time per step first."""
    total = sum(r["count"] * r["xla_s"] for r in rows)
    total_tf = sum(r["count"] * r["tf_s"] for r in rows)
    out = ["| product (forward and backward) | lhs @ rhs | per step | "
           "XLA ms / step | TF kernels ms / step | XLA GFLOP/s | "
           "TF kernels GFLOP/s | TF kernels time / XLA time | "
           "share of XLA products time |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r["count"] * r["xla_s"]):
        shapes = (f"{'x'.join(map(str, r['lhs']))} @ "
                  f"{'x'.join(map(str, r['rhs']))}")
        out.append(
            f"| {r['product']} | {shapes} | {r['count']} | "
            f"{1e3 * r['count'] * r['xla_s']:.1f} | "
            f"{1e3 * r['count'] * r['tf_s']:.1f} | "
            f"{r['gflop'] / r['xla_s']:.0f} | {r['gflop'] / r['tf_s']:.0f} | "
            f"{r['tf_s'] / r['xla_s']:.2f} | "
            f"{100 * r['count'] * r['xla_s'] / total:.1f}% |")
    out.append(f"| all products | | | {1e3 * total:.1f} | "
               f"{1e3 * total_tf:.1f} | | | {total_tf / total:.2f} | 100% |")
    return out


def write_json(path, record):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)
    print("wrote", path)


def main():
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--copies", type=int, default=4)
    own.add_argument("--rounds", type=int, default=7)
    own.add_argument("--out", default=None, help="write the rows as JSON")
    mine, rest = own.parse_known_args()
    if mine.copies < 1 or mine.rounds < 1:
        raise SystemExit(f"--copies and --rounds must be >= 1. Received: "
                         f"copies={mine.copies}, rounds={mine.rounds}")
    if mine.out and not os.path.isdir(os.path.dirname(mine.out) or "."):
        raise SystemExit(f"--out: no folder {os.path.dirname(mine.out)!r} "
                         f"to write into. Received: out={mine.out!r}")
    args = worker.parse_args(rest)
    import tensorflow as tf
    import driver
    lengths = worker.placement_from(args)
    if not isinstance(lengths, list):
        raise SystemExit("give --mem or --lengths (per-layer lengths)")
    counts = step_products(args, lengths)
    seconds = measure(tf, list(counts), mine.copies, mine.rounds)
    rows = rows_of(counts, seconds)
    print("\n".join(markdown(rows)))
    if mine.out:
        write_json(mine.out, {
            "command": " ".join(["bench/.venv-peers/bin/python"] + sys.argv),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "tf": tf.__version__, "machine": driver.machine(),
            "git": driver.git_state(), "memory_lengths": lengths,
            "copies": mine.copies, "rounds": mine.rounds, "rows": rows})


if __name__ == "__main__":
    main()
