"""The Transformer-XL evaluation protocol: the whole stream, in order."""

import math

import tensorflow as tf

from keras_lrm.arguments import check_positive
from keras_lrm.data.streams.distribution import distribute_streams
from keras_lrm.data.streams.layouts import eval_layout
from keras_lrm.data.streams.source import StreamSource
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.training.progress import RunProgress
from keras_lrm.training.stateful_lm import StatefulLM


def evaluate_stream(lm, source, batch_size=1, segment_length=None,
                    memory_lengths=None, max_tokens=None, jit_compile=True,
                    verbose="auto"):
    """Mean cross-entropy of `lm` over a split, every token once.

    The split (or its first `max_tokens` tokens) is read as `batch_size`
    parallel streams in order, memory carried from window to window; the
    first token of the split is context only, every later token is
    predicted exactly once, and padding at the end of short rows has
    weight 0. Call it inside the scope of the strategy to run under.

    Args:
        lm: a `MemoryTransformerLM`.
        source: `keras_lrm.data.streams.StreamSource` of the split.
        batch_size: parallel streams (1 gives every token the longest
            context; more is faster).
        segment_length: tokens per step (default `lm.segment_length`);
            with memory tokens, a multiple of `lm.segment_length` (they
            are read and written once per model segment).
        memory_lengths: evaluate with other memory lengths (a `Placement`
            or per-layer list), e.g. longer than in training.
        max_tokens: evaluate the first `max_tokens` tokens only.
        jit_compile: compile the step with XLA.
        verbose: 0 (quiet), 1 (a bar rewritten in place), 2 (a plain line
            every tenth of the windows) or "auto" (1 in a terminal or a
            notebook, else 2). Either says when it is compiling.

    Returns:
        Dict with `nll` (nats per token), `bits_per_token`, `perplexity`
        and `tokens` (predicted tokens).

    Raises:
        ValueError: an argument of the wrong type or range (named).
    """
    if not isinstance(lm, MemoryTransformerLM):
        raise ValueError(
            "`lm` must be a keras_lrm MemoryTransformerLM. Received: "
            f"lm={lm!r}"
        )
    if not isinstance(source, StreamSource):
        raise ValueError(
            "`source` must be a keras_lrm.data.streams.StreamSource (e.g. "
            "`StreamSource.from_manifest(manifest, 'valid')`). Received: "
            f"source={source!r}"
        )
    check_positive("batch_size", batch_size)
    if segment_length is not None:
        check_positive("segment_length", segment_length)
    if max_tokens is not None and (check_positive(
            "max_tokens", max_tokens) < 2):
        raise ValueError(
            "`max_tokens` must be at least 2: the first token is context "
            f"only. Received: max_tokens={max_tokens!r}"
        )
    if verbose not in ("auto", 0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(
            "`verbose` must be 'auto', 0, 1 or 2. Received: "
            f"verbose={verbose!r}"
        )
    segment_length = segment_length or lm.segment_length
    if lm.num_memory_tokens and segment_length % lm.segment_length:
        raise ValueError(
            "`segment_length` must be a multiple of the model's "
            f"segment_length ({lm.segment_length}) with memory tokens: "
            "they are written once per segment. Received: "
            f"segment_length={segment_length}"
        )
    num_tokens = source.num_tokens if max_tokens is None \
        else min(max_tokens, source.num_tokens)
    layout = eval_layout(num_tokens, batch_size, segment_length)
    evaluator = lm if memory_lengths is None \
        else lm.with_memory_lengths(memory_lengths)
    model = StatefulLM(evaluator, batch_size, metric="bpc")
    model.compile(jit_compile=jit_compile)
    metric = model.token_metric
    dataset = distribute_streams(tf.distribute.get_strategy(), source,
                                 layout)
    model.reset_memory("eval")
    # Keras' own bar would count the compile in its estimate, and write
    # backspaces and colour codes into a file: show ours instead.
    model.evaluate(dataset, steps=layout.num_windows, verbose=0,
                   callbacks=[RunProgress(verbose)])
    predicted = int(metric.count.numpy())
    if predicted != num_tokens - 1:
        raise RuntimeError(
            f"Evaluation weighted {predicted} tokens, expected "
            f"{num_tokens - 1}."
        )
    bits = float(metric.result().numpy())
    nll = bits * math.log(2.0)
    return {"nll": nll, "bits_per_token": bits,
            "perplexity": perplexity(nll), "tokens": predicted}


def perplexity(nll):
    """`exp(nll)`; `inf` past the float range (a diverged model)."""
    return math.exp(nll) if nll < 700.0 else math.inf
