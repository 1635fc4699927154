import keras
import pytest

from keras_lrm import Placement

# The paper's 24-layer configurations (Rae & Razavi 2020, Fig. 1 and 3).
PAPER_24 = [
    (("all", None), list(range(24))),
    (("interleaved", 12), list(range(1, 24, 2))),
    (("first", 12), list(range(12))),
    (("last", 12), list(range(12, 24))),
    (("interleaved", 4), [5, 11, 17, 23]),
    (("first", 4), [0, 1, 2, 3]),
    (("last", 4), [20, 21, 22, 23]),
    (("middle", 4), [10, 11, 12, 13]),
    (("first", 1), [0]),
    (("last", 1), [23]),
    (("none", None), []),
]


@pytest.mark.parametrize("args,expected", PAPER_24)
def test_paper_configurations_for_24_layers(args, expected):
    placement = Placement(*args, long_length=2304, short_length=128)
    assert placement.long_layers(24) == expected
    lengths = placement.memory_lengths(24)
    assert [i for i, m in enumerate(lengths) if m == 2304] == expected
    assert all(m == 128 for i, m in enumerate(lengths) if i not in expected)


@pytest.mark.parametrize("num_layers,policy,num_long,expected", [
    (6, "interleaved", 1, [5]),
    (6, "interleaved", 2, [2, 5]),
    (6, "interleaved", 3, [1, 3, 5]),
    (6, "interleaved", 4, [1, 2, 4, 5]),
    (6, "first", 2, [0, 1]),
    (6, "last", 2, [4, 5]),
    (6, "middle", 2, [2, 3]),
    (6, "middle", 3, [1, 2, 3]),
    (12, "interleaved", 2, [5, 11]),
    (12, "interleaved", 6, [1, 3, 5, 7, 9, 11]),
    (12, "middle", 4, [4, 5, 6, 7]),
    (12, "last", 3, [9, 10, 11]),
    (18, "interleaved", 3, [5, 11, 17]),
    (12, [0, -1], None, [0, 11]),
])
def test_documented_layer_choices(num_layers, policy, num_long, expected):
    placement = Placement(policy, num_long, 64, 8)
    assert placement.long_layers(num_layers) == expected


def test_interleaved_always_includes_top_layer_and_spreads_evenly():
    for num_layers in range(1, 30):
        for count in range(1, num_layers + 1):
            layers = Placement("interleaved", count).long_layers(num_layers)
            assert len(set(layers)) == count
            assert layers[-1] == num_layers - 1
            gaps = [b - a for a, b in zip(layers, layers[1:])]
            if gaps:
                assert max(gaps) - min(gaps) <= 1


@pytest.mark.parametrize("kwargs,argument", [
    (dict(policy="interleaved", num_long=25), "num_long"),
    (dict(policy="last", num_long=-1), "num_long"),
    (dict(policy="last", num_long=2, long_length=-5), "long_length"),
    (dict(policy="last", num_long=2, short_length=-1), "short_length"),
    (dict(policy="bottom", num_long=2), "policy"),
    (dict(policy="first"), "num_long"),
    (dict(policy=[0, 24]), "policy"),
    (dict(policy=[1, 1]), "policy"),
    (dict(policy=[1, 2], num_long=3), "num_long"),
    (dict(policy=3), "policy"),
])
def test_bad_arguments_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        Placement(**kwargs).memory_lengths(24)


def test_serialization_round_trip():
    for placement in [Placement("middle", 4, 6000, 512),
                      Placement([3, 7], None, 10, 2)]:
        restored = Placement.from_config(placement.get_config())
        assert restored == placement
        again = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(placement))
        assert again == placement
        assert again.memory_lengths(12) == placement.memory_lengths(12)


def test_with_lengths_keeps_layers_and_changes_lengths():
    train = Placement("interleaved", 4, 2304, 128)
    evaluate = train.with_lengths(long_length=6000)
    assert evaluate.long_layers(24) == train.long_layers(24)
    assert max(evaluate.memory_lengths(24)) == 6000
    assert min(evaluate.memory_lengths(24)) == 128
