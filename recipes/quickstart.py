"""Quickstart: train a small memory LM on the Python standard library text.

The text every machine has (the standard library's `.py` files, read as
bytes) is cut into `batch` parallel streams; each step reads the next
segment of every stream with the memory of the previous step.
"""

import argparse
import pathlib
import sysconfig

import keras
import numpy as np
import tensorflow as tf

import keras_lrm


def stdlib_bytes(limit):
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    data = bytearray()
    for path in sorted(root.rglob("*.py")):
        data += path.read_bytes()
        if len(data) >= limit:
            break
    return np.frombuffer(bytes(data[:limit]), dtype=np.uint8).astype("int32")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--segment", type=int, default=64)
    args = parser.parse_args()
    model = keras_lrm.models.MemoryTransformerLM(
        vocab_size=256, num_layers=4, d_model=128, num_heads=4, d_ff=512,
        segment_length=args.segment,
        placement=keras_lrm.Placement("last", 1, 4 * args.segment,
                                      args.segment))
    tokens = stdlib_bytes(args.batch * (args.steps * args.segment + 1))
    streams = tokens.reshape(args.batch, -1)
    optimizer = keras.optimizers.Adam(3e-4, clipnorm=0.25)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=True)
    def train_step(inputs, targets, memory):
        with tf.GradientTape() as tape:
            logits, memory = model.call_with_memory(inputs, memory,
                                                    training=True)
            loss = loss_fn(targets, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, memory

    memory = model.initial_memory(args.batch)
    for step in range(args.steps):
        start = step * args.segment
        window = streams[:, start:start + args.segment + 1]
        loss, memory = train_step(window[:, :-1], window[:, 1:], memory)
        print(f"step {step + 1}/{args.steps} loss {float(loss):.4f} "
              f"({float(loss) / np.log(2):.3f} bits/byte)", flush=True)


if __name__ == "__main__":
    main()
