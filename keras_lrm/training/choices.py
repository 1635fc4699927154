"""The values an `Experiment`'s text-valued fields take.

Apart from the config groups and their checks, which both read them, so
that neither imports the other's module for them (and neither loads
Keras).
"""

from keras_lrm import policies

# The values the text-valued fields take (checked by `experiment_checks`;
# tests check that they are the library's own lists).
CORPORA = ("stdlib", "enwik8", "wikitext103", "pg19", "tiny_shakespeare",
           "text")
# Tokenizers `prepare` makes from a name; a SentencePiece tokenizer needs
# its trained model, so it is passed to `prepare` as an instance.
TOKENIZER_NAMES = ("bytes", "words")
STRATEGIES = ("auto", "tpu", "multiworker", "mirrored", "cpu")
POLICIES = policies.POLICIES
# The floating-point Keras dtype policies by name ("auto" picks one); any
# other floating policy Keras knows is accepted too.
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16",
              "bfloat16", "float16", "float64")
# Keras' `verbose` values (a flag gives them as text).
VERBOSE = ("auto", 0, 1, 2)
# The corpora each corpus option applies to.
MAX_BYTES_CORPORA = ("stdlib", "text")
ALLOW_SHORT_CORPORA = ("enwik8",)
# LaS' forms (keras_lrm.layers.las) and the layers that may get it.
DECAY_FORMS = ("multiplicative", "additive")
POOL_ORDERS = ("after_softmax", "before_softmax")
LAS_LAYERS = ("all", "short", "long")
