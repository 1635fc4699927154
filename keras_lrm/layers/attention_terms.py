"""Pieces of `MemoryAttention`'s math that do not need the layer.

The mask, the last-rows slice, the choice between projecting a long operand
and projecting the queries to its width, the position term, the memory's
part of the attention taken through the queries (the memory's keys and
values never formed) or read from a key/value cache.
"""

from keras import ops


def attention_mask(num_queries, memory_length, filled=None, layout=None):
    """Which keys each query may attend to.

    Args:
        num_queries: `T`, rows of the segment.
        memory_length: `M`, rows of the memory in front of the segment.
        filled: optional int tensor `(batch,)`: how many of the most recent
            memory rows hold real states. `None` means all `M` rows do.
        layout: optional bool `(T, M + T)` (or `(batch, T, M + T)`) that
            replaces the causal rule (e.g. `memory_token_layout`); the
            filled rule still applies.

    Returns:
        Bool tensor `(batch or 1, T, M + T)`: key `j` is visible to query
        `i` when `j <= M + i` (causal; or as `layout` says) and
        `j >= M - filled` (filled memory).
    """
    keys = ops.arange(memory_length + num_queries, dtype="int32")
    queries = ops.arange(num_queries, dtype="int32")
    if layout is None:
        mask = keys[None, :] <= queries[:, None] + memory_length
    else:
        mask = ops.cast(layout, "bool")
    if len(mask.shape) == 2:
        mask = mask[None]
    if filled is not None and memory_length:
        start = memory_length - ops.cast(filled, "int32")
        visible = keys[None, :] >= start[:, None]
        mask = ops.logical_and(mask, visible[:, None, :])
    return mask


def last_rows(sequence, count, axis=1):
    """The last `count` rows along `axis`; none when `count` is 0.

    `sequence[:, -0:]` would be every row, hence the helper. Shapes stay
    static.
    """
    index = (slice(None),) * axis
    if not count:
        return sequence[index + (slice(0, 0),)]
    return sequence[index + (slice(-count, None),)]


def cheaper_from_queries(num_queries, rows, dim, key_dim):
    """Whether a product with `rows` rows of width `dim` is cheaper taken
    through the queries than through the rows projected to the heads.

    Multiply-adds per head of `q . (W x)` for `rows` rows `x` (`W`:
    `dim -> key_dim`): projecting the rows costs `rows * dim * key_dim` and
    then `num_queries * rows * key_dim`; projecting the queries back to the
    rows' width (`W^T q`) costs `num_queries * key_dim * dim` and then
    `num_queries * rows * dim`. The same count holds for the values'
    product `p . (x W) = (p . x) W`. Ints or float tensors.
    """
    return num_queries * dim * (key_dim + rows) < \
        rows * key_dim * (dim + num_queries)


def memory_scores(offset, memory, kernel, bias=None):
    """Content scores against the memory rows' keys, without the keys.

    `offset . (m W_k + b_k) = (W_k^T offset) . m + offset . b_k`.

    Args:
        offset: `(batch, T, heads, key_dim)` queries plus the content bias.
        memory: `(batch, M, dim)` memory rows.
        kernel: `(dim, heads, key_dim)` key projection.
        bias: optional `(heads, key_dim)` key bias.

    Returns:
        `(heads, batch, T, M)`, unscaled.
    """
    projected = ops.einsum("btnh,cnh->nbtc", offset, kernel)
    scores = ops.einsum("nbtc,bsc->nbts", projected, memory)
    if bias is not None:
        scores += ops.einsum("btnh,nh->nbt", offset, bias)[..., None]
    return scores


def memory_values(probs, memory, kernel, bias=None):
    """Probabilities over the memory rows times their values, without the
    values: `p . (m W_v + b_v) = (p . m) W_v + sum(p) b_v`.

    Args:
        probs: `(heads, batch, T, M)` attention on the memory rows.
        memory: `(batch, M, dim)` memory rows.
        kernel: `(dim, heads, key_dim)` value projection.
        bias: optional `(heads, key_dim)` value bias.

    Returns:
        `(batch, T, heads, key_dim)`.
    """
    read = ops.einsum("nbts,bsc->nbtc", probs, memory)
    attended = ops.einsum("nbtc,cnh->btnh", read, kernel)
    if bias is not None:
        weight = ops.transpose(ops.sum(probs, axis=-1), (1, 2, 0))
        attended += weight[..., None] * bias
    return attended


def position_term(offset, table, kernel, project_table, batch_first):
    """Position scores `(q_i + v) . W_r r(p)` against every table row.

    Args:
        offset: `(batch, T, heads, key_dim)` queries plus the position bias.
        table: `(P, dim)` sinusoid table (`P = M + T + 1`).
        kernel: `(dim, heads, key_dim)` of `W_r`, in the compute dtype.
        project_table: `table -> (P, heads, key_dim)`, the projection layer.
        batch_first: `(batch, heads, T, P)` instead of `(heads, batch, T, P)`.

    `W_r` is linear, so the product can be taken two ways: project the
    table to the heads, or project the queries back to the table's width.
    The second costs `T` rows instead of `P` and wins when the segment is
    short against the head size: a one-token generation step then does not
    project the `M` memory distances again. Picked by FLOP count, at trace
    time where `T` is known, else by a `cond`. Unshifted
    (`relative_position.relative_shift` puts it in key order).
    """
    dim, heads, depth = tuple(kernel.shape)
    rows = ops.shape(offset)[1]
    width = ops.shape(table)[0]

    def from_table():
        positions = project_table(table)
        if batch_first:
            # Broadcasting the table over the batch makes (batch, heads) the
            # product's batch dimensions: no score-sized transpose.
            shape = (ops.shape(offset)[0],) + tuple(ops.shape(positions))
            positions = ops.broadcast_to(positions[None], shape)
            return ops.einsum("btnh,bpnh->bntp", offset, positions)
        return ops.einsum("btnh,pnh->nbtp", offset, positions)

    def from_queries():
        projected = ops.einsum("btnh,cnh->btnc", offset, kernel)
        order = "bntp" if batch_first else "nbtp"
        return ops.einsum(f"btnc,pc->{order}", projected, table)

    if isinstance(rows, int) and isinstance(width, int):
        by_queries = cheaper_from_queries(rows, width, dim, depth)
        return from_queries() if by_queries else from_table()
    # Float counts: the products overflow int32 on long inputs.
    rows, width = (ops.cast(n, "float32") for n in (rows, width))
    return ops.cond(cheaper_from_queries(rows, width, dim, depth),
                    from_queries, from_table)


def cache_scores(offset, cache_keys, keys):
    """Content scores `(heads, batch, T, M + T)` against a key/value cache
    `(batch, heads, M, key_dim)` and the segment's keys
    `(batch, T, heads, key_dim)`, each read where it lies (joining the
    cache to the keys first would copy every memory row at each call)."""
    return ops.concatenate([
        ops.einsum("btnh,bnsh->nbts", offset, cache_keys),
        ops.einsum("btnh,bsnh->nbts", offset, keys)], axis=-1)


def cache_rows(cache):
    """Rows of a key/value cache `(keys, values)`, each laid out `(batch,
    heads, rows, key_dim)`: the memory rows a call on it reads (its
    layer's memory length, or more for a stream between memory tokens)."""
    return tuple(cache[0].shape)[2]


def cache_read(probs, cache_values, values, rows):
    """`(batch, T, heads, key_dim)`: probabilities `(heads, batch, T,
    rows + T)` times the cache's values `(batch, heads, rows, key_dim)`
    and the segment's `(batch, T, heads, key_dim)`."""
    attended = ops.einsum("nbts,bnsh->btnh", probs[..., :rows], cache_values)
    return attended + ops.einsum("nbts,bsnh->btnh", probs[..., rows:],
                                 values)


def memory_token_layout(num_tokens, segment_length, memory_length,
                        tokens_see_memory=False):
    """The attention layout of a segment between memory tokens.

    The rows are `[read (m); segment (T); write (m)]` after `M` memory
    rows (the Recurrent Memory Transformer's decoder layout):

    - read tokens see each other, both ways;
    - segment tokens see the memory, the read tokens, and the segment
      causally;
    - write tokens see the read tokens, the segment and each other;
    - nothing else sees the write tokens;
    - memory tokens see the memory rows only with `tokens_see_memory`.

    Args:
        num_tokens: `m`.
        segment_length: `T`.
        memory_length: `M`.
        tokens_see_memory: whether read and write tokens attend to the
            memory rows.

    Returns:
        Bool `(2m + T, M + 2m + T)`.
    """
    m, rows = num_tokens, 2 * num_tokens + segment_length
    keys = ops.arange(memory_length + rows, dtype="int32")[None, :]
    queries = ops.arange(rows, dtype="int32")[:, None]
    key_rows = keys - memory_length  # < 0: a memory row
    in_memory = key_rows < 0
    read_key = ops.logical_and(key_rows >= 0, key_rows < m)
    write_key = key_rows >= m + segment_length
    is_read = queries < m
    is_write = queries >= m + segment_length
    is_token = ops.logical_or(is_read, is_write)
    causal = key_rows <= queries
    sees = ops.where(is_read, read_key,
                     ops.where(is_write, ops.logical_not(in_memory),
                               ops.logical_and(causal,
                                               ops.logical_not(write_key))))
    if tokens_see_memory:
        sees = ops.logical_or(sees, ops.logical_and(is_token, in_memory))
    return ops.where(ops.logical_and(is_write, write_key), True, sees)
