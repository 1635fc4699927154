"""The training-step benchmark on a GPU or TPU, Keras 3 on JAX.

  benchmark  keras_lrm, the keras-hub XLNet peer and the no-memory
             baseline in one process, one jitted step each, interleaved
             (`python -m bench gpu`; `--report` writes
             docs/benchmarks_gpu.md through `report`)
  models     those models in `keras.ops`, for any backend
  check      the fused attention path against the unfused one on the GPU
             (`python -m bench gpu-check`)
  profile    kernel time of those steps from a `jax.profiler` trace
             (`python -m bench gpu-profile`)
"""
