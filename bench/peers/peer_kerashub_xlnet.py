# Copied from the company peer-benchmark harness
# (shared/bench/peers/peer_kerashub_xlnet.py, 2026-11-22); see
# bench/README.md for what was adapted.
"""Peer (b): keras-hub XLNet relative-attention stack with mems, Keras 3 on
the TensorFlow backend.

keras_hub.models.XLNetBackbone's public inputs are token_ids / padding_mask /
segment_ids only (no mems), so this stacks its encoder layer
keras_hub.src.models.xlnet.xlnet_encoder.XLNetEncoder (which wraps
TwoStreamRelativeAttention and does accept `mems`), content stream only, no
segment term, relu FFN, post-LN.  Mems: the input of each layer, last M
positions, stop_gradient, carried step to step (the Transformer-XL rule).
Relative positions: klen..0 (klen+1 rows) tiled over the batch, the same as
peer (a).  Training step: tf.GradientTape inside tf.function with or without
jit_compile, keras.optimizers.Adam.
"""
import os

from bench.peers import harness

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def main():
    p = harness.common_argparser("keras-hub XLNetEncoder stack with mems")
    p.add_argument("--jit", type=int, default=1)
    args = p.parse_args()

    import keras
    import keras_hub
    import tensorflow as tf
    from keras import ops
    from keras_hub.src.models.xlnet.xlnet_encoder import XLNetEncoder

    keras.utils.set_random_seed(args.seed)
    B, T, M, D = args.batch, args.tgt_len, args.mem_len, args.d_model
    klen = T + M
    init = keras.initializers.RandomNormal(stddev=0.02)

    emb = keras.layers.Embedding(args.vocab, D, embeddings_initializer=init)
    blocks = [XLNetEncoder(num_heads=args.n_head, hidden_dim=D,
                           head_dim=args.d_head, intermediate_dim=args.d_inner,
                           dropout=0.0, activation="relu",
                           layer_norm_epsilon=1e-12,
                           kernel_initializer_range=0.02, name=f"xl_{i}")
              for i in range(args.n_layer)]
    out_bias = keras.Variable(ops.zeros([args.vocab]), name="out_bias")
    opt = keras.optimizers.Adam(learning_rate=args.lr)

    # [1, T, T+M], 1 = may attend (all mems, causal inside the segment)
    seg_causal = tf.linalg.band_part(tf.ones([T, T]), -1, 0)
    mask = tf.concat([tf.ones([T, M]), seg_causal], 1)[None]
    inv_freq = 1.0 / (10000.0 ** (tf.range(0, D, 2.0) / D))
    pos_seq = tf.range(klen, -1, -1.0)
    sinus = tf.einsum("i,d->id", pos_seq, inv_freq)
    # [1, klen+1, D]
    pos_1 = tf.concat([tf.sin(sinus), tf.cos(sinus)], -1)[None]

    def forward(x, y, mems):
        h = emb(x)
        pos = tf.tile(pos_1, [B, 1, 1])
        new_mems = []
        for blk, mem in zip(blocks, mems):
            new_mems.append(tf.stop_gradient(tf.concat([mem, h], 1)[:, -M:]))
            h, _ = blk(output_content=h, attn_mask_content=mask,
                       attn_mask_query=None, pos_emb=pos, seg_mat=None,
                       mems=mem)
        logits = tf.einsum("btd,vd->btv", h, emb.embeddings) + out_bias
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y, logits=logits))
        return loss, new_mems

    segs = harness.tf_segments(tf, B, T, args.vocab, args.seed)
    mems0 = [tf.zeros([B, M, D]) for _ in range(args.n_layer)]
    forward(segs[0][0], segs[0][1], mems0)  # build
    # segment_attention_bias / segment_encoding feed XLNet's segment term only
    tvars = [v for v in emb.trainable_variables +
             [w for b in blocks for w in b.trainable_variables]
             if "segment" not in v.path] + [out_bias]
    opt.build(tvars)
    n_params = int(sum(int(tf.size(v)) for v in tvars))

    step = harness.carried_memory_step(tf, forward, tvars, opt, segs, mems0,
                                       args.jit)

    info = dict(peer="kerashub_xlnet" + ("_xla" if args.jit else "_graph"),
                tf=tf.__version__, keras=keras.__version__,
                keras_hub=keras_hub.__version__, params=n_params,
                batch=B, tgt_len=T, mem_len=M)
    harness.main_loop(step, info, args)


if __name__ == "__main__":
    main()
