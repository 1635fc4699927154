"""Examples of a synthetic task, generated from a seed with NumPy."""

import dataclasses

import numpy as np

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive
from keras_lrm.data.synthetic.tasks import get_task
from keras_lrm.data.synthetic.vocabulary import DIGIT_0
from keras_lrm.data.synthetic.vocabulary import KEY_0
from keras_lrm.data.synthetic.vocabulary import NUM_DIGITS
from keras_lrm.data.synthetic.vocabulary import NUM_KEYS
from keras_lrm.data.synthetic.vocabulary import PAD
from keras_lrm.data.synthetic.vocabulary import QUERY
from keras_lrm.data.synthetic.vocabulary import SEP


@dataclasses.dataclass(frozen=True)
class SyntheticExamples:
    """Generated examples: the tokens and the scored targets.

    Attributes:
        task: the `SyntheticTask`.
        tokens: int32 `(n, K * S + 1)`, every token of each example.
        targets: int32 `(n, K * S)`, `tokens[:, 1:]` at the answer
            positions and -1 elsewhere (not scored).
    """

    task: object
    tokens: np.ndarray
    targets: np.ndarray

    @property
    def windows(self):
        """The examples as one int32 `(n, K * S + 1)` array, signed.

        An entry `w >= 0` is token `w`, scored as a target; `w < 0` is
        token `-w - 1`, read as input but not scored. So -1 is `PAD` not
        scored, the library's padding convention, and the sign carries the
        loss mask in the one tensor a batch is under every strategy (a
        token is both the input after it and the target before it, so a
        plain -1 could not hide a target without hiding the input).
        `split_windows` gives back `(token_ids, targets)`.
        """
        scored = np.zeros(self.tokens.shape, bool)
        scored[:, 1:] = self.targets >= 0
        return np.where(scored, self.tokens, -self.tokens - 1).astype(
            np.int32)

    @property
    def answers(self):
        """int32 `(n, answer_length)`: the answer tokens of each example."""
        return self.tokens[:, self.task.answer_start:]


def generate(task, num_examples, seed, **overrides):
    """`num_examples` examples of `task`, the same for the same seed.

    Args:
        task: a preset name, a kind or a `SyntheticTask` (see `get_task`).
        num_examples: examples to generate.
        seed: integer >= 0; the examples depend on nothing else (NumPy's
            PCG64 generator). Use different seeds for training and
            evaluation sets.
        **overrides: `length`, `num_segments`, `segment_length`, `repeats`,
            `fill` (see `get_task`).

    Returns:
        `SyntheticExamples`.

    Example:

    >>> examples = generate("copy24", 4, seed=0)
    >>> examples.tokens.shape, examples.targets.shape
    ((4, 73), (4, 72))
    """
    task = get_task(task, **overrides)
    num_examples = check_positive("num_examples", num_examples)
    seed = check_non_negative("seed", seed)
    rng = np.random.default_rng(seed)
    n, width = num_examples, task.window_length
    tokens = np.full((n, width), PAD, np.int32)
    if task.kind == "retrieval":
        pairs = task.length
        # Distinct keys per example: the first `pairs` of a permutation.
        keys = np.argsort(rng.random((n, NUM_KEYS)), axis=1)[:, :pairs]
        values = rng.integers(0, NUM_DIGITS, (n, pairs))
        query = rng.integers(0, pairs, n)
        rows = np.arange(n)
        tokens[:, 0:2 * pairs:2] = KEY_0 + keys
        tokens[:, 1:2 * pairs:2] = DIGIT_0 + values
        tokens[:, -3] = QUERY
        tokens[:, -2] = KEY_0 + keys[rows, query]
        tokens[:, -1] = DIGIT_0 + values[rows, query]
    else:
        source = DIGIT_0 + rng.integers(0, NUM_DIGITS, (n, task.length))
        answer = source if task.kind == "copy" else source[:, ::-1]
        tokens[:, :task.length] = source
        tokens[:, task.answer_start - 1] = SEP
        tokens[:, task.answer_start:] = np.tile(answer, (1, task.repeats))
    targets = np.full((n, width - 1), -1, np.int32)
    start = task.answer_start
    targets[:, start - 1:] = tokens[:, start:]
    return SyntheticExamples(task, tokens, targets)
