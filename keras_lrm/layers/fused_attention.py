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
from keras import ops

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


def check_flash_attention(flash_attention, attention_dropout, plain,
                          class_name):
    """Raises `ValueError` for a `flash_attention` argument that cannot
    hold: not None/True/False, True in a variant of the attention's seams
    (`plain` False), or True with attention dropout."""
    if flash_attention is not None and \
            not isinstance(flash_attention, bool):
        raise ValueError(
            "`flash_attention` must be None, True or False. Received: "
            f"flash_attention={flash_attention!r}"
        )
    if flash_attention and not plain:
        raise ValueError(
            "`flash_attention` cannot be True in an attention that changes "
            "its scores or probabilities (LaS' `decay_max` or `pool_size`, "
            f"or a variant of {class_name} overriding `adjust_scores` or "
            "`adjust_probabilities`): the fused kernel forms no scores to "
            "adjust. Use flash_attention=None or False. Received: "
            "flash_attention=True"
        )
    if flash_attention and attention_dropout > 0:
        raise ValueError(
            "`flash_attention` cannot be True with attention dropout "
            "(the fused kernel has none); use attention_dropout=0 or "
            "flash_attention=None. Received: flash_attention=True, "
            f"attention_dropout={attention_dropout}"
        )


def use_fused_kernel(layer, num_queries, memory_rows):
    """Whether `layer` (a `MemoryAttention`) can run these shapes fused
    here; with `flash_attention=True` where it cannot, a `ValueError`
    naming what is missing."""
    available = fused_attention_available(
        layer.compute_dtype, layer.key_dim, num_queries, memory_rows)
    if layer.flash_attention and not available:
        raise ValueError(
            f"`flash_attention=True` in layer '{layer.name}' needs "
            f"{requirements()}. Received: backend="
            f"{keras.backend.backend()}, compute dtype="
            f"{layer.compute_dtype}, key_dim={layer.key_dim}, segment "
            f"length={num_queries}, memory_length={memory_rows}"
        )
    return available


def fused_relative_attention(offset, keys, values, position, mask, key_dim,
                             compute_dtype):
    """Attention output `(batch, T, heads, key_dim)` from one fused op.

    The default scores of `MemoryAttention`: the content product is the
    kernel's `q . k` (`offset`: queries plus the content bias), the
    shifted position term `(batch, heads, T, K)` and the mask
    `(batch or 1, T, K)` its additive `bias`.
    """
    scale = 1.0 / key_dim ** 0.5
    # The bias stays in the compute dtype: -1e9 would be -inf in float16.
    masked = -3e4 if compute_dtype == "float16" else -1e9
    bias = ops.where(mask[:, None], position * scale, masked)
    return ops.dot_product_attention(
        offset, keys, values, bias=bias, scale=scale, flash_attention=True)
