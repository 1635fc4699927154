"""The token vocabulary every synthetic task shares.

One vocabulary for all tasks, so one model (and one `vocab_size`) runs any
of them:

| ids | tokens | shown as |
|---|---|---|
| 0 | `PAD`: filler between the question and the answer | `_` |
| 1 | `SEP`: the answer follows (copy, reverse) | `\\|` |
| 2 | `QUERY`: the query key follows (retrieval) | `?` |
| 3..12 | the digits 0..9 | `0`..`9` |
| 13..38 | the 26 keys of retrieval | `a`..`z` |

`PAD` is id 0, the id the library's training wrapper feeds for a window
entry of -1, so a padding position and an unscored filler read the same.
"""

import numpy as np

PAD = 0
SEP = 1
QUERY = 2
DIGIT_0 = 3
NUM_DIGITS = 10
KEY_0 = DIGIT_0 + NUM_DIGITS
NUM_KEYS = 26
VOCAB_SIZE = KEY_0 + NUM_KEYS

SYMBOLS = ("_|?" + "".join(str(d) for d in range(NUM_DIGITS))
           + "abcdefghijklmnopqrstuvwxyz")


def render(token_ids):
    """One example's token ids as a string, one character a token.

    >>> render([3, 4, 1, 3, 4])
    '01|01'
    """
    ids = np.asarray(token_ids).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= VOCAB_SIZE):
        raise ValueError(
            f"`token_ids` must lie in [0, {VOCAB_SIZE}). Received: "
            f"token_ids with values in [{ids.min()}, {ids.max()}]"
        )
    return "".join(SYMBOLS[i] for i in ids)
