"""Placement policies: which layers keep a long-range memory.

Rae & Razavi (2020) keep a long-range memory (LRM) in only a few layers of a
Transformer-XL and a short-range memory (SRM) in the rest, and show that
*where* the long memories sit matters. A `Placement` is that choice as data:
it turns a number of layers into a per-layer list of memory lengths.
"""

import warnings

import keras

from keras_lrm.arguments import check_non_negative
from keras_lrm.arguments import is_int
from keras_lrm.policies import COUNTLESS_POLICIES  # noqa: F401
from keras_lrm.policies import POLICIES
from keras_lrm.policies import takes_count


@keras.saving.register_keras_serializable(package="keras_lrm")
class Placement:
    """Where the long-range memories go in a stack of memory layers.

    Every layer gets a memory of `long_length` (an LRM layer) or
    `short_length` (an SRM layer). With `L = num_layers` and
    `n = num_long`, layers are numbered from 0 (next to the embedding) to
    `L - 1` (next to the output), and the policies pick these LRM layers:

    - `"all"`: every layer (the Transformer-XL baseline); `n` is `L`.
    - `"none"`: no layer; `n` is 0.
    - `"interleaved"`: evenly spaced, counted down from the top layer, which
      is always included: layers `L - 1 - floor(k * L / n)` for
      `k = 0 .. n - 1`. For 24 layers and 4 LRMs: 5, 11, 17, 23.
    - `"first"`: layers `0 .. n - 1`.
    - `"last"`: layers `L - n .. L - 1`.
    - `"middle"`: a block of `n` centred layers, starting at
      `(L - n) // 2`. For 24 layers and 4 LRMs: 10, 11, 12, 13.
    - an explicit list of layer indices, e.g. `[3, 7]`; negative indices
      count from the top as in Python (`-1` is the top layer).

    Args:
        policy: one of the names above, or a list of layer indices.
        num_long: number of LRM layers for `"interleaved"`, `"first"`,
            `"last"` and `"middle"`. Ignored by `"all"` and `"none"`; for a
            list it may be omitted or must equal the list's length.
        long_length: memory length of an LRM layer. Paper: 2304 at training,
            6000 at evaluation (enwik8).
        short_length: memory length of an SRM layer. Paper: 128; 512 was
            best in its sweep.

    Example:

    >>> Placement("interleaved", 4, 2304, 128).long_layers(24)
    [5, 11, 17, 23]
    >>> Placement("last", 1, 512, 64).memory_lengths(4)
    [64, 64, 64, 512]

    Reference:
        Rae & Razavi, "Do Transformers Need Deep Long-Range Memory?",
        ACL 2020 (arXiv 2007.03356).
    """

    def __init__(self, policy, num_long=None, long_length=2304,
                 short_length=128):
        if isinstance(policy, str):
            if policy not in POLICIES:
                raise ValueError(
                    f"`policy` must be one of {POLICIES} or a list of layer "
                    f"indices. Received: policy={policy!r}"
                )
            if takes_count(policy) and num_long is None:
                raise ValueError(
                    f"`num_long` is required for policy={policy!r}. "
                    "Received: num_long=None"
                )
        elif isinstance(policy, (list, tuple)):
            policy = list(policy)
            for index in policy:
                if not is_int(index):
                    raise ValueError(
                        "`policy` as a list must hold integer layer indices. "
                        f"Received: policy={policy!r}"
                    )
            policy = [int(index) for index in policy]
            if num_long is not None and num_long != len(policy):
                raise ValueError(
                    "`num_long` must equal the number of indices in "
                    f"`policy`. Received: num_long={num_long!r}, "
                    f"policy={policy!r}"
                )
        else:
            raise ValueError(
                f"`policy` must be one of {POLICIES} or a list of layer "
                f"indices. Received: policy={policy!r}"
            )
        if num_long is not None:
            num_long = check_non_negative("num_long", num_long)
        long_length = check_non_negative("long_length", long_length)
        short_length = check_non_negative("short_length", short_length)
        self.policy = policy
        self.num_long = num_long
        self.long_length = long_length
        self.short_length = short_length

    def long_layers(self, num_layers):
        """Sorted indices of the LRM layers in a stack of `num_layers`."""
        if not is_int(num_layers) or num_layers < 1:
            raise ValueError(
                "`num_layers` must be an integer >= 1. "
                f"Received: num_layers={num_layers!r}"
            )
        total = int(num_layers)
        if isinstance(self.policy, list):
            chosen = []
            for index in self.policy:
                if not -total <= index < total:
                    raise ValueError(
                        f"Layer index {index} in `policy` is out of range for "
                        f"num_layers={total}. Received: policy={self.policy!r}"
                    )
                chosen.append(index % total)
            if len(set(chosen)) != len(chosen):
                raise ValueError(
                    "`policy` names the same layer twice. "
                    f"Received: policy={self.policy!r}"
                )
            return sorted(chosen)
        if self.policy == "all":
            return list(range(total))
        if self.policy == "none":
            return []
        count = self.num_long
        if count > total:
            raise ValueError(
                f"`num_long` must be <= num_layers={total}. "
                f"Received: num_long={count}"
            )
        if count == 0:
            return []
        if self.policy == "interleaved":
            return sorted(total - 1 - (k * total) // count
                          for k in range(count))
        if self.policy == "first":
            return list(range(count))
        if self.policy == "last":
            return list(range(total - count, total))
        start = (total - count) // 2
        return list(range(start, start + count))

    def memory_lengths(self, num_layers):
        """Per-layer memory lengths, bottom layer first."""
        long_set = set(self.long_layers(num_layers))
        return [
            self.long_length if i in long_set else self.short_length
            for i in range(num_layers)
        ]

    def with_lengths(self, long_length=None, short_length=None):
        """The same layer choice with other memory lengths.

        The paper trains with LRM 2304 and evaluates with 6000:
        `placement.with_lengths(long_length=6000)`.
        """
        return Placement(
            self.policy,
            self.num_long,
            self.long_length if long_length is None else long_length,
            self.short_length if short_length is None else short_length,
        )

    def get_config(self):
        return {
            "policy": self.policy,
            "num_long": self.num_long,
            "long_length": self.long_length,
            "short_length": self.short_length,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, Placement) and \
            self.get_config() == other.get_config()

    def __hash__(self):
        return hash(repr(self))

    def __repr__(self):
        return (
            f"Placement({self.policy!r}, num_long={self.num_long}, "
            f"long_length={self.long_length}, "
            f"short_length={self.short_length})"
        )


def resolve_lengths(placement, memory_lengths, num_layers):
    """`(placement, lengths)` from a layer's two ways to set its memory.

    Args:
        placement: a `Placement`, or `None`. A list of lengths here is
            deprecated (it is `memory_lengths`) and still accepted with a
            `DeprecationWarning`.
        memory_lengths: a list of per-layer lengths, or `None`.
        num_layers: the number of layers.

    Returns:
        The `Placement` (or `None`) and the per-layer lengths as ints.
    """
    if isinstance(placement, (list, tuple)):
        warnings.warn(
            "A list of memory lengths as `placement` is deprecated: pass "
            "it as `memory_lengths=` (`placement=` takes a "
            "keras_lrm.Placement).", DeprecationWarning, stacklevel=3)
        if memory_lengths is not None:
            raise ValueError(
                "Give `placement` or `memory_lengths`, not both. Received: "
                f"placement={placement!r}, memory_lengths="
                f"{memory_lengths!r}"
            )
        placement, memory_lengths = None, placement
    if (placement is None) == (memory_lengths is None):
        raise ValueError(
            "Exactly one of `placement` (a keras_lrm.Placement) and "
            "`memory_lengths` (a list of per-layer lengths) is required. "
            f"Received: placement={placement!r}, "
            f"memory_lengths={memory_lengths!r}"
        )
    if placement is not None:
        if not isinstance(placement, Placement):
            raise ValueError(
                "`placement` must be a keras_lrm.Placement (per-layer "
                "lengths go to `memory_lengths`). Received: "
                f"placement={placement!r}"
            )
        return placement, placement.memory_lengths(num_layers)
    if not isinstance(memory_lengths, (list, tuple)) or \
            len(memory_lengths) != num_layers:
        raise ValueError(
            "`memory_lengths` must be a list with one length per layer "
            f"({num_layers}). Received: memory_lengths={memory_lengths!r}"
        )
    return None, [check_non_negative("memory_lengths", length)
                  for length in memory_lengths]


def placement_from_config(config):
    """A layer config with its placement deserialized. Configs written
    before `memory_lengths` existed kept lengths as a list in
    `placement`: read as `memory_lengths`, without a warning."""
    config = dict(config)
    placement = config.get("placement")
    if isinstance(placement, dict):
        config["placement"] = keras.saving.deserialize_keras_object(
            placement)
    elif isinstance(placement, (list, tuple)):
        config["placement"] = None
        config["memory_lengths"] = list(placement)
    return config
