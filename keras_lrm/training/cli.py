"""Command-line flags for an `Experiment`: one flag per field."""

import argparse
import dataclasses

from keras_lrm.training.experiment import Experiment
from keras_lrm.training.experiment import run_experiment


def parse_experiment(defaults, tiny=None, argv=None, description=None,
                     add_flags=None):
    """Parses recipe flags into an `Experiment`.

    Every field of `Experiment` is a flag (`--num_layers 12`,
    `--jit_compile/--no-jit_compile`). `--tiny` applies the recipe's small
    overrides (for tests and a first try on a laptop); flags given
    explicitly win over both.

    Args:
        defaults: the recipe's `Experiment`.
        tiny: dict of field overrides applied by `--tiny`.
        argv: arguments (default `sys.argv[1:]`).
        description: help text.
        add_flags: optional `function(parser)` adding a recipe's own flags;
            then returns `(experiment, their values as a dict)`.
    """
    own, parents = set(), []
    if add_flags is not None:
        recipe_flags = argparse.ArgumentParser(add_help=False)
        add_flags(recipe_flags)
        own = set(vars(recipe_flags.parse_args([])))
        taken = {field.name for field in dataclasses.fields(Experiment)}
        clash = own & (taken | {"tiny"})
        if clash:
            raise ValueError(
                "A recipe's own flags must not take the names of Experiment "
                f"fields. Received: {sorted(clash)}"
            )
        parents = [recipe_flags]
    parser = argparse.ArgumentParser(
        description=description, parents=parents,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tiny", action="store_true",
                        help="small model and data for a quick end-to-end run")
    for field in dataclasses.fields(Experiment):
        value = getattr(defaults, field.name)
        flag = f"--{field.name}"
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction,
                                default=None, help=f"default {value}")
        else:
            parser.add_argument(flag, type=type(value), default=None,
                                help=f"default {value!r}")
    args = vars(parser.parse_args(argv))
    extra = {name: args.pop(name) for name in own}
    experiment = defaults
    if args.pop("tiny"):
        experiment = dataclasses.replace(experiment, **(tiny or {}))
    given = {name: value for name, value in args.items()
             if value is not None}
    experiment = dataclasses.replace(experiment, **given)
    return experiment if add_flags is None else (experiment, extra)


def run_recipe(defaults, tiny, description, argv=None):
    """Parses the flags of a recipe and runs its experiment."""
    return run_experiment(parse_experiment(defaults, tiny, argv,
                                           description))
