"""`Experiment`: the fields of a run, grouped by concern, each documented once.

A run's settings come in five groups, each a dataclass that checks its own
fields when it is made:

- `DataConfig`: the corpus, its tokenizer and where its TFRecords go;
- `ModelConfig`: the model's sizes and its memory placement;
- `TrainingConfig`: the batch, the optimizer, the seed and the hardware;
- `EvaluationConfig`: how the validation (and test) splits are read;
- `OutputConfig`: checkpoints, logs, export, sample and progress.

`Experiment` composes them with the run's `name`. Every field of every
group is a recipe flag of the same name; its `help` (in the field's
metadata) is what `--help` prints, so the flags and their documentation
cannot drift apart (`flag_fields()` lists them in `--help` order).

An `Experiment` is made either way, and both keep working:

    Experiment(name="run", num_layers=12, train_steps=500)      # by flag
    Experiment(name="run", model=ModelConfig(num_layers=12),
               training=TrainingConfig(train_steps=500))       # by group

Flat names read and write their group's field (`experiment.num_layers` is
`experiment.model.num_layers`), and `dataclasses.replace(experiment,
train_steps=9)` takes them too. `flat_dict()` gives every field by flag
name (what `results.json` records), and `Experiment(**flat_dict)` makes an
equal experiment; a group may also be given as a dict (what
`dataclasses.asdict` writes).

Imports neither TensorFlow nor Keras, so that a recipe's flags (and its
`--help`) parse in a fraction of a second; the checks of the values import
them only to name an error.
"""

import dataclasses
import os

# Re-exported: the groups and the values their fields take.
from keras_lrm.training.config_groups import ALLOW_SHORT_CORPORA  # noqa: F401
from keras_lrm.training.config_groups import CORPORA  # noqa: F401
from keras_lrm.training.config_groups import GROUP_OF
from keras_lrm.training.config_groups import GROUPS
from keras_lrm.training.config_groups import MAX_BYTES_CORPORA  # noqa: F401
from keras_lrm.training.config_groups import POLICIES  # noqa: F401
from keras_lrm.training.config_groups import PRECISIONS  # noqa: F401
from keras_lrm.training.config_groups import STRATEGIES  # noqa: F401
from keras_lrm.training.config_groups import TOKENIZER_NAMES  # noqa: F401
from keras_lrm.training.config_groups import VERBOSE  # noqa: F401
from keras_lrm.training.config_groups import DataConfig
from keras_lrm.training.config_groups import EvaluationConfig
from keras_lrm.training.config_groups import ModelConfig
from keras_lrm.training.config_groups import OutputConfig
from keras_lrm.training.config_groups import TrainingConfig
from keras_lrm.training.config_groups import flag_field


@dataclasses.dataclass(init=False)
class Experiment:
    """Everything a run needs: its `name` and five groups of settings.

    Every field of every group is also a recipe flag (see the module
    docstring for the two ways to make one). Making one checks every
    field: `ValueError` naming the first one out of range.

    Args:
        name: the run's name (its folder under `checkpoint_dir`, `log_dir`
            and `export_dir`).
        data: a `DataConfig` (or a dict of its fields).
        model: a `ModelConfig` (or a dict of its fields).
        training: a `TrainingConfig` (or a dict of its fields).
        evaluation: an `EvaluationConfig` (or a dict of its fields).
        output: an `OutputConfig` (or a dict of its fields).
        **fields: any group's fields by flag name, which override the
            values of the groups given.
    """

    name: str = flag_field(
        "quickstart", "run name: its folder under checkpoint_dir, log_dir "
        "and export_dir")
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(
        default_factory=TrainingConfig)
    evaluation: EvaluationConfig = dataclasses.field(
        default_factory=EvaluationConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)

    def __init__(self, name="quickstart", data=None, model=None,
                 training=None, evaluation=None, output=None, **fields):
        unknown = sorted(set(fields) - set(GROUP_OF))
        if unknown:
            raise TypeError(
                "Experiment() got unexpected keyword arguments: "
                f"{', '.join(unknown)}")
        from keras_lrm.training.experiment_checks import check_name
        from keras_lrm.training.experiment_checks import check_together

        check_name(name)
        self.name = name
        given = {"data": data, "model": model, "training": training,
                 "evaluation": evaluation, "output": output}
        for group, cls in GROUPS.items():
            value = given[group]
            changes = {key: fields[key] for key in fields
                       if GROUP_OF[key] == group}
            if value is None:
                value = cls(**changes)
            else:
                if isinstance(value, dict):
                    value = cls(**value)
                elif not isinstance(value, cls):
                    raise ValueError(
                        f"`{group}` must be a {cls.__name__} (or a dict of "
                        f"its fields). Received: {group}={value!r}"
                    )
                # A copy: two experiments never share a group.
                value = dataclasses.replace(value, **changes)
            setattr(self, group, value)
        check_together(self)

    def flat_dict(self):
        """Every field by its flag name (`name` first, then the groups'
        fields in `--help` order): what `results.json` records."""
        flat = {"name": self.name}
        for group in GROUPS:
            flat.update(dataclasses.asdict(getattr(self, group)))
        return flat

    @property
    def window_length(self):
        """Tokens per stream read by one training step:
        `bptt_segments * segment_length`."""
        return self.training.bptt_segments * self.training.segment_length

    def placement_for(self, long_length, short_length):
        """The `Placement` of the run, with these memory lengths."""
        return self.model.placement_for(long_length, short_length)

    @property
    def run_dir(self):
        return os.path.join(self.output.checkpoint_dir, self.name)


def _flat_property(name, group):
    def get(self):
        return getattr(getattr(self, group), name)

    def set(self, value):
        setattr(getattr(self, group), name, value)

    return property(get, set, doc=f"`self.{group}.{name}`.")


for _name, _group in GROUP_OF.items():
    setattr(Experiment, _name, _flat_property(_name, _group))
del _name, _group


def flag_fields():
    """The fields that are flags, in `--help` order: `Experiment.name`,
    then every group's fields."""
    name = next(field for field in dataclasses.fields(Experiment)
                if field.name == "name")
    return [name] + [field for cls in GROUPS.values()
                     for field in dataclasses.fields(cls)]
