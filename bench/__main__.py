"""`python -m bench <command> [flags]`: one entry point for the harness.

Each command runs one module of this package as `python -m bench.<module>`
would; `python -m bench <command> --help` gives its flags.
"""
import runpy
import sys

# command: (module, what it does)
COMMANDS = {
    "run": ("bench.driver",
            "interleaved CPU benchmark against the peers; writes "
            "bench/results/<stamp>.json and docs/benchmarks.md"),
    "report": ("bench.report",
               "docs/benchmarks.md and .png from result JSONs"),
    "ab": ("bench.ab",
           "keep-or-drop A/B: old checkout against this one, interleaved"),
    "worker": ("bench.keras_lrm_worker",
               "one keras_lrm step (--standalone times it alone)"),
    "products": ("bench.products",
                 "the step's matrix products alone (--rates: each alone)"),
    "profile": ("bench.profile_step",
                "per-op time of one step from the TensorFlow profiler"),
    "flops": ("bench.flops", "model FLOPs per token"),
    "check": ("bench.check_workers",
              "smoke check: every worker runs one tiny step"),
    "generation": ("bench.generation", "generation cost (docs/generation.md)"),
    "rmt_plateau": ("bench.rmt_plateau",
                    "how fast memory tokens learn a copy across segments "
                    "from one initialisation (docs/rmt.md)"),
    "rmt": ("bench.rmt",
            "RMT training step against the torch peer, and BPTT's cost "
            "over K segments (docs/rmt.md)"),
    "gpu": ("bench.accelerator.benchmark",
            "the training step on a GPU/TPU, Keras 3 on JAX (--report "
            "writes docs/benchmarks_gpu.md)"),
    "gpu-check": ("bench.accelerator.check",
                  "fused against unfused attention on the GPU"),
    "gpu-profile": ("bench.accelerator.profile",
                    "kernel time of the GPU steps (jax.profiler)"),
}


def usage():
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m bench <command> [flags]", "", "commands:"]
    lines += [f"  {name:<{width}}  {what}"
              for name, (_, what) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in COMMANDS:
        print(f"unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = COMMANDS[argv[0]][0]
    sys.argv = [f"python -m bench {argv[0]}", *argv[1:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
