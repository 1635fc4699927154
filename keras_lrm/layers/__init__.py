"""Memory-augmented transformer layers."""

from keras_lrm.layers.memory_attention import MemoryAttention
from keras_lrm.layers.memory_block import MemoryBlock
from keras_lrm.layers.memory_stack import MemoryStack
from keras_lrm.layers.relative_position import relative_shift
from keras_lrm.layers.relative_position import sinusoid_table
from keras_lrm.layers.token_embedding import TokenEmbedding

__all__ = [
    "MemoryAttention",
    "MemoryBlock",
    "MemoryStack",
    "TokenEmbedding",
    "relative_shift",
    "sinusoid_table",
]
