"""How many answers a model predicts exactly."""

import numpy as np


def answer_accuracy(logits, windows):
    """The accuracy of greedy predictions on the scored (answer) tokens.

    Args:
        logits: float `(batch, T, vocab)` next-token logits of the inputs
            `token_ids` of `windows` (teacher forcing: one call on the
            whole example), or int `(batch, T)` predicted ids.
        windows: the signed `(batch, T + 1)` windows the inputs came from
            (`dataset`, `SyntheticExamples.windows`).

    Returns:
        A dict of Python floats: `"token_accuracy"`, the fraction of
        answer tokens predicted exactly; `"answer_accuracy"`, the fraction
        of examples whose whole answer is; `"num_tokens"`, `"num_answers"`
        (counts, to weight an average over batches).

    Example:

    >>> logits, _ = lm.call_segments(token_ids, lm.initial_memory(32))
    >>> answer_accuracy(logits, windows)["answer_accuracy"]
    """
    windows = np.asarray(windows)
    if windows.ndim != 2 or not np.issubdtype(windows.dtype, np.integer):
        raise ValueError(
            "`windows` must be int windows of shape (batch, T + 1). "
            f"Received: windows of shape {windows.shape} and dtype "
            f"{windows.dtype}"
        )
    predictions = np.asarray(logits)
    expected = windows.shape[:1] + (windows.shape[1] - 1,)
    if predictions.ndim == 3:
        predictions = predictions.argmax(axis=-1)
    if predictions.shape != expected:
        raise ValueError(
            f"`logits` must have shape {expected + ('vocab',)} (or "
            f"{expected} predicted ids) for windows of shape "
            f"{windows.shape}. Received: logits of shape "
            f"{np.shape(logits)}"
        )
    following = windows[:, 1:]
    scored = following >= 0
    correct = (predictions == following) & scored
    answered = scored.any(axis=1)
    whole = (correct == scored).all(axis=1) & answered
    num_tokens = int(scored.sum())
    num_answers = int(answered.sum())
    return {
        "token_accuracy": float(correct.sum() / max(num_tokens, 1)),
        "answer_accuracy": float(whole.sum() / max(num_answers, 1)),
        "num_tokens": num_tokens,
        "num_answers": num_answers,
    }
