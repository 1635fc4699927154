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

usage: bench/.venv-peers/bin/python bench/products_worker.py --mem 512 --standalone
       bench/.venv-peers/bin/python bench/products_worker.py --lengths 64,64,64,64,64,512
       bench/.venv-peers/bin/python bench/products_worker.py --mem 0 --no_relative
           (the plain no-memory transformer, peer_keras_plain.py)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import flops  # noqa: E402
import keras_lrm_worker as worker  # noqa: E402 (sets sys.path, harness)


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


def main():
    # `--no_relative --mem 0`: the plain no-memory transformer's products.
    relative = "--no_relative" not in sys.argv[1:]
    args = worker.parse_args([a for a in sys.argv[1:] if a != "--no_relative"])
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
    if args.standalone:
        worker.harness.standalone(step, info, args.warm, args.n)
    else:
        worker.harness.serve(step, info)


if __name__ == "__main__":
    main()
