#!/usr/bin/env python3
"""Interleaved benchmark: keras_lrm against Transformer-XL peers.

Groups (each one interleaved run of its workers, see interleave.py):
  mem512  keras_lrm, every layer memory 512 (XLA and plain graph), the peers
          at mem_len 512, the plain no-memory baseline, matmul rooflines
  mem128  the same at 128
  rr      Rae & Razavi: one long memory of 512 at the top layer, short
          memories of 64 (and 128) below; keras_lrm all-512 and the XLA
          peers at 512 for the ratios
  table1  12 layers, 12 / 6 / 2 / 1 / 0 interleaved long memories of 512,
          short 128 (Rae & Razavi Table 1): time/token, peak RSS, FLOPs
  stream  forward only (eval) and one-token steps (generate), memory
          carried, for all-512, all-128 and the two Rae & Razavi configs,
          each on the memory state and on the key/value cache
  modes512, modes128 (not in the default run) execution modes of one
          model, every layer memory 512 / 128: keras_lrm XLA, plain graph
          and graph with TensorFlow's XLA auto-clustering of element-wise
          ops only (AUTOCLUSTER: matmuls stay on oneDNN), keras-hub XLNet
          graph with and without the same auto-clustering
Work: 6 layers, d_model 256, 4 heads x 64, d_ff 1024, segment 128, batch 8,
vocab 256, tied softmax, dropout 0, Adam, fp32, memory carried step to step.

Writes bench/results/<stamp>.json and regenerates docs/benchmarks.md and
docs/benchmarks.png (bench/report.py) from it. Every worker runs as a module
of this package, `python -m bench.<worker>`, from the repository root.
usage: bench/.venv-peers/bin/python -m bench run --quick          (~10 min)
       bench/.venv-peers/bin/python -m bench run --groups mem512,mem128,rr
Env: PEERS_VENV (python with TF + peers), PEERS_TORCH (torch python).
"""
import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import time

from bench import flops
from bench import interleave as il
from bench import records
from bench import report

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(HERE, "peers")

TFPY = os.environ.get("PEERS_VENV",
                      os.path.join(HERE, ".venv-peers/bin/python"))
TORCHPY = os.environ.get("PEERS_TORCH",
                         os.path.join(HERE, ".venv-torch/bin/python"))
TORCH_TXL = os.path.join(PEERS, "peer_torch_txl.py")
GROUPS = ("mem512", "mem128", "rr", "table1", "stream", "modes512", "modes128",
          "las")
# TensorFlow's auto-clustering restricted to element-wise ("FUSIBLE") ops:
# a graph-mode step whose element-wise chains XLA fuses while the products
# run as TensorFlow's own (oneDNN) kernels. A process-wide TF setting, so
# the modes groups give it to the peer too.
AUTOCLUSTER = {"TF_XLA_FLAGS": "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit "
                               "--tf_xla_ops_to_cluster=FUSIBLE"}
RR = {"rr64": [64] * 5 + [512], "rr128": [128] * 5 + [512]}
# --quick keeps one worker per role that a goal or table needs
QUICK = {"keras_lrm_all512_xla", "keras_lrm_all128_xla", "tfmg_txl_xla",
         "keras_lrm_rr64_xla", "keras_lrm_rr128_xla", "keras_lrm12_long12_xla",
         "keras_lrm12_long2_xla", "keras_lrm_eval_all512_xla",
         "keras_lrm_eval_rr64_xla", "keras_lrm_generate_rr64_xla",
         "keras_lrm_eval_all512_cache_xla",
         "keras_lrm_generate_rr64_cache_xla", "mm_tf_xla_2048"}


def peer(name, script, *args, role="peer", py=TFPY):
    module = "bench.peers." + script.removesuffix(".py")
    return {"name": name, "role": role,
            "cmd": [py, "-m", module, *map(str, args)]}


def lrm(name, *args, role="lrm"):
    return {"name": name, "role": role,
            "cmd": [TFPY, "-m", "bench.keras_lrm_worker", "--name", name,
                    *map(str, args)]}


def products_only(label, *args):
    """The step's matrix products alone, XLA and TensorFlow kernels
    (bench/products.py): the ceiling a full step's ratio is read against."""
    return [{"name": f"products_only_{label}_{mode}", "role": "ceiling",
             "cmd": [TFPY, "-m", "bench.products", "--name",
                     f"products_only_{label}_{mode}", "--jit", jit,
                     *map(str, args)]}
            for mode, jit in (("xla", "1"), ("graph", "0"))]


def memory_peers(mem, graph):
    s = [peer("tfmg_txl_xla", "peer_tfmg_txl.py", "--jit", 1, "--mem_len",
              mem),
         peer("kerashub_xlnet_xla", "peer_kerashub_xlnet.py", "--jit", 1,
              "--mem_len", mem)]
    if graph:
        s += [peer("tfmg_txl_graph", "peer_tfmg_txl.py", "--jit", 0,
                   "--mem_len", mem),
              peer("kerashub_xlnet_graph", "peer_kerashub_xlnet.py",
                   "--jit", 0, "--mem_len", mem)]
    if os.path.exists(TORCH_TXL):
        s.append(peer("torch_txl_ref", "peer_torch_txl.py", "--mem_len", mem,
                      py=TORCHPY))
    return s


def mm_specs():
    s = [peer("mm_tf_xla_2048", "mm_tf.py", "--jit", 1, role="mm"),
         peer("mm_tf_2048", "mm_tf.py", "--jit", 0, role="mm"),
         peer("mm_tf_xla_1024x256x1024", "mm_tf.py", "--jit", 1, "--shape",
              "1024,256,1024", "--reps", 64, role="mm")]
    if os.path.exists(TORCHPY):
        s.append(peer("mm_torch_2048", "mm_torch.py", role="mm", py=TORCHPY))
    return s


def group_specs(group):
    if group in ("mem512", "mem128"):
        m = int(group[3:])
        s = [lrm(f"keras_lrm_all{m}_xla", "--mem", m, "--jit", 1),
             lrm(f"keras_lrm_all{m}_graph", "--mem", m, "--jit", 0)]
        s += memory_peers(m, graph=True)
        s.append(peer("keras_plain_nomem_xla", "peer_keras_plain.py",
                      "--jit", 1, role="baseline"))
        s += products_only(f"all{m}", "--mem", m)
        if m == 512:
            s += products_only("plain_nomem", "--mem", 0, "--no_relative")
    elif group == "rr":
        s = [lrm(f"keras_lrm_{k}_xla", "--lengths", ",".join(map(str, v)))
             for k, v in RR.items()]
        # Graph-mode peers too: on some hosts they beat the XLA ones, and
        # the goal is against the fastest peer.
        s += [lrm("keras_lrm_all512_xla", "--mem", 512)]
        s += memory_peers(512, True)
        for k, v in RR.items():
            s += products_only(k, "--lengths", ",".join(map(str, v)))
    elif group == "table1":
        s = [lrm(f"keras_lrm12_long{n}_xla", "--num_layers", 12, "--placement",
                 f"interleaved:{n}:512:128") for n in (12, 6, 2, 1, 0)]
    elif group == "las":
        # LaS against plain attention at the same shapes (docs/las.md).
        s = []
        for m in (512, 128):
            s += [lrm(f"keras_lrm_all{m}_xla", "--mem", m),
                  lrm(f"keras_lrm_las_all{m}_xla", "--mem", m,
                      "--decay_max", 0.5, "--pool_size", 3),
                  lrm(f"keras_lrm_las_decay_all{m}_xla", "--mem", m,
                      "--decay_max", 0.5)]
        return s
    elif group.startswith("modes"):
        m = int(group[5:])
        s = [lrm(f"keras_lrm_all{m}_xla", "--mem", m, "--jit", 1),
             lrm(f"keras_lrm_all{m}_graph", "--mem", m, "--jit", 0),
             dict(lrm(f"keras_lrm_all{m}_graph_autocluster", "--mem", m,
                      "--jit", 0), env=AUTOCLUSTER),
             peer("kerashub_xlnet_graph", "peer_kerashub_xlnet.py", "--jit", 0,
                  "--mem_len", m),
             dict(peer("kerashub_xlnet_graph_autocluster",
                       "peer_kerashub_xlnet.py", "--jit", 0, "--mem_len", m),
                  env=AUTOCLUSTER)]
    else:
        configs = {"all512": ["--mem", 512], "all128": ["--mem", 128]}
        configs.update({k: ["--lengths", ",".join(map(str, v))]
                        for k, v in RR.items()})
        s = [lrm(f"keras_lrm_{mode}_{k}{suffix}_xla", "--mode", mode,
                 "--state", state, *v)
             for mode in ("eval", "generate") for k, v in configs.items()
             for state, suffix in (("memory", ""), ("cache", "_cache"))]
    return s + mm_specs()


def with_xla_dump(spec, log_dir):
    """Asks XLA to write its buffer assignment, to read the step's memory.
    Not for auto-clustered workers: no one module is their step."""
    if "TF_XLA_FLAGS" in spec.get("env", {}):
        return spec
    dump = os.path.join(log_dir, "xla", spec["name"])
    flags = (os.environ.get("XLA_FLAGS", "")
             + f" --xla_dump_to={dump} --xla_dump_hlo_as_text")
    return dict(spec, env=dict(spec.get("env", {}), XLA_FLAGS=flags.strip()),
                dump=dump)


def xla_memory(dump):
    """The largest compiled module's buffers: total (arguments, outputs,
    temporaries) and preallocated temporaries (activations, gradients,
    workspace: the peak of what is live at once), in MB; then deletes the
    dump.  None for workers without XLA."""
    best = None
    for f in (os.listdir(dump) if os.path.isdir(dump) else []):
        if not f.endswith("after_optimizations-buffer-assignment.txt"):
            continue
        with open(os.path.join(dump, f)) as fh:
            text = fh.read()
        sizes = [int(m) for m in
                 re.findall(r"^allocation \d+: size (\d+)", text, re.M)]
        temp = re.search(
            r"^allocation \d+: size (\d+), preallocated-temp", text, re.M)
        total = sum(sizes) / 2**20
        if best is None or total > best["xla_total_mb"]:
            best = {"xla_total_mb": total,
                    "xla_temp_mb": int(temp.group(1)) / 2**20 if temp else 0.0}
    shutil.rmtree(dump, ignore_errors=True)
    return best


def model_flops(info, mode):
    """Model FLOPs per token: train 3 x forward; generate: forward, T = 1."""
    kw = dict(n_layer=info.get("n_layer", 6), batch=info["batch"],
              tgt_len=1 if mode == "generate" else info["tgt_len"])
    if "mem_lens" in info:
        kw["mem_lens"] = info["mem_lens"]
    else:
        kw.update(mem_len=info["mem_len"], relative=info["mem_len"] > 0)
    fwd = flops.fwd_flops_per_token(**kw)[0]
    return 3 * fwd if mode == "train" else fwd


def summarise(group, workers, wall_s):
    live = [w for w in workers if not w.dead]
    mm = {w.name: w.info["flops_per_step"] / il.robust_median(w)
          for w in live if w.spec["role"] == "mm"}
    peak = max(mm.values()) if mm else None
    peers = [w for w in live if w.spec["role"] == "peer"]
    fastest = min(peers, key=il.robust_median) if peers else None
    out = {"group": group, "wall_s": wall_s, "machine_peak_flops": peak,
           "matmul_flops": mm, "fastest_peer": fastest and fastest.name,
           "workers": {}}
    for w in workers:
        d = {"role": w.spec["role"], "cmd": shlex.join(w.spec["cmd"][1:])}
        if set(w.spec.get("env", {})) - {"XLA_FLAGS"}:
            d["env"] = {k: v for k, v in w.spec["env"].items()
                        if k != "XLA_FLAGS"}
        if w.dead:
            out["workers"][w.name] = dict(d, error=w.dead, info=w.info)
            continue
        med = il.robust_median(w)
        d.update(info=w.info, median_step_s=med, min_step_s=min(w.times),
                 max_step_s=max(w.times), round_medians_s=w.rounds,
                 foreign_load_per_round=w.foreign, attempts=w.attempts,
                 waited_idle_s=w.waited_s, warm_s=w.warm, losses=w.losses,
                 peak_rss_warm_mb=w.rss_warm and w.rss_warm["peak_rss_mb"],
                 peak_rss_steps_mb=w.rss_end and w.rss_end["hwm_mb"],
                 rss_after_build_mb=w.info.get("rss_after_build_mb"),
                 xla_memory=(xla_memory(w.spec["dump"])
                             if "dump" in w.spec else None))
        if w.spec["role"] == "mm":
            d["gflops"] = w.info["flops_per_step"] / med / 1e9
        else:
            mode = w.info.get("mode", "train")
            toks = w.info.get("tokens_per_step",
                              w.info["batch"] * w.info["tgt_len"])
            f_tok = model_flops(w.info, mode)
            d.update(mode=mode, tokens_per_s=toks / med,
                     model_flops_per_token=f_tok,
                     achieved_gflops=toks / med * f_tok / 1e9)
            if peak:
                d["mfu"] = toks / med * f_tok / peak
            if fastest is not None and mode == "train":
                r = il.paired_ratios(fastest, w)
                d.update(ratio_to_fastest_peer=statistics.median(r),
                         ratio_to_fastest_peer_per_round=r)
        out["workers"][w.name] = d
    return out


def table1_ratios(res):
    """Per-round time ratios all-12 / k long memories (same tokens/step)."""
    live = {w.name: w for w in res}
    base = live.get("keras_lrm12_long12_xla")
    if base is None or base.dead:
        return {}
    return {w.name: il.paired_ratios(base, w) for w in res
            if w.spec["role"] == "lrm" and not w.dead}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--groups", default="mem512,mem128,rr,table1,stream")
    p.add_argument("--quick", action="store_true",
                   help="1 round of 1 step, 2 warm-up steps, the QUICK "
                        "workers only")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--warm", type=int, default=5)
    p.add_argument("--quiet_wait", type=float, default=20.0)
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--only", default="", help="comma list of worker names")
    p.add_argument("--merge", nargs="*", default=[],
                   help="earlier result JSONs whose other groups the "
                        "report keeps")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--no_report", action="store_true",
                   help="leave docs/benchmarks.md alone (smoke checks)")
    a = p.parse_args()
    if a.quick:
        a.rounds, a.steps, a.warm, a.quiet_wait, a.retries = 1, 1, 2, 5.0, 0
    groups = a.groups.split(",")
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        p.error(f"unknown groups {bad}; choose from {GROUPS}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = os.path.join(a.out, "logs", stamp)
    os.makedirs(log_dir, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
               KERAS_BACKEND="tensorflow")
    run = {"stamp": stamp, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
           "command": shlex.join([os.path.relpath(sys.executable, ROOT),
                                  "-m", "bench", "run"] + sys.argv[1:]),
           "settings": {k: getattr(a, k) for k in
                        ("quick", "rounds", "steps", "warm", "quiet_wait",
                         "retries")},
           "git": records.git_state(), "machine": records.machine(),
           "groups": []}
    t_run = time.perf_counter()
    for g in groups:
        keep = set(a.only.split(",")) if a.only else QUICK if a.quick else None
        specs = [with_xla_dump(s, log_dir) for s in group_specs(g)
                 if keep is None or s["name"] in keep]
        print(f"== group {g}: {[s['name'] for s in specs]}", flush=True)
        t0 = time.perf_counter()
        ws = il.start(specs, log_dir, env)
        il.warm_up(ws, a.warm)
        il.run_rounds(ws, a.rounds, a.steps, quiet_wait=a.quiet_wait,
                      retries=a.retries)
        res = summarise(g, ws, time.perf_counter() - t0)
        if g == "table1":
            res["ratio_all_to_config_per_round"] = table1_ratios(ws)
        run["groups"].append(res)
        print(f"  group {g} took {res['wall_s'] / 60:.1f} min", flush=True)
    run["wall_s"] = time.perf_counter() - t_run
    path = os.path.join(a.out, f"{stamp}.json")
    with open(path, "w") as f:
        json.dump(run, f, indent=1)
    print("wrote", path, f"({run['wall_s'] / 60:.1f} min)", flush=True)
    if not a.no_report:
        report.main(a.merge + [path])


if __name__ == "__main__":
    main()
