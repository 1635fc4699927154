"""The state spec: one owner of the state's layout, read by every consumer."""

import ast
import pathlib
import warnings

import keras
import numpy as np
import pytest

from keras_lrm import Placement
from keras_lrm.layers import MemoryStack
from keras_lrm.models import MemoryTransformerLM
from keras_lrm.state_spec import StateEntry
from keras_lrm.state_spec import StateSpec
from keras_lrm.state_spec import memory_state_spec
from tests.helpers import random_ids
from tests.helpers import small_lm

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_lrm"


def test_the_model_spec_describes_both_forms():
    model = small_lm([4, 0, 6])
    memory = model.state_spec()
    assert memory.names == ("memory_0", "memory_1", "memory_2", "filled")
    assert memory["memory_2"] == StateEntry("memory_2", (6, 16), "float32",
                                            2, "memory")
    cache = model.state_spec("cache")
    assert cache.layer_names(2) == ("keys_2", "values_2")
    assert cache["values_0"].shape == (2, 4, 8)
    assert cache["filled"].dtype == "int32"
    # Empty states follow the spec, and calls return the form they got.
    for spec in (memory, cache):
        state = model.initial_memory(3, spec.form)
        spec.check(state, 3)
        _, after = model.call_with_memory(random_ids(3, 2), state)
        spec.check(after, 3)
        assert {k: tuple(v.shape) for k, v in after.items()} == \
            spec.shapes(3)
    # float32: 4 bytes per value; filled: 4 per row.
    assert memory.nbytes(1) == (4 + 0 + 6) * 16 * 4 + 4


def test_the_spec_names_what_does_not_fit():
    spec = memory_state_spec([2], dim=4, dtype="float32")
    with pytest.raises(ValueError, match=r"`memory` must be a dict"):
        spec.check([1, 2])
    with pytest.raises(ValueError, match=r"must have the keys"):
        spec.check({"filled": np.zeros(2)})
    with pytest.raises(ValueError,
                       match=r"`memory\['memory_0'\]` must have shape "
                             r"\(2, 2, 4\)"):
        spec.check({"memory_0": np.zeros((2, 3, 4)),
                    "filled": np.zeros(2)}, batch_size=2)
    with pytest.raises(ValueError, match="`form`"):
        StateSpec([], "projected")


def test_mixed_precision_state_is_in_the_compute_dtype():
    model = small_lm(dtype="mixed_bfloat16")
    for form in ("memory", "cache"):
        spec = model.state_spec(form)
        dtypes = {entry.role: entry.dtype for entry in spec}
        assert dtypes.pop("filled") == "int32"
        assert set(dtypes.values()) == {"bfloat16"}


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


@pytest.mark.parametrize("package", ["export", "training", "tuning"])
def test_consumers_read_the_spec_not_the_layers(package):
    """export/, training/ and tuning/ import no layer module and walk no
    blocks: the layout reaches them through `state_spec`."""
    for path in sorted((PACKAGE / package).rglob("*.py")):
        modules = list(_imports(path))
        assert not [m for m in modules if m.startswith("keras_lrm.layers")],\
            path
        assert ".blocks" not in path.read_text(), path


def test_placement_takes_a_placement_and_lengths_go_to_memory_lengths():
    model = small_lm([3, 5], num_layers=2)
    assert model.placement is None and model.memory_lengths == [3, 5]
    assert model.get_config()["memory_lengths"] == [3, 5]
    with pytest.warns(DeprecationWarning, match="memory_lengths="):
        old = MemoryTransformerLM(vocab_size=40, num_layers=2, d_model=16,
                                  num_heads=2, d_ff=32, segment_length=4,
                                  placement=[3, 5])
    assert old.memory_lengths == [3, 5]
    with pytest.raises(ValueError, match="not both"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            MemoryStack(2, 2, 8, placement=[1, 2], memory_lengths=[1, 2])
    with pytest.raises(ValueError, match="Exactly one of `placement`"):
        MemoryStack(2, 2, 8, placement=Placement("all", None, 4, 4),
                    memory_lengths=[1, 2])


def test_configs_of_the_previous_release_still_load():
    """Before `memory_lengths`, a list of lengths was kept in `placement`:
    such a config (and so a `.keras` file) loads, without a warning."""
    model = small_lm([3, 5], num_layers=2)
    config = model.get_config()
    config.pop("memory_lengths")
    config["placement"] = [3, 5]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        again = MemoryTransformerLM.from_config(config)
    assert again.memory_lengths == [3, 5]
    stack = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(again.stack))
    assert stack.memory_lengths == [3, 5]
