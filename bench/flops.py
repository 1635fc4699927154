# Extended from the company peer-benchmark harness
# (shared/bench/peers/flops.py, 2026-11-22): per-layer memory lengths
# (`mem_lens`), Table 1 ratios.
"""Model FLOPs per token for a Transformer-XL-style memory transformer.

Counts 2 FLOPs per multiply-add of the dense math the *model* needs (not what a
given implementation happens to execute), per token of the T-token segment:
  per layer l, with klen_l = T + M_l
    q projection            2*D*H*dh                 (T rows)
    k,v projections         2*2*D*H*dh * klen/T      (mems are hidden states,
                                                      so K/V over them are
                                                      recomputed every segment)
    r projection            2*D*H*dh * R/(T*B)       (R = klen+1 relative
                                                      positions, shared by the
                                                      batch)
    scores AC (q.k)         2*H*dh*klen
    scores BD (q.r)         2*H*dh*klen              (relative term)
    attn . V                2*H*dh*klen
    o projection            2*H*dh*D
    FFN                     2*2*D*F
  once: tied softmax        2*D*V
Training = 3 x forward (backward ~ 2 x forward), the usual MFU convention.
Causal masking is not discounted (all peers compute the dense T x klen block).
With mem=0 and no relative term this is the plain transformer (peer d).
`mem_lens` gives every layer its own memory length (Rae & Razavi placements);
the memory length M of a layer only changes its attention terms.

usage: python -m bench flops             (6 layers, mem 512 / 128 / 0)
       python -m bench flops --table1    (12 layers, 0..12 long memories)
       python -m bench flops --paper     (Rae & Razavi's enwik8 shapes)
       python -m bench flops --study     (recipes/placement_study.py's)
"""
import argparse
import json


def layer_fwd_flops(mem_len, d_model=256, n_head=4, d_head=64, d_inner=1024,
                    tgt_len=128, batch=8, relative=True):
    """Forward FLOPs per token of one layer with memory `mem_len`, by part."""
    D, H, dh, F, T, M, B = (d_model, n_head, d_head, d_inner, tgt_len,
                            mem_len, batch)
    hd = H * dh
    klen = T + M
    return {
        "q_proj": 2 * D * hd,
        "kv_proj": 2 * 2 * D * hd * klen / T,
        "r_proj": (2 * D * hd * (klen + 1) / (T * B)) if relative else 0.0,
        "scores_content": 2 * hd * klen,
        "scores_position": (2 * hd * klen) if relative else 0.0,
        "attn_v": 2 * hd * klen,
        "o_proj": 2 * hd * D,
        "ffn": 2 * 2 * D * F,
    }


def fwd_flops_per_token(n_layer=6, d_model=256, n_head=4, d_head=64,
                        d_inner=1024, tgt_len=128, mem_len=512, batch=8,
                        vocab=256, relative=True, mem_lens=None):
    """(total, parts): forward FLOPs per token; `mem_lens` overrides
    `mem_len` and `n_layer` with one memory length per layer."""
    lens = list(mem_lens) if mem_lens is not None else [mem_len] * n_layer
    totals = {}
    for m in lens:
        for k, v in layer_fwd_flops(m, d_model, n_head, d_head, d_inner,
                                    tgt_len, batch, relative).items():
            totals[k] = totals.get(k, 0.0) + v
    total = sum(totals.values()) + 2 * d_model * vocab
    return total, totals


def train_flops_per_token(**kw):
    return 3.0 * fwd_flops_per_token(**kw)[0]


def interleaved_lengths(n_layer, n_long, long_len, short_len):
    """keras_lrm.Placement("interleaved") without importing keras_lrm."""
    longs = {n_layer - 1 - (k * n_layer) // n_long for k in range(n_long)}
    return [long_len if i in longs else short_len for i in range(n_layer)]


# Long-memory counts per shape: (layers, counts, long, short, shape).
PLACEMENT_SHAPES = {
    # Rae & Razavi's enwik8 model and Table 1 (docs/study.md).
    "paper": (24, (24, 12, 4, 1, 0), 2304, 128,
              dict(d_model=1024, n_head=8, d_head=128, d_inner=3072,
                   tgt_len=384, batch=32)),
    # recipes/placement_study.py's default.
    "study": (6, (6, 3, 1, 0), 512, 16,
              dict(d_model=128, n_head=4, d_head=32, d_inner=512,
                   tgt_len=64, batch=16)),
}


def placement_ratios(name):
    """One line per long-memory count: training FLOPs per token and the
    fraction of the all-long model's (the paper's Table 1 time ratio)."""
    layers, counts, long_len, short_len, shape = PLACEMENT_SHAPES[name]
    full = train_flops_per_token(mem_lens=[long_len] * layers, **shape)
    for n in counts:
        lens = interleaved_lengths(layers, n, long_len, short_len) if n \
            else [short_len] * layers
        t = train_flops_per_token(mem_lens=lens, **shape)
        print(json.dumps({"num_long": n, "num_layers": layers,
                          "train_MFLOP_per_token": round(t / 1e6, 3),
                          "fraction_of_all": round(t / full, 3)}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mem_len", type=int, nargs="*", default=[512, 128, 0])
    p.add_argument("--table1", action="store_true",
                   help="12 layers, long 512 / short 128, interleaved")
    for name in PLACEMENT_SHAPES:
        p.add_argument(f"--{name}", action="store_true",
                       help=f"the {name}'s shapes: FLOPs by number of long "
                            "memories")
    a = p.parse_args()
    for name in PLACEMENT_SHAPES:
        if getattr(a, name):
            placement_ratios(name)
            return
    if a.table1:
        full = train_flops_per_token(mem_lens=[512] * 12)
        for n in (12, 6, 2, 1, 0):
            lens = interleaved_lengths(12, n, 512, 128) if n else [128] * 12
            t = train_flops_per_token(mem_lens=lens)
            print(json.dumps({"num_long": n, "mem_lens": lens,
                              "train_MFLOP_per_token": round(t / 1e6, 3),
                              "ratio_all_to_this": round(full / t, 4)}))
        return
    for m in a.mem_len:
        rel = m > 0
        tot, parts = fwd_flops_per_token(mem_len=m, relative=rel)
        print(json.dumps({"mem_len": m, "relative": rel,
                          "fwd_MFLOP_per_token": round(tot / 1e6, 3),
                          "train_MFLOP_per_token": round(3 * tot / 1e6, 3),
                          "parts_fwd_MFLOP": {k: round(v / 1e6, 3)
                                              for k, v in parts.items()}}))


if __name__ == "__main__":
    main()
