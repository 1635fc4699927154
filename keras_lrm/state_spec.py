"""The layout of a model's memory state: one spec, two forms.

A `MemoryStack` (and the `MemoryTransformerLM` around it) carries its
memory from call to call as a dict of tensors. `StateSpec` is the one
description of that dict: entry names, shapes (without the batch axis),
dtypes, the layer each entry belongs to, and the empty state. The stack
and the model produce it (`state_spec(form)`); export, training,
evaluation, tuning and generation read it and never walk the layers.

Two forms describe the same memory:

- `"memory"`: `"memory_<l>"` `(batch, M_l, dim)`, the states layer `l`
  attends to. Training and `.keras`/SavedModel users carry this form: it
  does not depend on the weights, so it stays valid across weight updates.
- `"cache"`: `"keys_<l>"` and `"values_<l>"` `(batch, heads, M_l,
  key_dim)`, the same rows as layer `l`'s attention projects them. A call
  then projects only its own tokens: what generation and evaluation want.
  It depends on the weights.

Both hold `"filled"`, int32 `(batch,)`: how many of the most recent rows
are real (0: an empty memory, all rows masked). More entries (e.g. memory
tokens) are more `StateEntry`s of the same spec.
"""

import dataclasses

from keras import ops

from keras_lrm.arguments import check_batch_size

MEMORY = "memory"
CACHE = "cache"
FORMS = (MEMORY, CACHE)
FILLED = "filled"
MEMORY_TOKENS = "memory_tokens"


def memory_name(index):
    """Key of layer `index`'s memory rows in the `"memory"` form."""
    return f"memory_{index}"


def cache_names(index):
    """Keys of layer `index`'s projected keys and values (`"cache"`)."""
    return f"keys_{index}", f"values_{index}"


def check_form(form):
    if form not in FORMS:
        raise ValueError(
            f"`form` must be one of {FORMS}. Received: form={form!r}")
    return form


def state_form(state):
    """`"cache"` for a dict holding projected keys, else `"memory"`."""
    if isinstance(state, dict) and cache_names(0)[0] in state:
        return CACHE
    return MEMORY


@dataclasses.dataclass(frozen=True)
class StateEntry:
    """One tensor of the state.

    Attributes:
        name: key in the state dict.
        shape: shape without the leading batch axis.
        dtype: dtype name.
        layer: index of the layer that reads it, or `None` for an entry
            every layer reads (`"filled"`).
        role: what it holds: `"memory"`, `"keys"`, `"values"` or
            `"filled"`.
    """

    name: str
    shape: tuple
    dtype: str
    layer: object = None
    role: str = MEMORY


class StateSpec:
    """Names, shapes, dtypes and empty values of a memory state.

    Args:
        entries: the `StateEntry`s, in order.
        form: `"memory"` or `"cache"`.

    Example:

    >>> spec = memory_state_spec([4, 8], dim=16, dtype="float32")
    >>> spec.names
    ('memory_0', 'memory_1', 'filled')
    >>> spec.empty(2)["memory_1"].shape
    (2, 8, 16)
    """

    def __init__(self, entries, form):
        self.form = check_form(form)
        self.entries = tuple(entries)
        self._by_name = {entry.name: entry for entry in self.entries}

    @property
    def names(self):
        return tuple(entry.name for entry in self.entries)

    def __getitem__(self, name):
        return self._by_name[name]

    def __contains__(self, name):
        return name in self._by_name

    def __iter__(self):
        return iter(self.entries)

    def __len__(self):
        return len(self.entries)

    def layer_names(self, index):
        """Names of layer `index`'s own entries, in order."""
        return tuple(entry.name for entry in self.entries
                     if entry.layer == index)

    def shapes(self, batch_size=None):
        """`{name: (batch_size,) + shape}`."""
        return {entry.name: (batch_size,) + tuple(entry.shape)
                for entry in self.entries}

    def empty(self, batch_size):
        """The empty state for `batch_size` streams: zeros everywhere."""
        batch_size = check_batch_size(batch_size)
        return {entry.name: ops.zeros((batch_size,) + tuple(entry.shape),
                                      entry.dtype)
                for entry in self.entries}

    def nbytes(self, batch_size=1):
        """Bytes of the state for `batch_size` streams."""
        total = 0
        for entry in self.entries:
            count = batch_size
            for size in entry.shape:
                count *= size
            total += count * _itemsize(entry.dtype)
        return total

    def check(self, state, batch_size=None, name=None):
        """Raises `ValueError` naming the entry that does not fit.

        Args:
            state: a dict of tensors (anything with `.shape`).
            batch_size: the batch the state must have, or `None`.
            name: the argument's name in messages (default: the form).
        """
        name = name or self.form
        source = "initial_cache()" if self.form == CACHE \
            else "initial_memory()"
        if not isinstance(state, dict):
            raise ValueError(
                f"`{name}` must be a dict from `{source}`. "
                f"Received: {name} of type {type(state).__name__}"
            )
        if set(state) != set(self.names):
            raise ValueError(
                f"`{name}` must have the keys {sorted(self.names)}. "
                f"Received: keys={sorted(state)}"
            )
        for entry in self.entries:
            shape = tuple(state[entry.name].shape)
            rows = tuple(entry.shape)
            if len(shape) != 1 + len(rows) or shape[1:] != rows or (
                    None not in (batch_size, shape[0])
                    and shape[0] != batch_size):
                expected = ", ".join(map(str, (batch_size,) + rows))
                comma = "," if not rows else ""
                raise ValueError(
                    f"`{name}['{entry.name}']` must have shape "
                    f"({expected}{comma}). Received: shape={shape}"
                )

    def __eq__(self, other):
        return isinstance(other, StateSpec) and \
            (self.form, self.entries) == (other.form, other.entries)

    def __hash__(self):
        return hash((self.form, self.entries))

    def __repr__(self):
        inner = ", ".join(f"{e.name}: {e.shape} {e.dtype}"
                          for e in self.entries)
        return f"StateSpec({self.form}; {inner})"


def _itemsize(dtype):
    bits = "".join(ch for ch in str(dtype) if ch.isdigit())
    return int(bits) // 8 if bits else 1


def filled_entry():
    return StateEntry(FILLED, (), "int32", None, FILLED)


def memory_state_spec(memory_lengths, dim, dtype):
    """The `"memory"` form for layers with `memory_lengths` rows."""
    entries = [StateEntry(memory_name(index), (length, dim), dtype, index,
                          MEMORY)
               for index, length in enumerate(memory_lengths)]
    return StateSpec(entries + [filled_entry()], MEMORY)


def cache_state_spec(memory_lengths, num_heads, key_dim, dtype):
    """The `"cache"` form: per layer, keys and values
    `(num_heads, M_l, key_dim)`."""
    entries = []
    for index, length in enumerate(memory_lengths):
        keys, values = cache_names(index)
        shape = (num_heads, length, key_dim)
        entries.append(StateEntry(keys, shape, dtype, index, "keys"))
        entries.append(StateEntry(values, shape, dtype, index, "values"))
    return StateSpec(entries + [filled_entry()], CACHE)
