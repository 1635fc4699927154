"""Generates text from an export (or a .keras model) with streaming memory.

The prompt is read in segments, then every new token is one step with the
memory of the steps before, so each token costs the same however long the
text grows.

    python recipes/generate.py --model saved_models/quickstart \\
        --prompt "def " --max_new_tokens 400 --top_k 40 --seed 0
"""

import argparse
import os

import keras
import tensorflow as tf

from keras_lrm.data import load_tokenizer
from keras_lrm.export.generation import generate_text


def load(path):
    """A loaded export or Keras model, and its tokenizer if it has one."""
    if path.endswith(".keras"):
        model = keras.saving.load_model(path)
        folder = os.path.join(os.path.dirname(path), "tokenizer")
    else:
        model = tf.saved_model.load(path)
        folder = os.path.join(path, "assets")
    has_tokenizer = tf.io.gfile.exists(os.path.join(folder,
                                                    "tokenizer.json"))
    return model, load_tokenizer(folder) if has_tokenizer else None


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="saved_models/quickstart",
                        help="SavedModel folder or .keras file")
    parser.add_argument("--prompt", default="def ")
    parser.add_argument("--max_new_tokens", type=int, default=300)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top_k", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not tf.io.gfile.exists(args.model):
        parser.error(f"--model {args.model!r} does not exist: run "
                     "recipes/quickstart.py first or pass an export.")
    model, tokenizer = load(args.model)
    text = generate_text(model, args.prompt, args.max_new_tokens,
                         tokenizer=tokenizer, temperature=args.temperature,
                         top_k=args.top_k or None, seed=args.seed)
    print(args.prompt + text)
    return text


if __name__ == "__main__":
    main()
