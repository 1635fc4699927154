"""The models of `bench.accelerator.benchmark`, for any Keras 3 backend.

Each builder returns `(forward, variables, initial_memory)` where
`forward(x, y, memory) -> (loss, new_memory)` reads the Keras variables
through whatever scope the caller sets (a `keras.StatelessScope` in the JAX
training step), so one training step serves every model:
  keras_lrm  `MemoryTransformerLM.call_with_memory` + cross-entropy
  xlnet      keras-hub `XLNetEncoder` stack with mems: the CPU peer
             `bench/peers/peer_kerashub_xlnet.py` with `keras.ops` in place of
             `tf.*` (relative positions tiled over the batch, as there)
  plain      the no-memory baseline `bench/peers/peer_keras_plain.py`, too
The work is the CPU benchmark's: post-LN, relu FFN, tied softmax, dropout 0.
"""
import keras
from keras import ops


def _loss(logits, y):
    logits = ops.cast(logits, "float32")
    return ops.mean(ops.sparse_categorical_crossentropy(
        y, logits, from_logits=True))


def _sinusoids(positions, d_model):
    inv_freq = 1.0 / (10000.0 ** (
        ops.arange(0, d_model, 2, dtype="float32") / d_model))
    sinus = ops.einsum("i,d->id", positions, inv_freq)
    return ops.concatenate([ops.sin(sinus), ops.cos(sinus)], -1)[None]


def _tied_logits(h, emb, out_bias):
    table = ops.cast(emb.embeddings, h.dtype)
    return ops.einsum("btd,vd->btv", h, table) + ops.cast(out_bias, h.dtype)


def build_keras_lrm(cfg, lengths):
    import keras_lrm
    model = keras_lrm.models.MemoryTransformerLM(
        vocab_size=cfg["vocab"], num_layers=len(lengths),
        d_model=cfg["d_model"], num_heads=cfg["n_head"], d_ff=cfg["d_inner"],
        segment_length=cfg["tgt_len"], memory_lengths=list(lengths),
        dropout=0.0, tie_embeddings=True)
    memory = model.initial_memory(cfg["batch"])
    model.call_with_memory(ops.zeros((cfg["batch"], cfg["tgt_len"]),
                                     "int32"), memory)

    def forward(x, y, memory):
        logits, new_memory = model.call_with_memory(x, memory, training=True)
        return _loss(logits, y), new_memory

    return forward, model.trainable_variables, memory


def build_xlnet(cfg, mem_len):
    from keras_hub.src.models.xlnet.xlnet_encoder import XLNetEncoder
    B, T, M, D = cfg["batch"], cfg["tgt_len"], mem_len, cfg["d_model"]
    init = keras.initializers.RandomNormal(stddev=0.02)
    emb = keras.layers.Embedding(cfg["vocab"], D, embeddings_initializer=init)
    blocks = [XLNetEncoder(num_heads=cfg["n_head"], hidden_dim=D,
                           head_dim=cfg["d_head"],
                           intermediate_dim=cfg["d_inner"], dropout=0.0,
                           activation="relu", layer_norm_epsilon=1e-12,
                           kernel_initializer_range=0.02, name=f"xl_{i}")
              for i in range(cfg["n_layer"])]
    out_bias = keras.Variable(ops.zeros([cfg["vocab"]]), name="out_bias")
    # [1, T, T+M], 1 = may attend (all mems, causal inside the segment)
    mask = ops.concatenate([ops.ones([T, M]), ops.tril(ops.ones([T, T]))],
                           1)[None]
    pos_1 = _sinusoids(ops.arange(T + M, -1, -1, dtype="float32"), D)

    def forward(x, y, mems):
        h = emb(x)
        pos = ops.cast(ops.tile(pos_1, [B, 1, 1]), h.dtype)
        new_mems = []
        for blk, mem in zip(blocks, mems):
            new_mems.append(ops.stop_gradient(
                ops.concatenate([mem, h], 1)[:, -M:]))
            h, _ = blk(output_content=h,
                       attn_mask_content=ops.cast(mask, h.dtype),
                       attn_mask_query=None, pos_emb=pos, seg_mat=None,
                       mems=mem)
        return _loss(_tied_logits(h, emb, out_bias), y), new_mems

    dtype = keras.config.dtype_policy().compute_dtype
    mems = [ops.zeros([B, M, D], dtype) for _ in blocks]
    forward(ops.zeros((B, T), "int32"), ops.zeros((B, T), "int32"), mems)
    # segment_attention_bias / segment_encoding feed the unused segment term
    variables = [v for v in emb.trainable_variables + [
        w for b in blocks for w in b.trainable_variables]
        if "segment" not in v.path] + [out_bias]
    return forward, variables, mems


class _PlainBlock(keras.layers.Layer):
    def __init__(self, cfg, **kwargs):
        super().__init__(**kwargs)
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.attn = keras.layers.MultiHeadAttention(
            cfg["n_head"], cfg["d_head"], kernel_initializer=init)
        self.ln1 = keras.layers.LayerNormalization(epsilon=1e-12)
        self.ln2 = keras.layers.LayerNormalization(epsilon=1e-12)
        self.ff1 = keras.layers.Dense(cfg["d_inner"], activation="relu",
                                      kernel_initializer=init)
        self.ff2 = keras.layers.Dense(cfg["d_model"], kernel_initializer=init)

    def call(self, h):
        h = self.ln1(h + self.attn(h, h, use_causal_mask=True))
        return self.ln2(h + self.ff2(self.ff1(h)))


def build_plain(cfg):
    B, T, D = cfg["batch"], cfg["tgt_len"], cfg["d_model"]
    init = keras.initializers.RandomNormal(stddev=0.02)
    emb = keras.layers.Embedding(cfg["vocab"], D, embeddings_initializer=init)
    blocks = [_PlainBlock(cfg, name=f"blk_{i}") for i in range(cfg["n_layer"])]
    out_bias = keras.Variable(ops.zeros([cfg["vocab"]]), name="out_bias")
    pos = _sinusoids(ops.arange(T, dtype="float32"), D)

    def forward(x, y, memory):
        h = emb(x)
        h = h * ops.cast(D ** 0.5, h.dtype) + ops.cast(pos, h.dtype)
        for blk in blocks:
            h = blk(h)
        return _loss(_tied_logits(h, emb, out_bias), y), memory

    forward(ops.zeros((B, T), "int32"), ops.zeros((B, T), "int32"), [])
    variables = emb.trainable_variables + [
        w for b in blocks for w in b.trainable_variables] + [out_bias]
    return forward, variables, []
