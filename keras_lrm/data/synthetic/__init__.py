"""The algorithmic long-range tasks of the Recurrent Memory Transformer.

Copy, reverse and associative retrieval (Bulatov et al., 2022, after
booydar/LM-RMT), generated offline and deterministically from a seed. An
example is one window of `num_segments * segment_length + 1` tokens, the
library's LM window (inputs `[:, :-1]`, targets `[:, 1:]`): the question
at its start, `PAD` filling the gap, the answer ending it, so a model that
reads the window segment by segment must carry the question across
segments. Only the answer tokens are scored.

>>> task = get_task("copy24")            # 24 digits, 6 segments of 12
>>> examples = generate(task, 1000, seed=0)    # NumPy: tokens, targets
>>> render(generate("copy", 1, seed=0, length=5, num_segments=3,
...                 segment_length=5).tokens[0])
'86523_____|86523'
>>> train = dataset("copy24", 10_000, seed=1, batch_size=32, repeat=True)
>>> token_ids, targets = split_windows(next(iter(train)))  # -1: not scored
>>> answer_accuracy(logits, windows)      # token and whole-answer accuracy

A batch is one signed int32 tensor (see `SyntheticExamples.windows`): the
sign of an entry says whether its target is scored, so the loss mask
travels in the one tensor a batch is under every strategy.

Presets (`PRESETS`) are the reference sizes: `copy24` (6 segments of 12;
override `num_segments=9, segment_length=8` for 9), `copy120` (9 of 40),
`copy240` (6 of 120), `reverse24`, `reverse120`, `retrieval8`,
`retrieval24`, each the longest task of its segments; `fill=True` keeps
that as `num_segments` changes (`get_task("copy24", num_segments=3,
fill=True)` is a copy of 12 digits). The vocabulary (`VOCAB_SIZE` tokens)
is in `vocabulary`.
"""

from keras_lrm.data.synthetic.accuracy import answer_accuracy
from keras_lrm.data.synthetic.generation import SyntheticExamples
from keras_lrm.data.synthetic.generation import generate
from keras_lrm.data.synthetic.pipeline import dataset
from keras_lrm.data.synthetic.pipeline import split_windows
from keras_lrm.data.synthetic.tasks import KINDS
from keras_lrm.data.synthetic.tasks import PRESETS
from keras_lrm.data.synthetic.tasks import SyntheticTask
from keras_lrm.data.synthetic.tasks import get_task
from keras_lrm.data.synthetic.tasks import longest_length
from keras_lrm.data.synthetic.vocabulary import DIGIT_0
from keras_lrm.data.synthetic.vocabulary import KEY_0
from keras_lrm.data.synthetic.vocabulary import PAD
from keras_lrm.data.synthetic.vocabulary import QUERY
from keras_lrm.data.synthetic.vocabulary import SEP
from keras_lrm.data.synthetic.vocabulary import VOCAB_SIZE
from keras_lrm.data.synthetic.vocabulary import render

__all__ = [
    "DIGIT_0",
    "KEY_0",
    "KINDS",
    "PAD",
    "PRESETS",
    "QUERY",
    "SEP",
    "VOCAB_SIZE",
    "SyntheticExamples",
    "SyntheticTask",
    "answer_accuracy",
    "dataset",
    "generate",
    "get_task",
    "longest_length",
    "render",
    "split_windows",
]
