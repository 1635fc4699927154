"""Smoke check: every benchmark worker imports and runs a tiny step.

Runs each worker once with --standalone on a 1-layer, 16-token model (the
matmul workers on 64 x 64) and prints one line per worker.  About 2 min.
usage: bench/.venv-peers/bin/python bench/check_workers.py
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
TINY = ["--standalone", "--warm", "1", "--n", "1", "--batch", "2"]
PEER_TINY = TINY + ["--n_layer", "1", "--tgt_len", "16", "--mem_len", "16"]
LRM_TINY = TINY + ["--num_layers", "2", "--segment", "16"]

CHECKS = [
    ("peer_tfmg_txl", [os.path.join(PEERS, "peer_tfmg_txl.py")] + PEER_TINY),
    ("peer_kerashub_xlnet",
     [os.path.join(PEERS, "peer_kerashub_xlnet.py")] + PEER_TINY),
    ("peer_keras_plain", [os.path.join(PEERS, "peer_keras_plain.py")] + PEER_TINY),
    ("mm_tf", [os.path.join(PEERS, "mm_tf.py"), "--standalone", "--n", "64"]),
    ("keras_lrm train", [os.path.join(HERE, "keras_lrm_worker.py"),
                         "--lengths", "8,16"] + LRM_TINY),
    ("products only", [os.path.join(HERE, "products_worker.py"),
                       "--lengths", "8,16"] + LRM_TINY),
    ("product rates", [os.path.join(HERE, "product_rates.py"), "--lengths",
                       "8,16", "--rounds", "1", "--copies", "1",
                       "--num_layers", "2", "--segment", "16",
                       "--batch", "2"]),
    ("keras_lrm eval", [os.path.join(HERE, "keras_lrm_worker.py"), "--mode",
                        "eval", "--placement", "last:1:16:8"] + LRM_TINY),
    ("keras_lrm generate", [os.path.join(HERE, "keras_lrm_worker.py"),
                            "--mode", "generate", "--gen_tokens", "2",
                            "--mem", "8", "--jit", "0"] + LRM_TINY),
]


def main():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    failed = 0
    for name, cmd in CHECKS:
        r = subprocess.run([sys.executable] + cmd, capture_output=True,
                           text=True, env=env, timeout=600)
        last = (r.stdout.strip().splitlines() or [""])[-1]
        # Workers end with their JSON line; product_rates.py with its total.
        ok = r.returncode == 0 and any(
            mark in last for mark in ("tokens_per_s", "GFLOP/s", "| all products |"))
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {last[:100]}", flush=True)
        if not ok:
            print(r.stderr[-2000:], flush=True)
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
