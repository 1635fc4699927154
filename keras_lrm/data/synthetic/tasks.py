"""What a synthetic task is: its kind, its size and its segments."""

import dataclasses

from keras_lrm.arguments import check_positive
from keras_lrm.data.synthetic.vocabulary import NUM_KEYS

KINDS = ("copy", "reverse", "retrieval")


@dataclasses.dataclass(frozen=True)
class SyntheticTask:
    """One algorithmic task laid out over `num_segments` segments.

    An example is one window of `num_segments * segment_length + 1`
    tokens (the library's LM windows: inputs `[:-1]`, next-token targets
    `[1:]`), the question at its start and the answer at its end, `PAD`
    filling the gap, so the answer is as far from the question as the
    window allows:

    - copy: `length` digits, `PAD`s, `SEP`, the digits again `repeats`
      times (the answer);
    - reverse: `length` digits, `PAD`s, `SEP`, the digits reversed,
      `repeats` times;
    - retrieval: `length` pairs of a key and a digit (distinct keys),
      `PAD`s, `QUERY`, one of the keys, and its digit (the answer, one
      token).

    Args:
        kind: "copy", "reverse" or "retrieval".
        length: digits of the source (copy, reverse) or key-value pairs
            (retrieval, at most 26).
        num_segments: `K`, segments a model reads per example.
        segment_length: `S`, tokens per segment.
        repeats: copies of the answer (copy and reverse; the reference
            copy task writes the source twice). 1 for retrieval.

    Raises:
        ValueError: an argument of the wrong type or range, or a task that
            does not fit in `num_segments * segment_length + 1` tokens.

    Example:

    >>> task = SyntheticTask("reverse", 24, num_segments=6, segment_length=8)
    >>> task.window_length, task.answer_start, task.answer_length
    (49, 25, 24)
    """

    kind: str
    length: int
    num_segments: int
    segment_length: int
    repeats: int = 1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(
                f"`kind` must be one of {KINDS}. Received: "
                f"kind={self.kind!r}"
            )
        for name in ("length", "num_segments", "segment_length", "repeats"):
            object.__setattr__(self, name,
                               check_positive(name, getattr(self, name)))
        if self.kind == "retrieval" and self.length > NUM_KEYS:
            raise ValueError(
                f"`length` (key-value pairs) must be <= {NUM_KEYS}, the "
                f"number of keys, for task 'retrieval'. Received: "
                f"length={self.length}"
            )
        if self.kind == "retrieval" and self.repeats != 1:
            raise ValueError(
                "`repeats` must be 1 for task 'retrieval' (one answer "
                f"token). Received: repeats={self.repeats}"
            )
        if self.needed_tokens > self.window_length:
            raise ValueError(
                f"`length` does not fit: task {self.kind!r} of length "
                f"{self.length} (repeats {self.repeats}) needs windows of "
                f"{self.needed_tokens} tokens, but num_segments * "
                f"segment_length + 1 = {self.window_length}. Received: "
                f"length={self.length}, num_segments={self.num_segments}, "
                f"segment_length={self.segment_length}"
            )

    @property
    def total_length(self):
        """`K * S`: input (and target) tokens of an example."""
        return self.num_segments * self.segment_length

    @property
    def window_length(self):
        """`K * S + 1`: tokens of an example's window."""
        return self.total_length + 1

    @property
    def question_length(self):
        """Tokens before the gap: the digits, or the key-value pairs."""
        return self.length * (2 if self.kind == "retrieval" else 1)

    @property
    def answer_length(self):
        """Scored tokens per example (they end the window)."""
        if self.kind == "retrieval":
            return 1
        return self.length * self.repeats

    @property
    def needed_tokens(self):
        """The shortest window that holds the task (no `PAD`)."""
        # copy/reverse: digits, SEP, answer; retrieval: pairs, QUERY, key,
        # answer.
        marker = 2 if self.kind == "retrieval" else 1
        return self.question_length + marker + self.answer_length

    @property
    def answer_start(self):
        """Window index of the first answer token."""
        return self.window_length - self.answer_length


# The reference sizes (booydar/LM-RMT's run scripts: tgt_len = the whole
# example, answer_size = the scored tail): copy writes the source twice.
PRESETS = {
    "copy24": SyntheticTask("copy", 24, 6, 12, repeats=2),
    "copy120": SyntheticTask("copy", 120, 9, 40, repeats=2),
    "copy240": SyntheticTask("copy", 240, 6, 120, repeats=2),
    "reverse24": SyntheticTask("reverse", 24, 6, 8),
    "reverse120": SyntheticTask("reverse", 120, 6, 40),
    "retrieval8": SyntheticTask("retrieval", 8, 3, 6),
    "retrieval24": SyntheticTask("retrieval", 24, 5, 10),
}


def longest_length(kind, num_segments, segment_length, repeats=1):
    """The longest `length` of task `kind` that fits in K segments of S.

    The presets are the longest tasks of their segments: copy of
    `K * S / (1 + repeats)` digits, reverse of `K * S / 2`, retrieval of
    `(K * S - 2) / 2` pairs (at most 26).

    >>> longest_length("copy", 6, 12, repeats=2)
    24
    """
    if kind not in KINDS:
        raise ValueError(
            f"`kind` must be one of {KINDS}. Received: kind={kind!r}"
        )
    total = (check_positive("num_segments", num_segments)
             * check_positive("segment_length", segment_length))
    if kind == "retrieval":
        length = min(NUM_KEYS, (total - 2) // 2)
    else:
        length = total // (1 + check_positive("repeats", repeats))
    if length < 1:
        raise ValueError(
            f"`num_segments` * `segment_length` = {total} tokens hold no "
            f"task {kind!r}. Received: num_segments={num_segments}, "
            f"segment_length={segment_length}"
        )
    return length


def get_task(task, length=None, num_segments=None, segment_length=None,
             repeats=None, fill=False):
    """A `SyntheticTask` from a preset or a kind, with fields overridden.

    Args:
        task: a preset name (`PRESETS`: "copy24", "copy120", "copy240",
            "reverse24", "reverse120", "retrieval8", "retrieval24"), a kind
            ("copy", "reverse", "retrieval": then `num_segments`,
            `segment_length` and `length` (or `fill`) are required) or a
            `SyntheticTask`.
        length, num_segments, segment_length, repeats: override the
            preset's (None keeps it). Overriding `num_segments` or
            `segment_length` alone keeps the task and moves the answer to
            the new window's end.
        fill: make `length` the longest that fits the segments
            (`longest_length`), so the task grows with `num_segments`:
            accuracy against the number of segments at a fixed segment
            length. `length` must then be None.

    Returns:
        The checked `SyntheticTask`.

    Example:

    >>> get_task("copy24", num_segments=9, segment_length=8).length
    24
    >>> get_task("copy24", num_segments=3, fill=True).length  # 3 x 12
    12
    """
    if fill and length is not None:
        raise ValueError(
            "`length` must be None with fill=True (the longest length that "
            f"fits is used). Received: length={length!r}"
        )
    changes = {key: value for key, value in (
        ("length", length), ("num_segments", num_segments),
        ("segment_length", segment_length), ("repeats", repeats))
        if value is not None}
    if isinstance(task, SyntheticTask):
        fields = dataclasses.asdict(task)
    elif isinstance(task, str) and task in PRESETS:
        fields = dataclasses.asdict(PRESETS[task])
    elif not isinstance(task, str) or task not in KINDS:
        raise ValueError(
            f"`task` must be one of {KINDS}, a preset name "
            f"{tuple(PRESETS)} or a SyntheticTask. Received: task={task!r}"
        )
    else:
        required = ("num_segments", "segment_length") + (
            () if fill else ("length",))
        for name in required:
            if name not in changes:
                raise ValueError(
                    f"`{name}` is required for task {task!r} (a kind, not "
                    f"a preset). Received: {name}=None"
                )
        fields = {"kind": task, "repeats": 1}
    fields.update(changes)
    if fill:
        fields["length"] = longest_length(
            fields["kind"], fields["num_segments"], fields["segment_length"],
            fields["repeats"])
    return SyntheticTask(**fields)
