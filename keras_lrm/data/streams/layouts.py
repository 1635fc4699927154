"""How a split is cut into `batch_size` rows of `segment_length` windows:
Transformer-XL's training layout, and the evaluation layout that predicts
every token once."""

import dataclasses
import math

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import check_positive


@dataclasses.dataclass(frozen=True)
class StreamLayout:
    """How a split is cut into rows and windows.

    Attributes:
        batch_size: rows (parallel streams).
        segment_length: `T`, tokens per window.
        row_length: tokens each row starts apart.
        row_targets: predicted tokens per row, `[targets_b, ...]` (eval
            rows may hold fewer than `row_length`, the rest weighted 0).
        num_windows: windows per row in one pass.
    """

    batch_size: int
    segment_length: int
    row_length: int
    row_targets: tuple
    num_windows: int


def train_layout(num_tokens, batch_size, segment_length, bptt_segments=1):
    """Transformer-XL training layout: equal rows, remainder dropped.

    Each of the `batch_size` rows is `num_tokens // batch_size` tokens;
    a row yields `(row_length - 1) // T` full windows of
    `T = bptt_segments * segment_length` tokens (each reads one token past
    its end for the last target), so a batch is `(batch_size, T + 1)`:
    `bptt_segments` consecutive segments per row, for a model that reads
    them in order within one step (`StatefulLM(bptt_segments=K)`). The
    layout's `segment_length` is the window, `T`.
    """
    check_non_negative("num_tokens", num_tokens)
    check_positive("batch_size", batch_size)
    check_positive("segment_length", segment_length)
    segment_length *= check_positive("bptt_segments", bptt_segments)
    row_length = num_tokens // batch_size
    windows = (row_length - 1) // segment_length if row_length else 0
    if windows < 1:
        raise ValueError(
            f"The split ({num_tokens} tokens) is too short for "
            f"`batch_size` x `segment_length`: need more than "
            f"{batch_size * (segment_length + 1)} tokens. Received: "
            f"batch_size={batch_size}, segment_length="
            f"{segment_length // bptt_segments}"
            + (f", bptt_segments={bptt_segments}" if bptt_segments > 1
               else "")
        )
    return StreamLayout(batch_size, segment_length, row_length,
                        (windows * segment_length,) * batch_size, windows)


def eval_layout(num_tokens, batch_size, segment_length):
    """Evaluation layout: every token after the first predicted once.

    The `num_tokens - 1` targets are split into `batch_size` rows of
    `ceil((num_tokens - 1) / batch_size)`; the last windows of short rows
    are padded and weighted 0.
    """
    check_non_negative("num_tokens", num_tokens)
    check_positive("batch_size", batch_size)
    check_positive("segment_length", segment_length)
    predictions = num_tokens - 1
    if predictions < 1:
        raise ValueError(
            "Evaluation needs at least 2 tokens. Received: "
            f"num_tokens={num_tokens}"
        )
    row_length = math.ceil(predictions / batch_size)
    targets = tuple(max(0, min(row_length, predictions - b * row_length))
                    for b in range(batch_size))
    windows = math.ceil(row_length / segment_length)
    return StreamLayout(batch_size, segment_length, row_length, targets,
                        windows)
