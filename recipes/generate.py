"""Generates text from an export (or a .keras model) with streaming memory.

The prompt is read in segments, then every new token is one step with the
memory of the steps before, so each token costs the same however long the
text grows.

    python recipes/generate.py --model saved_models/quickstart \\
        --prompt "def " --max_new_tokens 400 --top_k 40 --seed 0

A missing or damaged --model, or a bad flag value, prints the error and
exits with status 1.
"""

import os

if __name__ == "__main__":
    # Parse the flags (and answer --help) before Keras and TensorFlow load.
    os.environ.setdefault("KERAS_LRM_DEFER_IMPORTS", "1")

import argparse  # noqa: E402

from keras_lrm.errors import run_main


def load(path):
    """A loaded export or Keras model, and its tokenizer if it has one."""
    import tensorflow as tf

    from keras_lrm.data import load_tokenizer
    from keras_lrm.export.loading import load_model

    model = load_model(path)
    if path.endswith(".keras"):
        folder = os.path.join(os.path.dirname(path), "tokenizer")
    else:
        folder = os.path.join(path, "assets")
    has_tokenizer = tf.io.gfile.exists(os.path.join(folder,
                                                    "tokenizer.json"))
    return model, load_tokenizer(folder) if has_tokenizer else None


def main(argv=None):
    """Prints the prompt and its continuation; returns the continuation.

    Raises `FileNotFoundError` or `ValueError` (naming the flag or file)
    for a user's error; the command line prints it and exits 1.
    """
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="saved_models/quickstart",
                        help="export folder (from export_saved_model or "
                             "a recipe's --export_dir) or .keras file; "
                             "default %(default)s")
    parser.add_argument("--prompt", default="def ",
                        help="text to continue (at least one byte); "
                             "default %(default)r")
    parser.add_argument("--max_new_tokens", type=int, default=300,
                        help="tokens to generate, >= 1; default "
                             "%(default)s")
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="softmax temperature >= 0; 0 picks the most "
                             "likely token; default %(default)s")
    parser.add_argument("--top_k", type=int, default=40,
                        help="sample among the k most likely tokens; 0 "
                             "samples from every token (as top_k=0 or "
                             "None in generate); default %(default)s")
    parser.add_argument("--top_p", type=float, default=None,
                        help="sample within the smallest set of tokens "
                             "whose probability reaches p, in (0, 1]; "
                             "default: not used")
    parser.add_argument("--seed", type=int, default=0,
                        help="sampler seed, >= 0; default %(default)s")
    args = parser.parse_args(argv)
    import tensorflow as tf

    if not tf.io.gfile.exists(args.model):
        raise FileNotFoundError(
            f"--model {args.model!r} does not exist: run "
            "recipes/quickstart.py first, or pass an export folder or a "
            f".keras file. Received: model={args.model!r}")
    from keras_lrm.export.generation import generate_text

    model, tokenizer = load(args.model)
    text = generate_text(model, args.prompt, args.max_new_tokens,
                         tokenizer=tokenizer, temperature=args.temperature,
                         top_k=args.top_k, top_p=args.top_p,
                         seed=args.seed)
    print(args.prompt + text)
    return text


if __name__ == "__main__":
    run_main(main)
