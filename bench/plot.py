"""The benchmark figure (matplotlib, Agg): training tokens/s per worker,
Table 1 time/token against FLOPs/token and its memory, streaming tokens/s."""
import os

COLORS = {"lrm": "tab:blue", "peer": "tab:orange", "baseline": "tab:gray",
          "ceiling": "tab:green"}


def _throughput(ax, groups):
    names, values, colors = [], [], []
    for gname in ("mem512", "mem128", "rr"):
        if gname not in groups:
            continue
        for name, d in groups[gname][0]["workers"].items():
            if d["role"] == "mm" or "tokens_per_s" not in d:
                continue
            names.append(f"{gname}: {name}")
            values.append(d["tokens_per_s"])
            colors.append(COLORS.get(d["role"], "k"))
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("training tokens/s (blue keras_lrm, orange peers, gray no "
                  "memory, green products only)")
    ax.set_title("Training throughput, 6 layers")


def _table1(ax, g):
    pts = []
    for n in (0, 1, 2, 6, 12):
        d = g["workers"].get(f"keras_lrm12_long{n}_xla", {})
        if "tokens_per_s" in d:
            pts.append((n, 1e6 / d["tokens_per_s"],
                        d["model_flops_per_token"] / 1e6))
    if not pts:
        return
    n, us, mf = zip(*pts)
    ax.plot(n, us, "o-", color="tab:blue", label="measured time/token")
    # FLOPs scaled to the all-12 time: where time would be if it tracked FLOPs
    scale = us[-1] / mf[-1] if n[-1] == 12 else us[0] / mf[0]
    ax.plot(n, [m * scale for m in mf], "s--", color="tab:red",
            label="FLOP-proportional time")
    ax.set_xlabel("long-memory layers of 12 (others short 128)")
    ax.set_ylabel("us per training token")
    twin = ax.twinx()
    twin.set_ylim(ax.get_ylim()[0] / scale, ax.get_ylim()[1] / scale)
    twin.set_ylabel("model MFLOP per training token")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("Table 1: 12 layers, long 512")


def _table1_memory(ax, g):
    pts = []
    for n in (0, 1, 2, 6, 12):
        d = g["workers"].get(f"keras_lrm12_long{n}_xla", {})
        if d.get("peak_rss_steps_mb"):
            xla = (d.get("xla_memory") or {}).get("xla_temp_mb", float("nan"))
            pts.append((n, d["peak_rss_steps_mb"], d["rss_after_build_mb"],
                        d["info"]["memory_state_bytes"] / 2**20, xla))
    if not pts:
        return
    n, peak, build, state, xla = zip(*pts)
    ax.plot(n, [p - b for p, b in zip(peak, build)], "o-", color="tab:blue",
            label="peak RSS of training steps - RSS after build")
    ax.plot(n, xla, "^-", color="tab:purple",
            label="XLA temporaries of the step (activations, grads)")
    ax.plot(n, state, "s--", color="tab:green", label="memory state (batch 8)")
    ax.set_xlabel("long-memory layers of 12 (others short 128)")
    ax.set_ylabel("MB")
    ax.legend(fontsize=7)
    ax.set_title("Table 1: memory")


def _stream(ax, g):
    names, values = [], []
    for name, d in g["workers"].items():
        if "tokens_per_s" in d:
            mb = d["info"]["memory_state_bytes"] / 2**20
            short = name.replace("keras_lrm_", "")
            names.append(f"{short} ({mb:.1f} MB state)")
            values.append(d["tokens_per_s"])
    ax.barh(range(len(values)), values, color="tab:blue")
    ax.set_yticks(range(len(values)), names, fontsize=7)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("tokens/s (log)")
    ax.set_title("Streaming, memory carried")


def write(path, groups):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    draw = []
    if {"mem512", "mem128", "rr"} & set(groups):
        draw.append(lambda ax: _throughput(ax, groups))
    if "table1" in groups:
        draw.append(lambda ax: _table1(ax, groups["table1"][0]))
        draw.append(lambda ax: _table1_memory(ax, groups["table1"][0]))
    if "stream" in groups:
        draw.append(lambda ax: _stream(ax, groups["stream"][0]))
    if not draw:
        return
    cols = min(2, len(draw))
    rows = (len(draw) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 5 * rows),
                             squeeze=False)
    for ax, fn in zip(axes.flat, draw):
        fn(ax)
    for ax in list(axes.flat)[len(draw):]:
        ax.axis("off")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
