"""The placement policies' names and the one rule about their counts.

Kept apart from `placement.py` (which needs Keras to register `Placement`)
so that configurations and flags can ask without loading Keras.
"""

POLICIES = ("all", "none", "interleaved", "first", "last", "middle")
# Policies that fix the number of long memories themselves.
COUNTLESS_POLICIES = ("all", "none")


def takes_count(policy):
    """Whether `policy` needs `num_long`: every named policy but "all" and
    "none", which fix it themselves (a list of layer indices is its own
    count). The one statement of that rule: `Placement`, configurations,
    flags and searches ask here."""
    return isinstance(policy, str) and policy not in COUNTLESS_POLICIES
