"""How fast memory tokens leave the plateau of a copy across segments.

Trains `MemoryTransformerLM` (placement "none": only the memory tokens
carry anything between segments) on a copy task whose answer lies in a
later segment than its digits, and prints the answer loss every
`--every` steps, for one kernel initialisation. The loss of chance on
digits is ln 10 = 2.303. docs/rmt.md, "Initialisation", was measured
with:

    python -m bench rmt_plateau --init_std 0.02     # stays at 2.31
    python -m bench rmt_plateau --init_std 0.06     # 0.007 over steps 251-500
    python -m bench rmt_plateau --init lecun_normal
"""
import argparse
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--length", type=int, default=4, help="digits")
    p.add_argument("--num_segments", type=int, default=2)
    p.add_argument("--segment_length", type=int, default=6)
    p.add_argument("--memory_tokens", type=int, default=4)
    p.add_argument("--num_layers", type=int, default=1)
    p.add_argument("--d_model", type=int, default=128)
    p.add_argument("--num_heads", type=int, default=2)
    p.add_argument("--learning_rate", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--init_std", type=float, default=0.0,
                   help="normal kernels of this std (0: --init, or the "
                        "model's default)")
    p.add_argument("--init", default=None,
                   help="a Keras initializer name, e.g. lecun_normal")
    args = p.parse_args()

    import keras

    from keras_lrm import Placement
    from keras_lrm.data import synthetic
    from keras_lrm.models import MemoryTransformerLM
    from keras_lrm.training.stateful_lm import StatefulLM

    task = synthetic.get_task("copy", length=args.length,
                              num_segments=args.num_segments,
                              segment_length=args.segment_length)
    keras.utils.set_random_seed(0)
    init = keras.initializers.RandomNormal(stddev=args.init_std) \
        if args.init_std else args.init
    lm = MemoryTransformerLM(
        vocab_size=synthetic.VOCAB_SIZE, num_layers=args.num_layers,
        d_model=args.d_model, num_heads=args.num_heads,
        d_ff=2 * args.d_model, segment_length=args.segment_length,
        placement=Placement("none", None, 0, 0), pre_norm=True,
        num_memory_tokens=args.memory_tokens, kernel_initializer=init)
    model = StatefulLM(lm, args.batch, bptt_segments=args.num_segments,
                       carry_memory=False)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  jit_compile=True)
    data = synthetic.dataset(task, 8192, seed=1, batch_size=args.batch,
                             shuffle=True, repeat=True)
    start = time.perf_counter()
    for done in range(args.every, args.steps + 1, args.every):
        history = model.fit(data, steps_per_epoch=args.every, epochs=1,
                            verbose=0)
        # The mean answer loss over the last `--every` steps.
        print(f"step {done}: answer loss "
              f"{history.history['loss'][-1]:.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
