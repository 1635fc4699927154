"""Products-only ceiling: the matrix products of one training step, alone.

Serves (peers' harness protocol) a "step" made of exactly the matrix
products of one keras_lrm training step of the benchmark's model, forward
and backward, at the model's own shapes, and nothing else: no softmax,
layer norm, masking, relative shift, layout change, loss or optimizer.
Its tokens/s is what a step of these products could reach on this host if
everything else took no time, each product at the rate XLA:CPU (`--jit 1`)
or TensorFlow's kernels (`--jit 0`) reach for its shape; the products of a
layer do not depend on each other here, so the runtime may overlap them
more than a real step allows. The driver runs it interleaved with the
peers, so its ratio to the fastest peer bounds the ratio a step of these
products can reach in the same rounds.

Per layer with memory `M` (`K = M + T` keys, `P = K + 1` relative
positions, `H` heads of `k`, batch `B`, segment `T`, width `d`):
  segment projections  4 x [B*T, d] @ [d, d]       grads to both operands
  memory keys, values  2 x [B*M, d] @ [d, d]       grad to the kernel only
  position projection  [P, d] @ [d, d]             grad to the kernel only
  feed-forward         [B*T, d] @ [d, d_ff], [B*T, d_ff] @ [d_ff, d]
  content scores       [H*B, T, k] @ [H*B, k, K]   grads to both
  position scores      [H, B*T, k] @ [H, k, P]     grads to both
  probabilities x values [H*B, T, K] @ [H*B, K, k] grads to both
and once per step the tied softmax, [B*T, d] @ [d, vocab]. Gradients come
from `tf.GradientTape` with random upstream gradients, so the backward
products are the ones autodiff writes for a plain product.

With `--rates`, it times each distinct product of that step alone instead
(forward and backward), under XLA (`jit_compile=True`) and on TensorFlow's
own kernels (graph mode), alternating the two in one process, `--copies`
independent copies per compiled call so the call's overhead is spread, and
prints a Markdown table: each product's count per step, its time per step
both ways, its rate in GFLOP/s both ways, and its share of the XLA
products' time. This says which products hold the products-only ceiling
down, where the workers give only the total. `--out` also writes the rows
as JSON for bench/report.py. Copies in one call are independent, so the
runtime may overlap them; a product's rate there is what it reaches with
work beside it, as in a step.

usage: python -m bench.products --mem 512 --standalone
       python -m bench.products --lengths 64,64,64,64,64,512
       python -m bench.products --mem 0 --no_relative
           (the plain no-memory transformer, peer_keras_plain.py)
       python -m bench.products --rates --mem 512 \
           --out bench/results/rates-<stamp>-all512.json
"""
import argparse
import collections
import json
import os
import statistics
import sys
import time

from bench import flops
from bench import keras_lrm_worker as worker
from bench import records


def layer_products(args, memory, relative=True):
    """[(name, lhs shape, rhs shape, operands that get a gradient)] of one
    layer; without the position products if not `relative` (the plain
    transformer's layer when `memory` is 0)."""
    B, T, d = args.batch, args.segment, args.d_model
    H, k, ff = args.num_heads, args.d_model // args.num_heads, args.d_ff
    K = memory + T
    both, kernel = (0, 1), (1,)
    products = [(name, (B * T, d), (d, d), both)
                for name in ("query", "key", "value", "output")]
    if memory:
        products += [(name, (B * memory, d), (d, d), kernel)
                     for name in ("memory keys", "memory values")]
    if relative:
        products += [("position projection", (K + 1, d), (d, d), kernel),
                     ("position scores", (H, B * T, k), (H, k, K + 1), both)]
    return products + [
        ("feed-forward in", (B * T, d), (d, ff), both),
        ("feed-forward out", (B * T, ff), (ff, d), both),
        ("content scores", (H * B, T, k), (H * B, k, K), both),
        ("probabilities x values", (H * B, T, K), (H * B, K, k), both)]


def layer_shapes(args, memory, relative=True):
    """`layer_products` without the names."""
    return [p[1:] for p in layer_products(args, memory, relative)]


def vocab_products(args):
    """The tied softmax's product, once per step."""
    B, T, d = args.batch, args.segment, args.d_model
    return [("tied softmax", (B * T, d), (d, args.vocab), (0, 1))]


def forward_flops(shapes):
    """2 x multiply-adds of the forward products."""
    total = 0
    for lhs, rhs, _ in shapes:
        batch = lhs[0] if len(lhs) == 3 else 1
        total += 2 * batch * lhs[-2] * lhs[-1] * rhs[-1]
    return total


def products_function(tf, shapes, jit):
    """A compiled function of every product in `shapes`, forward and back.

    Returns (function, its arguments): operands and upstream gradients,
    random, made once.
    """
    operands = [(tf.random.normal(a) * 0.1, tf.random.normal(b) * 0.1)
                for a, b, _ in shapes]
    upstream = [tf.random.normal(a[:-1] + b[-1:]) for a, b, _ in shapes]

    @tf.function(jit_compile=jit)
    def run(operands, upstream):
        with tf.GradientTape(persistent=True) as tape:
            for pair in operands:
                tape.watch(pair)
            outputs = [tf.matmul(a, b) for a, b in operands]
        grads = [tape.gradient(out, [pair[i] for i in wanted],
                               output_gradients=up)
                 for out, pair, up, (_, _, wanted)
                 in zip(outputs, operands, upstream, shapes)]
        return outputs, grads

    return run, (operands, upstream)


# The rates of single products (`--rates`).


def step_products(args, lengths):
    """{(name, lhs, rhs, grads): count per step} over the layers and the
    tied softmax, in first-seen order."""
    counts = collections.Counter()
    for memory in lengths:
        for product in layer_products(args, memory):
            counts[product] += 1
    for product in vocab_products(args):
        counts[product] += 1
    return counts


def flop(product):
    """Forward and backward FLOPs of one product."""
    _, lhs, rhs, grads = product
    forward = forward_flops([(lhs, rhs, grads)])
    return forward * (1 + len(grads))


def measure(tf, products, copies, rounds):
    """{product: (XLA s, TF kernels s)} per product, medians over rounds."""
    functions = {}
    for product in products:
        _, lhs, rhs, grads = product
        shapes = [(lhs, rhs, grads)] * copies
        functions[product] = [products_function(
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


def rates_section(paths):
    """The report's section (bench/report.py): the `--rates` files, the
    latest for each set of memory lengths."""
    latest = {}
    for path in paths:  # names sort by date
        with open(path) as f:
            record = json.load(f)
        latest[tuple(record["memory_lengths"])] = (path, record)
    out = ["Each distinct product of the training step, forward and "
           "backward, timed under XLA and on TensorFlow's kernels, "
           "alternating in one process (`python -m bench.products "
           "--rates`). Summed per product, these times are not a step of "
           "products (the products-only workers overlap a layer's "
           "products); the ratios say which products XLA:CPU runs slower "
           "than TensorFlow's kernels."]
    for lengths, (path, record) in latest.items():
        out += ["", f"Memory lengths {list(lengths)}: `{record['command']}` "
                f"({record['date']}, TF {record['tf']}, {record['copies']} "
                f"copies a call, median of {record['rounds']} rounds; file "
                f"{os.path.relpath(path, records.ROOT)}):", ""]
        out += markdown(record["rows"])
        out += ["", rates_reading(record["rows"])]
    return out


def rates_reading(rows):
    """Which products XLA runs furthest below TF's kernels, and their cost."""
    total = sum(r["count"] * r["xla_s"] for r in rows)
    slow = sorted(rows, key=lambda r: r["tf_s"] / r["xla_s"])[:3]
    share = sum(r["count"] * r["xla_s"] for r in slow) / total
    saved = sum(r["count"] * (r["xla_s"] - r["tf_s"]) for r in slow)
    names = ", ".join(
        f"{r['product']} `{'x'.join(map(str, r['lhs']))} @ "
        f"{'x'.join(map(str, r['rhs']))}` "
        f"({r['gflop'] / r['xla_s']:.0f} against "
        f"{r['gflop'] / r['tf_s']:.0f} GFLOP/s)" for r in slow)
    return (f"Furthest below TensorFlow's kernels under XLA: {names}. They "
            f"are {share:.0%} of the XLA products' time here; at the kernels' "
            f"rates they would take {1e3 * saved:.1f} ms a step less.")


def rates_main(argv):
    """`--rates`: each product alone, XLA against TensorFlow's kernels."""
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--copies", type=int, default=4)
    own.add_argument("--rounds", type=int, default=7)
    own.add_argument("--out", default=None, help="write the rows as JSON")
    mine, rest = own.parse_known_args(argv)
    if mine.copies < 1 or mine.rounds < 1:
        raise SystemExit(f"--copies and --rounds must be >= 1. Received: "
                         f"copies={mine.copies}, rounds={mine.rounds}")
    if mine.out and not os.path.isdir(os.path.dirname(mine.out) or "."):
        raise SystemExit(f"--out: no folder {os.path.dirname(mine.out)!r} "
                         f"to write into. Received: out={mine.out!r}")
    args = worker.parse_args(rest)
    import tensorflow as tf
    lengths = worker.placement_from(args)
    if not isinstance(lengths, list):
        raise SystemExit("give --mem or --lengths (per-layer lengths)")
    counts = step_products(args, lengths)
    seconds = measure(tf, list(counts), mine.copies, mine.rounds)
    rows = rows_of(counts, seconds)
    print("\n".join(markdown(rows)))
    if mine.out:
        records.write_json(mine.out, {
            "command": " ".join(["python -m bench.products"] + argv),
            "date": records.utc_now(), "tf": tf.__version__,
            "machine": records.machine(), "git": records.git_state(),
            "memory_lengths": lengths, "copies": mine.copies,
            "rounds": mine.rounds, "rows": rows})


def main():
    argv = sys.argv[1:]
    if "--rates" in argv:
        rates_main([a for a in argv if a != "--rates"])
        return
    # `--no_relative --mem 0`: the plain no-memory transformer's products.
    relative = "--no_relative" not in argv
    args = worker.parse_args([a for a in argv if a != "--no_relative"])
    import tensorflow as tf
    lengths = worker.placement_from(args)
    if not isinstance(lengths, list):
        raise SystemExit("give --mem or --lengths (per-layer lengths)")
    if not relative and any(lengths):
        raise SystemExit("--no_relative is the plain transformer: --mem 0")
    jit = bool(args.jit)
    by_length = {m: products_function(tf, layer_shapes(args, m, relative), jit)
                 for m in sorted(set(lengths))}
    B, T, d = args.batch, args.segment, args.d_model
    vocab_shapes = [p[1:] for p in vocab_products(args)]
    vocab = products_function(tf, vocab_shapes, jit)
    # The products of the FLOP count of every row (flops.py), plus the one
    # extra position column per layer that the relative shift computes.
    per_token = (sum(forward_flops(layer_shapes(args, m, relative))
                     for m in lengths)
                 + forward_flops(vocab_shapes)) / (B * T)
    expected = flops.fwd_flops_per_token(
        d_model=d, n_head=args.num_heads, d_head=d // args.num_heads,
        d_inner=args.d_ff, tgt_len=T, batch=B, vocab=args.vocab,
        mem_lens=lengths, relative=relative)[0] \
        + relative * len(lengths) * 2 * d
    if abs(per_token - expected) > 1e-6 * expected:
        raise SystemExit(f"products: {per_token:.0f} forward FLOPs/token, "
                         f"flops.py: {expected:.0f}")

    def step():
        last = None
        for m in lengths:
            function, inputs = by_length[m]
            last = function(*inputs)
        function, inputs = vocab
        function(*inputs)
        return float(last[0][0][0, 0])

    name = args.name or f"products_only_{'xla' if jit else 'graph'}"
    info = dict(peer=name, kind="ceiling", mode="train", jit=args.jit,
                tf=tf.__version__, batch=B, tgt_len=T,
                n_layer=args.num_layers, d_model=d, n_head=args.num_heads,
                d_inner=args.d_ff, vocab=args.vocab, mem_len=max(lengths),
                tokens_per_step=B * T)
    if relative:  # the driver's FLOP count: relative positions with these
        info["mem_lens"] = lengths
    worker.harness.main_loop(step, info, args)


if __name__ == "__main__":
    main()
