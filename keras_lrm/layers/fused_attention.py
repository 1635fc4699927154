"""Whether `MemoryAttention` can hand its attention to a fused kernel.

The fused path is `keras.ops.dot_product_attention(..., bias=...,
flash_attention=True)`: the content product, softmax and the product with the
values run in one kernel (cuDNN flash attention on a CUDA GPU under JAX),
with the relative-position term and the mask passed as an additive bias.
Only that one place can run it with a bias, so this module says where:

- JAX backend on a CUDA GPU of compute capability 8.0 or later. TensorFlow:
  Keras has no flash kernel there. TPU: Keras's splash-attention path drops
  the `bias` argument, which would silently remove the position term.
- float16 or bfloat16 compute dtype (cuDNN's flash kernel has no float32).
- `key_dim` a multiple of 8, at most 128, and even segment and key lengths
  (cuDNN's limits for a bias that needs a gradient).
"""

import keras

HALF_DTYPES = ("float16", "bfloat16")


def requirements():
    """What the fused path needs, for error messages."""
    return ("the JAX backend on a CUDA GPU of compute capability >= 8.0, a "
            "float16 or bfloat16 compute dtype, key_dim a multiple of 8 and "
            "at most 128, and even segment and key lengths")


def _cuda_device_ok():
    import jax  # only reached on the JAX backend
    device = jax.devices()[0]
    if device.platform != "gpu":
        return False
    capability = getattr(device, "compute_capability", None)
    if capability is None:  # a ROCm GPU: cuDNN is not there
        return False
    major = int(str(capability).split(".")[0])
    return major >= 8


def fused_attention_available(compute_dtype, key_dim, num_queries,
                              memory_rows):
    """Whether the fused kernel can run these shapes here.

    Args:
        compute_dtype: the layer's compute dtype name.
        key_dim: size of each head.
        num_queries: `T`, segment rows (a Python int; anything else, such
            as an unknown length, gives False).
        memory_rows: `M`, memory rows in front of the segment.

    Returns:
        bool.
    """
    if keras.backend.backend() != "jax":
        return False
    if compute_dtype not in HALF_DTYPES:
        return False
    if key_dim % 8 or key_dim > 128:
        return False
    if not isinstance(num_queries, int) or num_queries % 2 or \
            (memory_rows + num_queries) % 2:
        return False
    return _cuda_device_ok()
