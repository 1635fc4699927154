"""`Experiment` grouped by concern, and the one set-up path of a run."""

import dataclasses

import keras
import keras_tuner
import numpy as np
import pytest

from keras_lrm.training import DataConfig
from keras_lrm.training import Experiment
from keras_lrm.training import ModelConfig
from keras_lrm.training import TrainingConfig
from keras_lrm.training.experiment_config import GROUPS
from keras_lrm.training.experiment_config import flag_fields

SMALL = dict(num_layers=2, d_model=16, num_heads=2, d_ff=32, batch_size=2,
             segment_length=8, long_length=16, short_length=4)


def test_flat_and_grouped_construction_make_the_same_experiment():
    flat = Experiment(name="run", corpus="text", train_steps=7, **SMALL)
    grouped = Experiment(
        name="run", data=DataConfig(corpus="text"),
        model=ModelConfig(num_layers=2, d_model=16, num_heads=2, d_ff=32,
                          long_length=16, short_length=4),
        training=TrainingConfig(batch_size=2, segment_length=8,
                                train_steps=7))
    assert flat == grouped
    assert flat.model.num_layers == flat.num_layers == 2
    assert flat.training.train_steps == 7
    # What results.json records, and what `dataclasses.asdict` writes,
    # make the experiment again.
    assert Experiment(**flat.flat_dict()) == flat
    assert Experiment(**dataclasses.asdict(flat)) == flat
    assert list(flat.flat_dict()) == [f.name for f in flag_fields()]
    # A flag given beside its group wins over the group's value.
    assert Experiment(model=ModelConfig(num_layers=3), num_layers=4) \
        .model.num_layers == 4


def test_replace_takes_flat_names_and_never_shares_a_group():
    base = Experiment(**SMALL)
    other = dataclasses.replace(base, train_steps=9)
    assert other.train_steps == 9 and base.train_steps == 1000
    twin = dataclasses.replace(base, name="twin")
    twin.num_layers = 1
    assert twin.model.num_layers == 1 and base.num_layers == 2


def test_every_flag_belongs_to_exactly_one_group():
    names = [field.name for field in flag_fields()]
    assert len(names) == len(set(names)) == 55
    grouped = {field.name for cls in GROUPS.values()
               for field in dataclasses.fields(cls)}
    assert set(names) - grouped == {"name"}


def test_a_group_checks_its_own_fields():
    with pytest.raises(ValueError, match="`d_model` must be divisible"):
        ModelConfig(d_model=64, num_heads=3)
    with pytest.raises(ValueError, match="`learning_rate` must be a"):
        TrainingConfig(learning_rate=-1.0)
    with pytest.raises(ValueError, match="`data_dir` must name a folder"):
        Experiment(data={"data_dir": ""})


def test_set_up_scopes_the_dtype_policy_to_the_run():
    from keras_lrm.training import set_up

    before = keras.config.dtype_policy().name
    experiment = Experiment(strategy="cpu", precision="mixed_bfloat16",
                            **SMALL)
    with set_up(experiment) as run:
        assert run.policy == "mixed_bfloat16"
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == before
    with pytest.raises(RuntimeError, match="stop"):
        with set_up(experiment):
            raise RuntimeError("stop")
    assert keras.config.dtype_policy().name == before


def test_a_trial_is_the_model_a_run_builds():
    """The memory search builds its trials through `build_model`, the
    set-up path of `run_experiment`: same model, same optimizer."""
    from keras_lrm.training import build_model
    from keras_lrm.tuning import MemoryHyperModel

    experiment = Experiment(**SMALL)
    hypermodel = MemoryHyperModel(experiment, 40, policies=["last"],
                                  long_lengths=[16], short_lengths=[4])
    hp = keras_tuner.HyperParameters()
    hp.Fixed("policy", "last")
    trial = hypermodel.build(hp)
    keras.utils.set_random_seed(hypermodel.trial_seed(hp))
    trial_experiment, _ = hypermodel.trial_experiment(hp)
    model = build_model(trial_experiment, 40, "bpc")
    def config(layer):
        return {k: v for k, v in layer.get_config().items() if k != "name"}

    assert config(model.lm) == config(trial.lm)
    assert config(model.optimizer) == config(trial.optimizer)
    for a, b in zip(model.get_weights(), trial.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_las_flags_reach_the_chosen_layers():
    from keras_lrm.training.setup import build_lm

    experiment = Experiment(num_layers=3, d_model=16, num_heads=2, d_ff=32,
                            placement="last", num_long=1, long_length=8,
                            short_length=4, decay_max=0.5, pool_size=2,
                            las_layers="short")
    lm = build_lm(experiment, vocab_size=40)
    assert lm.decay_max == [0.5, 0.5, None]
    assert lm.pool_size == [2, 2, 1]
    everywhere = build_lm(dataclasses.replace(experiment, las_layers="all"),
                          vocab_size=40)
    assert everywhere.decay_max == 0.5 and everywhere.pool_size == 2
    plain = build_lm(dataclasses.replace(experiment, decay_max=0.0,
                                         pool_size=1), vocab_size=40)
    assert plain.decay_max is None and plain.pool_size == 1
