# Copied from the company peer-benchmark harness
# (shared/bench/peers/peer_keras_plain.py, 2026-11-22); see bench/README.md for
# what was adapted.
"""Peer (d): plain baseline, no memory.  The same 6-layer post-LN transformer
(d_model 256, 4 heads x 64, FFN 1024 relu, tied softmax over 256 chars) with
standard causal self-attention over the 128-token segment only and absolute
sinusoidal positions.  Keras 3 on the TensorFlow backend, tf.GradientTape in
tf.function with or without jit_compile, keras.optimizers.Adam.
It is a lower bound on what one segment costs: a memory transformer does the
same work plus K/V over the mems, attention over klen = T + M and the
relative-position term.
"""
import os

from bench.peers import harness

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def main():
    p = harness.common_argparser("plain causal transformer, no memory")
    p.add_argument("--jit", type=int, default=1)
    args = p.parse_args()

    import keras
    import tensorflow as tf
    from keras import layers

    keras.utils.set_random_seed(args.seed)
    B, T, D = args.batch, args.tgt_len, args.d_model
    init = keras.initializers.RandomNormal(stddev=0.02)

    class Block(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.attn = layers.MultiHeadAttention(
                args.n_head, args.d_head, kernel_initializer=init)
            self.ln1 = layers.LayerNormalization(epsilon=1e-12)
            self.ln2 = layers.LayerNormalization(epsilon=1e-12)
            self.ff1 = layers.Dense(args.d_inner, activation="relu",
                                    kernel_initializer=init)
            self.ff2 = layers.Dense(D, kernel_initializer=init)

        def call(self, h):
            h = self.ln1(h + self.attn(h, h, use_causal_mask=True))
            return self.ln2(h + self.ff2(self.ff1(h)))

    emb = layers.Embedding(args.vocab, D, embeddings_initializer=init)
    blocks = [Block(name=f"blk_{i}") for i in range(args.n_layer)]
    out_bias = keras.Variable(keras.ops.zeros([args.vocab]), name="out_bias")
    opt = keras.optimizers.Adam(learning_rate=args.lr)
    inv_freq = 1.0 / (10000.0 ** (tf.range(0, D, 2.0) / D))
    sinus = tf.einsum("i,d->id", tf.range(T, dtype=tf.float32), inv_freq)
    pos = tf.concat([tf.sin(sinus), tf.cos(sinus)], -1)[None]

    def forward(x, y):
        h = emb(x) * (D ** 0.5) + pos
        for blk in blocks:
            h = blk(h)
        logits = tf.einsum("btd,vd->btv", h, emb.embeddings) + out_bias
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y, logits=logits))

    segs = harness.tf_segments(tf, B, T, args.vocab, args.seed)
    forward(*segs[0])  # build
    tvars = emb.trainable_variables + [
        w for b in blocks for w in b.trainable_variables] + [out_bias]
    opt.build(tvars)
    n_params = int(sum(int(tf.size(v)) for v in tvars))

    @tf.function(jit_compile=bool(args.jit))
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = forward(x, y)
        opt.apply_gradients(zip(tape.gradient(loss, tvars), tvars))
        return loss

    state = {"i": 0}

    def step():
        x, y = segs[state["i"] % 16]
        state["i"] += 1
        return float(train_step(x, y).numpy())

    info = dict(peer="keras_plain_nomem" + ("_xla" if args.jit else "_graph"),
                tf=tf.__version__, keras=keras.__version__, params=n_params,
                batch=B, tgt_len=T, mem_len=0)
    harness.main_loop(step, info, args)


if __name__ == "__main__":
    main()
