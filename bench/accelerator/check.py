#!/usr/bin/env python3
"""Checks MemoryAttention's fused path on a GPU against the unfused one.

On the CPU the tests check the fused path's math with Keras's XLA version of
`dot_product_attention`; only a GPU runs cuDNN's kernel. This runs both
paths of one layer (same weights, a memory partly filled, bfloat16 compute)
under `jax.jit` and compares the outputs and every gradient, and says
whether the compiled fused step really calls cuDNN (`__cudnn$fmha`).
Differences are reported against the float32 result of the unfused path, so
the two bfloat16 paths can be judged by the same yardstick.

usage: python -m bench gpu-check --out check.json   (on the JAX backend)
"""
import argparse
import json
import sys
import time

from bench.accelerator import benchmark
from bench.accelerator import report


def make_layer(dtype, flash, memory_length):
    from keras_lrm.layers import MemoryAttention
    layer = MemoryAttention(num_heads=4, key_dim=64,
                            memory_length=memory_length, dtype=dtype,
                            flash_attention=flash)
    layer.build((None, None, 256))
    return layer


def run(layer, x, memory, filled):
    """(jitted outputs and gradients, compiled HLO text)."""
    import jax
    import keras
    from keras import ops
    variables = layer.trainable_variables

    def loss(values, x):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            y = layer(x, memory, filled=filled)
        y = ops.cast(y, "float32")
        return ops.sum(y * ops.cos(y)), y

    fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))
    values = [v.value for v in variables]
    compiled = fn.lower(values, x).compile()
    (_, y), (grads, dx) = compiled(values, x)
    return [y, dx] + list(grads), compiled.as_text()


def compare(got, reference):
    import numpy as np
    out = []
    for g, r in zip(got, reference):
        g, r = np.asarray(g, "float32"), np.asarray(r, "float32")
        scale = float(np.max(np.abs(r))) or 1.0
        out.append(round(float(np.max(np.abs(g - r))) / scale, 5))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--memory", type=int, default=512)
    args = p.parse_args(argv)
    import jax
    import numpy as np
    rng = np.random.default_rng(0)
    B, T, M = args.batch, 128, args.memory
    x = jax.numpy.asarray(rng.normal(size=(B, T, 256)), "float32")
    memory = jax.numpy.asarray(rng.normal(size=(B, M, 256)), "float32")
    filled = jax.numpy.asarray(rng.integers(0, M + 1, (B,)), "int32")
    reference = make_layer("float32", False, M)
    weights = [w * 5.0 for w in reference.get_weights()]  # sharper softmax
    reference.set_weights(weights)
    expected, _ = run(reference, x, memory, filled)
    names = ["output", "d_inputs"] + [v.path for v in
                                      reference.trainable_variables]
    result = {"device": jax.devices()[0].device_kind,
              "machine": benchmark.device_info(),
              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "command": " ".join(["python -m bench gpu-check"]
                                  + sys.argv[1:]), "shape":
              dict(batch=B, segment=T, memory=M, heads=4, key_dim=64),
              "names": names, "paths": {}}
    for label, dtype, flash in (("bf16_unfused", "mixed_bfloat16", False),
                                ("bf16_fused", "mixed_bfloat16", None),
                                ("fp32_default", "float32", None)):
        layer = make_layer(dtype, flash, M)
        layer.set_weights(weights)
        got, hlo = run(layer, x, memory, filled)
        result["paths"][label] = dict(
            cudnn_attention="__cudnn$fmha" in hlo,
            max_error_over_max_fp32=dict(zip(names, compare(got, expected))))
        print(label, json.dumps(result["paths"][label]), flush=True)
    if args.out:
        report.write_json(args.out, result)


if __name__ == "__main__":
    main()
