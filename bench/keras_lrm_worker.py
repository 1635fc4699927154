"""keras_lrm benchmark worker (speaks the peers' harness protocol).

Builds a `keras_lrm.models.MemoryTransformerLM` (tied softmax, dropout 0,
fp32) with the requested memory lengths and serves one of three steps, each
a `tf.function` (XLA with `--jit 1`) that takes the memory dict in and hands
the new one out, so the memory is carried from step to step:
  train     call_with_memory + sparse softmax cross-entropy + Adam
            (the peers' training step; tokens per step = batch x segment)
  eval      call_with_memory + loss, forward only
  generate  --gen_tokens calls of one token each (time = 1), the argmax fed
            back as the next token; tokens per step = batch x gen_tokens
eval and generate take `--state cache` to carry the key/value cache
(call_with_cache) instead of the memory state.
Synthetic data as the peers (harness.synthetic_stream, 16 segments cycled).

`--keras_lrm DIR` imports keras_lrm from the checkout at DIR instead of
this one (the A/B of two checkouts, bench/ab.py, runs this same worker on
both sides this way).

usage: python -m bench.keras_lrm_worker --mem 512 --standalone
       python -m bench.keras_lrm_worker --lengths 64,64,64,64,64,512
       python -m bench.keras_lrm_worker --num_layers 12 \
           --placement interleaved:2:512:128 --mode eval
"""
import argparse
import importlib.util
import inspect
import os
import sys

from bench.peers import harness

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num_layers", type=int, default=6)
    p.add_argument("--d_model", type=int, default=256)
    p.add_argument("--num_heads", type=int, default=4)
    p.add_argument("--d_ff", type=int, default=1024)
    p.add_argument("--segment", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--mem", type=int, default=None,
                   help="one memory length for every layer")
    p.add_argument("--lengths", default=None,
                   help="per-layer memory lengths, bottom first: 64,...,512")
    p.add_argument("--placement", default=None,
                   help="policy:num_long:long:short, e.g. "
                        "interleaved:2:512:128")
    p.add_argument("--jit", type=int, default=1)
    p.add_argument("--mode", choices=("train", "eval", "generate"),
                   default="train")
    p.add_argument("--gen_tokens", type=int, default=16)
    p.add_argument("--state", choices=("memory", "cache"), default="memory",
                   help="eval/generate: carry the memory or the k/v cache")
    p.add_argument("--decay_max", type=float, default=None,
                   help="LaS decay (every layer); default none")
    p.add_argument("--pool_size", type=int, default=1,
                   help="LaS pool width (every layer); default 1, none")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default=None, help="label in the report")
    p.add_argument("--keras_lrm", default=None, metavar="DIR",
                   help="import keras_lrm from the checkout at DIR")
    p.add_argument("--standalone", action="store_true")
    p.add_argument("--warm", type=int, default=5)
    p.add_argument("--n", type=int, default=8)
    return p.parse_args(argv)


def import_keras_lrm(root=None):
    """keras_lrm from the checkout at `root` (default: the one on the
    path). Loaded as the `keras_lrm` package before anything imports it,
    so every `keras_lrm.*` import of the process resolves under `root`."""
    if root is None or "keras_lrm" in sys.modules:
        import keras_lrm
        if root is not None and not keras_lrm.__file__.startswith(
                os.path.join(os.path.abspath(root), "")):
            raise SystemExit(f"--keras_lrm: keras_lrm was already imported "
                             f"from {keras_lrm.__file__}")
        return keras_lrm
    package = os.path.join(os.path.abspath(root), "keras_lrm")
    init = os.path.join(package, "__init__.py")
    if not os.path.isfile(init):
        raise SystemExit(f"--keras_lrm: no keras_lrm package under {root!r}")
    spec = importlib.util.spec_from_file_location(
        "keras_lrm", init, submodule_search_locations=[package])
    module = importlib.util.module_from_spec(spec)
    sys.modules["keras_lrm"] = module
    spec.loader.exec_module(module)
    return module


def build_model(args):
    """The benchmark's `MemoryTransformerLM` (tied softmax, dropout 0)."""
    import keras
    keras_lrm = import_keras_lrm(args.keras_lrm)
    keras.utils.set_random_seed(args.seed)
    placement = placement_from(args)
    kwargs = dict(vocab_size=args.vocab, num_layers=args.num_layers,
                  d_model=args.d_model, num_heads=args.num_heads,
                  d_ff=args.d_ff, segment_length=args.segment,
                  dropout=0.0, tie_embeddings=True)
    if args.decay_max is not None or args.pool_size != 1:
        kwargs.update(decay_max=args.decay_max, pool_size=args.pool_size)
    model_class = keras_lrm.models.MemoryTransformerLM
    # Per-layer lengths go to `memory_lengths=` where the checkout has it;
    # earlier checkouts took them as `placement=`.
    if (isinstance(placement, list) and "memory_lengths"
            in inspect.signature(model_class.__init__).parameters):
        return model_class(memory_lengths=placement, **kwargs)
    return model_class(placement=placement, **kwargs)


def placement_from(args):
    """A Placement or a per-layer list; exactly one of the three flags."""
    keras_lrm = import_keras_lrm(args.keras_lrm)
    given = [f for f in ("mem", "lengths", "placement")
             if getattr(args, f) is not None]
    if len(given) > 1:
        raise SystemExit(f"give one of --mem/--lengths/--placement: {given}")
    if args.lengths is not None:
        lengths = [int(v) for v in args.lengths.split(",")]
        if len(lengths) != args.num_layers:
            raise SystemExit(f"--lengths needs {args.num_layers} entries")
        return lengths
    if args.placement is not None:
        policy, num_long, long_len, short_len = args.placement.split(":")
        return keras_lrm.Placement(policy, int(num_long), int(long_len),
                                   int(short_len))
    mem = 512 if args.mem is None else args.mem
    return [mem] * args.num_layers


def build_step(args, model, tf, keras):
    """Returns step() -> float, running one timed unit of work."""
    B, T = args.batch, args.segment
    segs = harness.tf_segments(tf, B, T, args.vocab, args.seed)
    jit = bool(args.jit)

    def loss_of(logits, y):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=logits))

    if args.mode == "train":
        tvars = model.trainable_variables
        opt = keras.optimizers.Adam(learning_rate=args.lr)
        opt.build(tvars)

        @tf.function(jit_compile=jit)
        def run(x, y, memory):
            with tf.GradientTape() as tape:
                logits, new_memory = model.call_with_memory(
                    x, memory, training=True)
                loss = loss_of(logits, y)
            opt.apply_gradients(zip(tape.gradient(loss, tvars), tvars))
            return loss, new_memory
    elif args.mode == "eval":
        @tf.function(jit_compile=jit)
        def run(x, y, memory):
            logits, new_memory = forward(x, memory)
            return loss_of(logits, y), new_memory
    else:
        @tf.function(jit_compile=jit)
        def run(token, memory):
            logits, new_memory = forward(token, memory)
            token = tf.argmax(logits[:, -1], -1, output_type=tf.int32)
            return token[:, None], new_memory

    cached = args.state == "cache"
    initial = model.initial_cache(B) if cached else model.initial_memory(B)

    def forward(ids, memory):
        if cached:
            return model.call_with_cache(ids, memory)
        return model.call_with_memory(ids, memory, training=False)

    state = {"i": 0, "memory": initial, "token": segs[0][0][:, :1]}

    def step():
        if args.mode == "generate":
            token, memory = state["token"], state["memory"]
            for _ in range(args.gen_tokens):
                token, memory = run(token, memory)
            state["token"], state["memory"] = token, memory
            return float(token.numpy()[0, 0])
        x, y = segs[state["i"] % 16]
        state["i"] += 1
        loss, state["memory"] = run(x, y, state["memory"])
        return float(loss.numpy())

    return step


def main():
    args = parse_args()
    if args.mode == "train" and args.state == "cache":
        raise SystemExit("--state cache is for --mode eval or generate")
    import keras
    import tensorflow as tf

    model = build_model(args)
    keras_lrm = import_keras_lrm(args.keras_lrm)
    lengths = list(model.memory_lengths)
    step = build_step(args, model, tf, keras)
    B, D = args.batch, args.d_model
    tokens = B * (args.gen_tokens if args.mode == "generate" else args.segment)
    info = dict(
        peer=args.name or (f"keras_lrm_{args.mode}_"
                           + ("xla" if args.jit else "graph")),
        kind="keras_lrm", mode=args.mode, jit=args.jit,
        tf=tf.__version__, keras=keras.__version__,
        keras_lrm=keras_lrm.__version__, keras_lrm_path=keras_lrm.__file__,
        params=int(sum(int(tf.size(v)) for v in model.trainable_variables)),
        batch=B, tgt_len=args.segment, n_layer=args.num_layers, d_model=D,
        n_head=args.num_heads, d_head=D // args.num_heads, d_inner=args.d_ff,
        vocab=args.vocab, mem_lens=lengths, mem_len=max(lengths),
        gen_tokens=args.gen_tokens, tokens_per_step=tokens, state=args.state,
        # fp32 rows (a key and a value per row in the cache) + `filled`
        memory_state_bytes=sum(B * m * D * 4 for m in lengths)
        * (2 if args.state == "cache" else 1) + B * 4)
    harness.main_loop(step, info, args)


if __name__ == "__main__":
    main()
