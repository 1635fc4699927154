# Copied from the company peer-benchmark harness
# (shared/bench/peers/peer_tfmg_txl.py, 2026-11-22); see bench/README.md for
# what was adapted.
"""Peer (a): TensorFlow Model Garden Transformer-XL
(official.nlp.modeling.layers.TransformerXL, tf-models-official, tf_keras)
trained with mems carried step to step, inside tf.function, with or without
jit_compile=True.

Model: tied embedding (vocab 256) -> TransformerXL (post-LN, relu FFN,
tied r_w/r_r biases, memory_length=M at every layer) -> tied softmax, Adam.
Relative positions are the uni-directional ones that XLNetBase uses for
attn_type="uni": klen, klen-1, ..., 0 (klen+1 rows), tiled over the batch as
the library requires.
"""
from bench.peers import harness


def main():
    p = harness.common_argparser("TF Model Garden TransformerXL")
    p.add_argument("--jit", type=int, default=1)
    args = p.parse_args()

    import official
    import tensorflow as tf
    import tf_keras
    from official.nlp.modeling import layers as nlp_layers
    from official.nlp.modeling.networks import xlnet_base

    tf.random.set_seed(args.seed)
    B, T, M, D = args.batch, args.tgt_len, args.mem_len, args.d_model
    init = tf_keras.initializers.RandomNormal(stddev=0.02)

    emb = tf_keras.layers.Embedding(args.vocab, D, embeddings_initializer=init)
    txl = nlp_layers.TransformerXL(
        vocab_size=args.vocab, num_layers=args.n_layer, hidden_size=D,
        num_attention_heads=args.n_head, head_size=args.d_head,
        inner_size=args.d_inner, dropout_rate=0.0, attention_dropout_rate=0.0,
        initializer=init, two_stream=False, tie_attention_biases=True,
        memory_length=M, reuse_length=0, inner_activation="relu")
    pos_layer = xlnet_base.RelativePositionEncoding(D)
    out_bias = tf.Variable(tf.zeros([args.vocab]), name="out_bias")
    opt = tf_keras.optimizers.Adam(learning_rate=args.lr)

    klen = T + M
    # [T, T+M], 1 = may attend (mems always, segment causally)
    mask = xlnet_base._create_causal_attention_mask(T, M)[None]
    pos_seq = tf.range(klen, -1, -1.0)  # klen+1 relative distances

    def forward(x, y, mems):
        h = emb(x)
        pos = pos_layer(pos_seq, B)
        out, new_mems = txl(content_stream=h, relative_position_encoding=pos,
                            state=mems, content_attention_mask=mask)
        logits = tf.einsum("btd,vd->btv", out, emb.embeddings) + out_bias
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y, logits=logits))
        return loss, new_mems

    segs = harness.tf_segments(tf, B, T, args.vocab, args.seed)
    mems0 = [tf.zeros([B, M, D]) for _ in range(args.n_layer)]
    forward(segs[0][0], segs[0][1], mems0)  # build variables eagerly
    # segment_attention_bias is only used by XLNet's segment term: it gets no
    # gradient in plain Transformer-XL, so leave it out of the update.
    tvars = [v for v in emb.trainable_variables + txl.trainable_variables
             if "segment_attention_bias" not in v.name] + [out_bias]
    opt.build(tvars)
    n_params = int(sum(v.shape.num_elements() for v in tvars))

    step = harness.carried_memory_step(tf, forward, tvars, opt, segs, mems0,
                                       args.jit)

    info = dict(peer="tfmg_txl" + ("_xla" if args.jit else "_graph"),
                tf=tf.__version__, tf_keras=tf_keras.__version__,
                models=getattr(official, "__version__", "2.20.0"),
                intra=tf.config.threading.get_intra_op_parallelism_threads(),
                inter=tf.config.threading.get_inter_op_parallelism_threads(),
                params=n_params, batch=B, tgt_len=T, mem_len=M)
    harness.main_loop(step, info, args)


if __name__ == "__main__":
    main()
