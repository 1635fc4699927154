# Copied from the company peer-benchmark harness
# (shared/bench/peers/mm_torch.py, 2026-11-22); see bench/README.md for
# what was adapted.
"""Matmul roofline worker, PyTorch CPU: C = A @ B, fp32, N x N x N (default
2048).  One "step" = --reps matmuls; GFLOP/s = 2*N^3*reps / t."""
from bench.peers import harness


def main():
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--shape", type=str, default="")
    p.add_argument("--reps", type=int, default=4)
    p.add_argument("--standalone", action="store_true")
    args = p.parse_args()
    import torch
    m, k, n = ([int(v) for v in args.shape.split(",")] if args.shape
               else (args.n, args.n, args.n))
    a = torch.randn(m, k)
    b = torch.randn(k, n)
    c = torch.empty(m, n)

    def step():
        for _ in range(args.reps):
            torch.matmul(a, b, out=c)
        return float(c[0, 0])

    info = dict(peer=f"mm_torch_{m}x{k}x{n}", torch=torch.__version__,
                threads=torch.get_num_threads(),
                flops_per_step=2.0 * m * k * n * args.reps,
                batch=1, tgt_len=1, mem_len=0)
    harness.matmul_main(step, info)


if __name__ == "__main__":
    main()
