"""Command-line flags for an `Experiment`: one flag per field.

`--help` is made from the fields' own documentation (their `help` and
`choices` metadata in `experiment_config.py`, group by group), with the
recipe's default and, where `--tiny` changes it, the `--tiny` value.
Parsing imports neither TensorFlow nor Keras: `--help` and a bad flag
answer at once.
"""

import argparse
import dataclasses

from keras_lrm.policies import COUNTLESS_POLICIES
from keras_lrm.training.experiment_config import ALLOW_SHORT_CORPORA
from keras_lrm.training.experiment_config import MAX_BYTES_CORPORA
from keras_lrm.training.experiment_config import flag_fields

TINY_HELP = ("a small model, few steps and little data, for a first try "
             "or a test (the values after '--tiny:' below)")


def parse_experiment(defaults, tiny=None, argv=None, description=None,
                     add_flags=None, unused=None):
    """Parses recipe flags into an `Experiment`.

    Every field of `Experiment` is a flag (`--num_layers 12`,
    `--jit_compile/--no-jit_compile`). `--tiny` applies the recipe's small
    overrides (for tests and a first try on a laptop); flags given
    explicitly win over both.

    Args:
        defaults: the recipe's `Experiment`.
        tiny: dict of field overrides applied by `--tiny`.
        argv: arguments (default `sys.argv[1:]`).
        description: help text, printed as written (line breaks kept).
        add_flags: optional `function(parser)` adding a recipe's own flags;
            then returns `(experiment, their values as a dict)`, the dict
            also holding `tiny` (whether `--tiny` was given).
        unused: optional dict of the fields this recipe does not use, each
            with what to use instead; giving one of them is an error, and
            `--help` does not list them.

    Raises:
        ValueError: a value out of range (`Experiment`'s checks), or a
            flag given that has no effect with the others (`--num_long`
            with `--placement all`, an `unused` one).
    """
    own, parents = set(), []
    if add_flags is not None:
        recipe_flags = argparse.ArgumentParser(add_help=False)
        add_flags(recipe_flags)
        own = set(vars(recipe_flags.parse_args([])))
        taken = {field.name for field in flag_fields()}
        clash = own & (taken | {"tiny"})
        if clash:
            raise ValueError(
                "A recipe's own flags must not take the names of Experiment "
                f"fields. Received: {sorted(clash)}"
            )
        parents = [recipe_flags]
    parser = argparse.ArgumentParser(
        description=description, parents=parents,
        formatter_class=HelpFormatter)
    parser.add_argument("--tiny", action="store_true", help=TINY_HELP)
    for field in flag_fields():
        flag = f"--{field.name}"
        text = argparse.SUPPRESS if field.name in (unused or {}) else \
            flag_help(field, defaults, tiny)
        choices = field.metadata.get("choices")
        if field.type is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction,
                                default=None, help=text)
        else:
            metavar = None if choices is None else \
                "{" + ",".join(str(choice) for choice in choices) + "}"
            parser.add_argument(flag, type=field.type, default=None,
                                metavar=metavar, help=text)
    args = vars(parser.parse_args(argv))
    extra = {name: args.pop(name) for name in own}
    experiment = defaults
    # A recipe's own flags may differ with --tiny too (argparse also takes
    # it abbreviated, so the recipe reads it here, not in argv).
    extra["tiny"] = args["tiny"]
    if args.pop("tiny"):
        experiment = dataclasses.replace(experiment, **(tiny or {}))
    given = {name: value for name, value in args.items()
             if value is not None}
    experiment = dataclasses.replace(experiment, **given)
    check_given_flags(experiment, given, unused)
    return experiment if add_flags is None else (experiment, extra)


def flag_help(field, defaults, tiny=None):
    """One field's `--help` line: what it means, then the recipe's default
    and its `--tiny` value where that differs (`...; default 400;
    --tiny: 12`)."""
    value = getattr(defaults, field.name)
    text = f"{field.metadata['help']}; default {_shown(value)}"
    if tiny and field.name in tiny and tiny[field.name] != value:
        text += f"; --tiny: {_shown(tiny[field.name])}"
    # argparse expands %-formats in help.
    return text.replace("%", "%%")


def _shown(value):
    return repr(value) if isinstance(value, str) else str(value)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written (its examples keep their lines); help
    wrapped without breaking `--no-pre_norm` or `Transformer-XL` at a
    hyphen."""

    def _split_lines(self, text, width):
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width,
                             break_on_hyphens=False)


# Flags that do nothing in some settings: (field, the field it depends on,
# the values of that field that make it inert, why). Their defaults are
# ignored there; given explicitly, they fail.
_INERT = (
    ("num_long", "placement", COUNTLESS_POLICIES,
     "placement 'all' and 'none' choose their layers themselves"),
    ("short_length", "placement", ("all",),
     "placement 'all' has no short memory"),
    ("eval_short_length", "placement", ("all",),
     "placement 'all' has no short memory"),
    ("long_length", "placement", ("none",),
     "placement 'none' has no long memory"),
    ("eval_long_length", "placement", ("none",),
     "placement 'none' has no long memory"),
    ("sample_prompt", "export_dir", ("",),
     "the sample is generated by the export, and there is none"),
    ("sample_tokens", "sample_prompt", ("",),
     "there is no sample without a prompt"),
)


def check_given_flags(experiment, given, unused=None):
    """Raises `ValueError` for a flag in `given` (the fields a user set)
    that has no effect: with the other fields (`--num_long` with
    `--placement all`), or one of the recipe's `unused` fields."""
    for name, hint in (unused or {}).items():
        if name in given:
            raise ValueError(
                f"`{name}` is not used by this recipe: {hint}. Received: "
                f"{name}={given[name]!r}"
            )
    for name, other, values, why in _INERT:
        value = getattr(experiment, other)
        if name in given and value in values:
            raise ValueError(
                f"`{name}` has no effect with {other}={value!r}: {why}. "
                f"Received: {name}={given[name]!r}, {other}={value!r}"
            )
    # Options of some corpora.
    for name, corpora in (("corpus_max_bytes", MAX_BYTES_CORPORA),
                          ("corpus_allow_short", ALLOW_SHORT_CORPORA)):
        if name in given and experiment.corpus not in corpora:
            which = " and ".join(repr(corpus) for corpus in corpora)
            noun = "corpora" if len(corpora) > 1 else "corpus"
            raise ValueError(
                f"`{name}` applies to the {which} {noun} only. "
                f"Received: {name}={given[name]!r}, "
                f"corpus={experiment.corpus!r}"
            )


def run_recipe(defaults, tiny, description, argv=None):
    """Parses the flags of a recipe and runs its experiment."""
    experiment = parse_experiment(defaults, tiny, argv, description)
    from keras_lrm.training.experiment import run_experiment

    return run_experiment(experiment)
