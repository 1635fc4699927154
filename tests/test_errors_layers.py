"""The bad-input table of the layers, `Placement` and `MemoryTransformerLM`.

Every row of the "Layers and models" part of docs/errors.md is one case
here: the call, the error type, and words the message must contain (the
argument's name and what was expected). `tests/test_errors_table.py`
checks that the table and the cases name the same rows.
"""

import keras
import numpy as np
import pytest

from keras_lrm import Placement
from keras_lrm.layers import MemoryAttention
from keras_lrm.layers import MemoryBlock
from keras_lrm.layers import MemoryStack
from keras_lrm.models import MemoryTransformerClassifier
from keras_lrm.models import MemoryTransformerLM


def lm(**overrides):
    config = dict(vocab_size=32, num_layers=2, d_model=16, num_heads=2,
                  d_ff=32, segment_length=4,
                  placement=Placement("last", 1, 8, 4))
    config.update(overrides)
    return MemoryTransformerLM(**config)


def classifier(**overrides):
    config = dict(vocab_size=18, num_classes=10, num_layers=2, d_model=16,
                  num_heads=2, d_ff=32, segment_length=4,
                  memory_lengths=[4, 8])
    config.update(overrides)
    return MemoryTransformerClassifier(**config)


def block():
    return MemoryBlock(num_heads=2, intermediate_dim=16, memory_length=4)


def ids(batch=2, time=3):
    return np.ones((batch, time), "int32")


def features(batch=2, time=3, width=16):
    return np.zeros((batch, time, width), "float32")


def with_state(model, **entries):
    return dict(model.initial_memory(2), **entries)


def call_lm_with(token_ids=None, **state):
    model = lm()
    memory = with_state(model, **state)
    return model.call_with_memory(ids() if token_ids is None else token_ids,
                                  memory)


# id: (entry point, bad input, call, error type, words in the message)
CASES = {
    "placement-policy": (
        "Placement", 'policy="top"',
        lambda: Placement("top", 1), ValueError, ["`policy`", "'top'"]),
    "placement-count-missing": (
        "Placement", 'policy="last", num_long=None',
        lambda: Placement("last"), ValueError, ["`num_long`", "required"]),
    "placement-count-negative": (
        "Placement", "num_long=-1",
        lambda: Placement("last", -1), ValueError, ["`num_long`", ">= 0"]),
    "placement-length": (
        "Placement", "long_length=-5",
        lambda: Placement("last", 1, -5), ValueError, ["`long_length`"]),
    "placement-index-type": (
        "Placement", "policy=[1.5]",
        lambda: Placement([1.5]), ValueError, ["`policy`", "integer"]),
    "placement-too-many": (
        "Placement.memory_lengths", "num_long=3 for 2 layers",
        lambda: Placement("last", 3).memory_lengths(2), ValueError,
        ["`num_long`", "num_layers=2"]),
    "placement-index-range": (
        "Placement.memory_lengths", "policy=[5] for 2 layers",
        lambda: Placement([5]).memory_lengths(2), ValueError,
        ["`policy`", "out of range"]),
    "placement-twice": (
        "Placement.memory_lengths", "policy=[1, -1] for 2 layers",
        lambda: Placement([1, -1]).memory_lengths(2), ValueError,
        ["same layer twice"]),
    "attention-heads": (
        "MemoryAttention", "num_heads=0",
        lambda: MemoryAttention(0, 8), ValueError, ["`num_heads`", ">= 1"]),
    "attention-memory-length": (
        "MemoryAttention", "memory_length=-1",
        lambda: MemoryAttention(2, 8, memory_length=-1), ValueError,
        ["`memory_length`", ">= 0"]),
    "attention-dropout": (
        "MemoryAttention", "attention_dropout=1.5",
        lambda: MemoryAttention(2, 8, attention_dropout=1.5), ValueError,
        ["`attention_dropout`"]),
    "attention-flash-dropout": (
        "MemoryAttention", "flash_attention=True, attention_dropout=0.1",
        lambda: MemoryAttention(2, 8, attention_dropout=0.1,
                                flash_attention=True),
        ValueError, ["`flash_attention`", "dropout"]),
    "attention-inputs-rank": (
        "MemoryAttention call", "inputs of shape (2, 16)",
        lambda: MemoryAttention(2, 8)(np.zeros((2, 16), "float32")),
        ValueError, ["`inputs`", "(batch, T, dim)"]),
    "attention-inputs-odd": (
        "MemoryAttention call", "inputs of odd width 15",
        lambda: MemoryAttention(3, 5)(features(width=15)), ValueError,
        ["`inputs`", "even"]),
    "attention-memory-shape": (
        "MemoryAttention call", "memory of 3 rows for memory_length=4",
        lambda: MemoryAttention(2, 8, memory_length=4)(
            features(), features(time=3)), ValueError,
        ["`memory`", "(batch, 4, 16)"]),
    "attention-filled-float": (
        "MemoryAttention call", "filled=[1.0, 2.0]",
        lambda: MemoryAttention(2, 8, memory_length=4)(
            features(), features(time=4), filled=np.array([1.0, 2.0])),
        ValueError, ["`filled`", "integer"]),
    "attention-filled-large": (
        "MemoryAttention call", "filled=[5, 1] for memory_length=4",
        lambda: MemoryAttention(2, 8, memory_length=4)(
            features(), features(time=4), filled=np.array([5, 1])),
        ValueError, ["`filled`", "[0, 4]"]),
    "attention-filled-batch": (
        "MemoryAttention call", "filled of batch 3, inputs of batch 2",
        lambda: MemoryAttention(2, 8, memory_length=4)(
            features(), features(time=4), filled=np.array([1, 1, 1])),
        ValueError, ["`filled`", "(batch,)"]),
    "block-width": (
        "MemoryBlock", "intermediate_dim=0",
        lambda: MemoryBlock(2, 0), ValueError, ["`intermediate_dim`"]),
    "block-empty-time": (
        "MemoryBlock call", "inputs with T=0",
        lambda: block()(features(time=0), features(time=4)), ValueError,
        ["`inputs`", "T >= 1"]),
    "block-filled-negative": (
        "MemoryBlock call", "filled=[-1, 0]",
        lambda: block()(features(), features(time=4),
                        filled=np.array([-1, 0])),
        ValueError, ["`filled`", "[0, 4]"]),
    "stack-placement": (
        "MemoryStack", 'placement="last"',
        lambda: MemoryStack(2, 2, 16, "last"), ValueError, ["`placement`"]),
    "stack-layers": (
        "MemoryStack", "num_layers=0",
        lambda: MemoryStack(0, 2, 16, [4]), ValueError, ["`num_layers`"]),
    "stack-lengths-count": (
        "MemoryStack", "memory_lengths=[4] for 2 layers",
        lambda: MemoryStack(2, 2, 16, memory_lengths=[4]), ValueError,
        ["`memory_lengths`", "one length per layer"]),
    "stack-placement-and-lengths": (
        "MemoryStack", "placement and memory_lengths",
        lambda: MemoryStack(2, 2, 16, placement=Placement("all", None, 4, 4),
                            memory_lengths=[4, 4]), ValueError,
        ["Exactly one of `placement`", "`memory_lengths`"]),
    "stack-no-placement": (
        "MemoryStack", "neither placement nor memory_lengths",
        lambda: MemoryStack(2, 2, 16), ValueError,
        ["Exactly one of `placement`"]),
    "attention-decay-negative": (
        "MemoryAttention", "decay_max=-0.5",
        lambda: MemoryAttention(2, 4, decay_max=-0.5), ValueError,
        ["`decay_max`", "> 0"]),
    "attention-decay-text": (
        "MemoryAttention", 'decay_max="high"',
        lambda: MemoryAttention(2, 4, decay_max="high"), ValueError,
        ["`decay_max`", "number"]),
    "attention-pool-zero": (
        "MemoryAttention", "pool_size=0",
        lambda: MemoryAttention(2, 4, pool_size=0), ValueError,
        ["`pool_size`", ">= 1"]),
    "attention-decay-form": (
        "MemoryAttention", 'decay_form="exponential"',
        lambda: MemoryAttention(2, 4, decay_form="exponential"), ValueError,
        ["`decay_form`", "multiplicative"]),
    "attention-pool-order": (
        "MemoryAttention", 'pool_order="centred"',
        lambda: MemoryAttention(2, 4, pool_order="centred"), ValueError,
        ["`pool_order`", "after_softmax"]),
    "attention-flash-las": (
        "MemoryAttention", "flash_attention=True, pool_size=2",
        lambda: MemoryAttention(2, 8, pool_size=2, flash_attention=True),
        ValueError, ["`flash_attention`", "LaS"]),
    "lm-decay-list": (
        "MemoryTransformerLM", "decay_max=[0.5] for 2 layers",
        lambda: lm(decay_max=[0.5]), ValueError,
        ["`decay_max`", "one entry per layer"]),
    "lm-pool-list": (
        "MemoryTransformerLM", "pool_size=[1, 2, 0] for 2 layers",
        lambda: lm(pool_size=[1, 2, 0]), ValueError,
        ["`pool_size`", "one entry per layer"]),
    "lm-pool-list-entry": (
        "MemoryTransformerLM", "pool_size=[1, 0]",
        lambda: lm(pool_size=[1, 0]), ValueError, ["`pool_size`", ">= 1"]),
    "lm-heads": (
        "MemoryTransformerLM", "d_model=16, num_heads=3",
        lambda: lm(num_heads=3), ValueError, ["`d_model`", "`num_heads`"]),
    "lm-vocab": (
        "MemoryTransformerLM", "vocab_size=-1",
        lambda: lm(vocab_size=-1), ValueError, ["`vocab_size`", ">= 1"]),
    "lm-odd-width": (
        "MemoryTransformerLM", "d_model=15, num_heads=3",
        lambda: lm(d_model=15, num_heads=3), ValueError,
        ["`d_model`", "even"]),
    "lm-dropout": (
        "MemoryTransformerLM", "dropout=-0.1",
        lambda: lm(dropout=-0.1), ValueError, ["`dropout`"]),
    "lm-initial-batch": (
        "MemoryTransformerLM.initial_memory", "batch_size=0",
        lambda: lm().initial_memory(0), ValueError, ["`batch_size`", ">= 1"]),
    "lm-initial-cache-batch": (
        "MemoryTransformerLM.initial_cache", "batch_size=2.5",
        lambda: lm().initial_cache(2.5), ValueError, ["`batch_size`"]),
    "lm-token-list-ragged": (
        "call_with_memory", "token_ids=[[1, 2], [3]] (ragged list)",
        lambda: lm().call_with_memory([[1, 2], [3]], None), ValueError,
        ["`token_ids`", "same length"]),
    "lm-token-float": (
        "call_with_memory", "token_ids of float values",
        lambda: lm().call_with_memory(np.ones((2, 3), "float32"), None),
        ValueError, ["`token_ids`", "integer"]),
    "lm-token-string": (
        "call_with_memory", 'token_ids="abc"',
        lambda: lm().call_with_memory("abc", None), ValueError,
        ["`token_ids`", "(batch, time)"]),
    "lm-token-rank": (
        "call_with_memory", "token_ids of shape (6,)",
        lambda: lm().call_with_memory(np.ones((6,), "int32"), None),
        ValueError, ["`token_ids`", "(batch, time)"]),
    "lm-token-empty": (
        "call_with_memory", "token_ids of shape (2, 0)",
        lambda: lm().call_with_memory(ids(time=0), None), ValueError,
        ["`token_ids`", "time >= 1"]),
    "lm-token-range": (
        "call_with_memory", "a token id of 32 with vocab_size=32",
        lambda: lm().call_with_memory(ids() * 32, None), ValueError,
        ["`token_ids`", "vocab_size=32"]),
    "lm-token-negative": (
        "call_with_memory", "a token id of -1",
        lambda: lm().call_with_memory(-ids(), None), ValueError,
        ["`token_ids`", "[0, vocab_size=32)"]),
    "lm-memory-type": (
        "call_with_memory", "memory=[...] (a list)",
        lambda: lm().call_with_memory(ids(), [features(time=4)]),
        ValueError, ["`memory`", "initial_memory()"]),
    "lm-memory-keys": (
        "call_with_memory", "memory without `filled`",
        lambda: lm().call_with_memory(ids(), {
            k: v for k, v in lm().initial_memory(2).items()
            if k != "filled"}),
        ValueError, ["`memory`", "keys"]),
    "lm-memory-shape": (
        "call_with_memory", "memory_1 of 4 rows (8 expected)",
        lambda: call_lm_with(memory_1=np.zeros((2, 4, 16), "float32")),
        ValueError, ["`memory['memory_1']`", "(2, 8, 16)"]),
    "lm-memory-batch": (
        "call_with_memory", "memory for batch 3, token_ids of batch 2",
        lambda: lm().call_with_memory(ids(), lm().initial_memory(3)),
        ValueError, ["`memory['memory_0']`", "(2, 4, 16)"]),
    "lm-filled-float": (
        "call_with_memory", "filled=[1.5, 2.0]",
        lambda: call_lm_with(filled=np.array([1.5, 2.0])), ValueError,
        ["`filled`", "integer"]),
    "lm-filled-large": (
        "call_with_memory", "filled=[9, 9] with a longest memory of 8",
        lambda: call_lm_with(filled=np.array([9, 9], "int32")), ValueError,
        ["`filled`", "[0, 8]"]),
    "lm-filled-negative": (
        "call_with_memory", "filled=[-1, 0]",
        lambda: call_lm_with(filled=np.array([-1, 0], "int32")), ValueError,
        ["`filled`", "[0, 8]"]),
    "lm-cache-none": (
        "call_with_cache", "cache=None",
        lambda: lm().call_with_cache(ids(), None), ValueError,
        ["`cache`", "initial_cache()"]),
    "lm-cache-memory": (
        "call_with_cache", "a memory state as the cache",
        lambda: lm().call_with_cache(ids(), lm().initial_memory(2)),
        ValueError, ["`cache`", "keys"]),
    "lm-memory-lengths": (
        "with_memory_lengths", 'placement="long"',
        lambda: lm().with_memory_lengths("long"), ValueError,
        ["`placement`"]),
    "classifier-classes": (
        "MemoryTransformerClassifier", "num_classes=1",
        lambda: classifier(num_classes=1), ValueError,
        ["`num_classes`", ">= 2"]),
    "classifier-pooling": (
        "MemoryTransformerClassifier", 'pooling="max"',
        lambda: classifier(pooling="max"), ValueError,
        ["`pooling`", "'mean'", "'last'"]),
    "classifier-decay-list": (
        "MemoryTransformerClassifier", "decay_max=[0.5] for 2 layers",
        lambda: classifier(decay_max=[0.5]), ValueError,
        ["`decay_max`", "one entry per layer"]),
    "classifier-token-range": (
        "MemoryTransformerClassifier call",
        "a token id of 18 with vocab_size=18",
        lambda: classifier()(ids() * 18), ValueError,
        ["`token_ids`", "[0, vocab_size=18)"]),
    "classifier-token-negative": (
        "MemoryTransformerClassifier call", "a token id of -1",
        lambda: classifier()({"token_ids": -ids()}), ValueError,
        ["`token_ids`", "[0, vocab_size=18)"]),
    "classifier-token-rank": (
        "MemoryTransformerClassifier call", "token_ids of shape (6,)",
        lambda: classifier()(np.ones((6,), "int32")), ValueError,
        ["`token_ids`", "(batch, L)"]),
    "classifier-input-keys": (
        "MemoryTransformerClassifier call", "a dict with the key 'ids'",
        lambda: classifier()({"ids": ids()}), ValueError,
        ["`inputs`", "'token_ids'"]),
    "classifier-mask-shape": (
        "MemoryTransformerClassifier call",
        "padding_mask of shape (2, 2) for token_ids of shape (2, 3)",
        lambda: classifier()({"token_ids": ids(),
                              "padding_mask": np.ones((2, 2), bool)}),
        ValueError, ["`padding_mask`", "(2, 3)"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_named(case):
    _, _, call, error, words = CASES[case]
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    for word in words:
        assert word in message, (case, message)


def test_token_ids_as_a_list_are_read_as_an_array():
    model = lm()
    tokens = [[1, 2, 3], [4, 5, 6]]
    from_list, _ = model.call_with_memory(tokens, model.initial_memory(2))
    from_array, _ = model.call_with_memory(np.array(tokens, "int32"),
                                           model.initial_memory(2))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(from_list),
                                  keras.ops.convert_to_numpy(from_array))


def test_a_full_memory_is_accepted_and_counted_per_layer():
    # `filled` may reach the longest memory (8): the shorter layer (4)
    # reads its own 4 rows, as it does when the count comes from a call.
    model = lm()
    full = with_state(model, filled=np.array([8, 8], "int32"))
    _, state = model.call_with_memory(ids(), full)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(state["filled"]), [8, 8])
