# Copied from the company peer-benchmark harness
# (shared/bench/peers/mm_tf.py, 2026-11-22); see bench/README.md for
# what was adapted.
"""Matmul roofline worker, TensorFlow: C = A @ B, fp32, N x N x N (default
2048), with XLA (jit_compile=True) or plain TF (oneDNN/Eigen kernel).
One "step" = --reps matmuls, each forced to finish; the driver turns step time
into GFLOP/s (2*N^3*reps / t).  Also a model-shaped case with --shape M,K,N.
"""
from bench.peers import harness


def main():
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--shape", type=str, default="")
    p.add_argument("--reps", type=int, default=4)
    p.add_argument("--jit", type=int, default=1)
    p.add_argument("--standalone", action="store_true")
    args = p.parse_args()
    import tensorflow as tf
    m, k, n = ([int(v) for v in args.shape.split(",")] if args.shape
               else (args.n, args.n, args.n))
    a = tf.random.normal([m, k])
    b = tf.random.normal([k, n])

    @tf.function(jit_compile=bool(args.jit))
    def mm(a, b):
        return tf.matmul(a, b)

    def step():
        s = 0.0
        for _ in range(args.reps):
            s += float(mm(a, b)[0, 0].numpy())
        return s

    info = dict(peer="mm_tf" + ("_xla" if args.jit else "") + f"_{m}x{k}x{n}",
                tf=tf.__version__, flops_per_step=2.0 * m * k * n * args.reps,
                batch=1, tgt_len=1, mem_len=0)
    harness.matmul_main(step, info)


if __name__ == "__main__":
    main()
