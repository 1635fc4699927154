"""Peer: lucidrains' recurrent-memory-transformer-pytorch (RMT in PyTorch).

The `RecurrentMemoryTransformer` of the `recurrent-memory-transformer-
pytorch` package (installed in bench/.venv-peers only, see bench/README.md)
trained on keras_lrm's synthetic tasks (`keras_lrm.data.synthetic`): each
example is `num_segments` segments of `tgt_len` tokens, read in order with
`num_memory_tokens` memory tokens carried from segment to segment (and the
package's XL memory when `--mem_len` > 0), gradients through the memory
tokens across all segments or, with `--gradient_segments k`, from the start
of the last `k` only (`--fill`: the longest task the segments hold, see
`get_task`). One step: forward over the K segments, the mean
cross-entropy over the answer tokens, backward, Adam.

Matched size: the package's feed-forward is a GEGLU of inner width
`2/3 * ff_mult * d_model`, so `ff_mult = d_inner / d_model` gives it the
parameters of a `d_inner` ReLU feed-forward; hyper-connections are off
(`num_residual_streams=1`), so each layer is one residual stream as in
keras_lrm. The package keeps its own choices: pre-RMSNorm, absolute
positions over a segment, a null key, value residuals and an embedding
gradient scaled by 0.1.

Runs as a harness worker (`python -m bench.peers.peer_rmt_torch`, the
protocol of `bench.peers.harness`), alone (`--standalone`), or trains and
reports the answer accuracy (`--train_steps N`: N steps on
`--train_examples` examples of `--data_seed`, reshuffled every pass, then
the accuracy on `--eval_examples` examples of data_seed + 1; `--curriculum`
trains on 1, 2, ... K segments in turn, `--clip` clips the gradient's
norm). recipes/rmt_tasks.py runs it this way beside keras_lrm's models.
"""
import json
import time

import numpy as np

from bench.peers import harness


def build(args, torch):
    import recurrent_memory_transformer_pytorch as rmt

    from keras_lrm.data.synthetic import VOCAB_SIZE

    torch.manual_seed(args.seed)
    return rmt.RecurrentMemoryTransformer(
        args.d_model,
        num_tokens=VOCAB_SIZE,
        depth=args.n_layer,
        num_memory_tokens=args.num_memory_tokens,
        seq_len=args.tgt_len,
        dim_head=args.d_head,
        heads=args.n_head,
        ff_mult=args.d_inner / args.d_model,
        use_xl_memories=args.mem_len > 0,
        xl_mem_len=args.mem_len or None,
        num_residual_streams=1,
    )


def segments_forward(model, token_ids, args, torch):
    """Logits `(batch, K * S, vocab)` of K segments, memory carried."""
    memories, xl_memories, logits = None, None, []
    segment = args.tgt_len
    count = token_ids.shape[1] // segment
    first_with_gradient = count - min(args.gradient_segments or count, count)
    for k in range(count):
        if memories is not None and k == first_with_gradient:
            memories = memories.detach()  # truncated BPTT
        out, memories, xl_memories = model(
            token_ids[:, k * segment:(k + 1) * segment], memories,
            xl_memories=xl_memories if args.mem_len else None)
        logits.append(out)
    return torch.cat(logits, dim=1)


def batches(args, task, torch, seed, count, shuffle_seed=None):
    """`count` (token_ids, targets) batches of `task`, on the device: the
    first `count * batch` examples of `seed`, in a seeded random order
    when `shuffle_seed` is given."""
    from keras_lrm.data.synthetic import generate

    examples = generate(task, args.batch * count, seed)
    tokens = torch.as_tensor(examples.tokens[:, :-1], dtype=torch.long)
    targets = torch.as_tensor(examples.targets, dtype=torch.long)
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(tokens))
        tokens, targets = tokens[order], targets[order]
    return [(tokens[i:i + args.batch].to(args.device),
             targets[i:i + args.batch].to(args.device))
            for i in range(0, args.batch * count, args.batch)], examples


def stages(args, task):
    """`[(num_segments, steps)]`: the training's curriculum over the
    number of segments (`--curriculum`: from the fewest segments the task
    fits in up to K, the steps shared equally; the RMT paper's), or K
    alone."""
    from keras_lrm.data.synthetic import get_task

    counts = [args.num_segments]
    if args.curriculum:
        counts = []
        for count in range(1, args.num_segments + 1):
            try:
                get_task(task, num_segments=count, fill=args.fill)
            except ValueError:  # the task does not fit in `count` segments
                continue
            counts.append(count)
    share, extra = divmod(args.train_steps, len(counts))
    return [(count, share + (index < extra))
            for index, count in enumerate(counts)]


def main():
    p = harness.common_argparser("lucidrains' RMT (PyTorch) on keras_lrm's "
                                 "synthetic tasks")
    # The reference RMT runs: 4 layers, d_model 128, 4 heads x 64,
    # d_inner 256; segments from the task's preset unless given.
    p.set_defaults(n_layer=4, d_model=128, n_head=4, d_head=64,
                   d_inner=256, tgt_len=0, mem_len=0, batch=32)
    p.add_argument("--task", default="copy24",
                   help="a keras_lrm.data.synthetic preset or kind")
    p.add_argument("--num_segments", type=int, default=0,
                   help="K (0: the preset's); --tgt_len is S")
    p.add_argument("--length", type=int, default=0,
                   help="digits or pairs (0: the preset's)")
    p.add_argument("--fill", action="store_true",
                   help="the longest task of the segments (get_task's "
                        "fill)")
    p.add_argument("--num_memory_tokens", type=int, default=6)
    p.add_argument("--gradient_segments", type=int, default=0,
                   help="truncated BPTT: gradient through the memory from "
                        "the start of the last k segments (0: all)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--train_steps", type=int, default=0,
                   help="train N steps, then print the answer accuracy")
    p.add_argument("--eval_examples", type=int, default=256)
    p.add_argument("--data_seed", type=int, default=-1,
                   help="training examples from this seed, evaluation "
                        "from data_seed + 1 (-1: --seed)")
    p.add_argument("--train_examples", type=int, default=0,
                   help="training examples, cycled in a reshuffled order "
                        "(0: 64 batches)")
    p.add_argument("--curriculum", action="store_true",
                   help="train on 1, 2, ... K segments in turn (the steps "
                        "shared equally), the RMT paper's curriculum")
    p.add_argument("--clip", type=float, default=0.0,
                   help="clip the gradient's global norm (0: no clip)")
    args = p.parse_args()

    import torch

    from keras_lrm.data.synthetic import answer_accuracy
    from keras_lrm.data.synthetic import get_task

    task = get_task(args.task, length=args.length or None,
                    num_segments=args.num_segments or None,
                    segment_length=args.tgt_len or None, fill=args.fill)
    args.num_segments, args.tgt_len = task.num_segments, task.segment_length
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build(args, torch).to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-1)
    vocab = model.to_logits.out_features

    def train_step(token_ids, targets):
        opt.zero_grad(set_to_none=True)
        logits = segments_forward(model, token_ids, args, torch)
        loss = loss_fn(logits.reshape(-1, vocab), targets.reshape(-1))
        loss.backward()
        if args.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        return loss

    info = dict(
        peer="rmt_torch", torch=torch.__version__, device=args.device,
        threads=torch.get_num_threads(), task=args.task, length=task.length,
        batch=args.batch, tgt_len=args.tgt_len, mem_len=args.mem_len,
        num_segments=args.num_segments,
        num_memory_tokens=args.num_memory_tokens,
        gradient_segments=args.gradient_segments or args.num_segments,
        tokens_per_step=args.batch * args.num_segments * args.tgt_len,
        n_params=sum(w.numel() for w in model.parameters()))

    if args.train_steps:
        data_seed = args.seed if args.data_seed < 0 else args.data_seed
        count = max(args.train_examples // args.batch, 1) \
            if args.train_examples else 64
        start = time.perf_counter()
        for stage, (segments, steps) in enumerate(stages(args, task)):
            stage_task = get_task(task, num_segments=segments,
                                  fill=args.fill)
            done = 0
            while done < steps:  # one reshuffled pass at a time
                train, _ = batches(args, stage_task, torch, data_seed,
                                   count, shuffle_seed=args.seed * 1000
                                   + stage * 100 + done // count)
                for token_ids, targets in train[:steps - done]:
                    loss = train_step(token_ids, targets)
                done += min(count, steps - done)
        seconds = time.perf_counter() - start
        count = max(args.eval_examples // args.batch, 1)
        evaluation, examples = batches(args, task, torch, data_seed + 1,
                                       count)
        model.eval()
        with torch.no_grad():
            logits = torch.cat([segments_forward(model, ids, args, torch)
                                for ids, _ in evaluation])
        accuracy = answer_accuracy(logits.argmax(-1).cpu().numpy(),
                                   examples.windows)
        print(json.dumps({**info, "train_steps": args.train_steps,
                          "train_seconds": seconds,
                          "curriculum": stages(args, task),
                          "last_loss": loss.item(), **accuracy}),
              flush=True)
        return

    data, _ = batches(args, task, torch, args.seed, 4)
    state = {"i": 0}

    def step():
        loss = train_step(*data[state["i"] % len(data)])
        state["i"] += 1
        value = loss.item()  # waits for the device
        if not np.isfinite(value):
            raise FloatingPointError(f"loss {value} at step {state['i']}")
        return value

    harness.main_loop(step, info, args)


if __name__ == "__main__":
    main()
