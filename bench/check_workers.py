"""Smoke check: every benchmark worker imports and runs a tiny step.

Runs each worker once with --standalone on a 1- or 2-layer, 16-token model
(the matmul worker on 64 x 64), as a module of this package from the
repository root, and prints one line per worker. About 2 min.
usage: bench/.venv-peers/bin/python -m bench check
       (bench/setup_peers.sh runs it as bench/check_workers.py: stdlib only)
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--standalone", "--warm", "1", "--n", "1", "--batch", "2"]
PEER_TINY = TINY + ["--n_layer", "1", "--tgt_len", "16", "--mem_len", "16"]
LRM_TINY = TINY + ["--num_layers", "2", "--segment", "16"]
WORKER = "bench.keras_lrm_worker"

CHECKS = [
    ("peer_tfmg_txl", ["bench.peers.peer_tfmg_txl"] + PEER_TINY),
    ("peer_kerashub_xlnet", ["bench.peers.peer_kerashub_xlnet"] + PEER_TINY),
    ("peer_keras_plain", ["bench.peers.peer_keras_plain"] + PEER_TINY),
    ("mm_tf", ["bench.peers.mm_tf", "--standalone", "--n", "64"]),
    ("keras_lrm train", [WORKER, "--lengths", "8,16"] + LRM_TINY),
    ("products only", ["bench.products", "--lengths", "8,16"] + LRM_TINY),
    ("product rates", ["bench.products", "--rates", "--lengths", "8,16",
                       "--rounds", "1", "--copies", "1", "--num_layers", "2",
                       "--segment", "16", "--batch", "2"]),
    ("keras_lrm eval", [WORKER, "--mode", "eval", "--placement",
                        "last:1:16:8"] + LRM_TINY),
    ("keras_lrm generate", [WORKER, "--mode", "generate", "--gen_tokens",
                            "2", "--mem", "8", "--jit", "0"] + LRM_TINY),
]
# What the last line of a healthy run holds: a worker's JSON, the matmul
# worker's rate, the rates table's total.
MARKS = ("tokens_per_s", "GFLOP/s", "| all products |")


def main():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               KERAS_BACKEND="tensorflow")
    failed = 0
    for name, (module, *args) in CHECKS:
        r = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                           capture_output=True, text=True, env=env,
                           timeout=600)
        last = (r.stdout.strip().splitlines() or [""])[-1]
        ok = r.returncode == 0 and any(mark in last for mark in MARKS)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {last[:100]}", flush=True)
        if not ok:
            print(r.stderr[-2000:], flush=True)
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
