"""Keyword options passed through a factory (`get_corpus`, `get_tokenizer`),
checked so that a misspelled or missing one is a `ValueError` naming it."""

import inspect


def check_options(target, options, what, skip=()):
    """Raises `ValueError` unless `target` takes exactly these `options`
    (every required argument given, none unknown); `skip` names the
    arguments the factory passes itself."""
    parameters = {name: p for name, p in
                  inspect.signature(target).parameters.items()
                  if name not in skip and name not in ("self", "cls")}
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ValueError(
            f"{what} takes the options {sorted(parameters)}, not "
            f"{unknown}. Received: {unknown[0]}={options[unknown[0]]!r}"
        )
    missing = [name for name, p in parameters.items()
               if p.default is p.empty and name not in options and
               p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if missing:
        raise ValueError(
            f"{what} needs the option `{missing[0]}`. "
            f"Received: {missing[0]}=None"
        )


def make_with_options(cls, options, **given):
    """`cls(**given, **options)` after `check_options`."""
    check_options(cls.__init__, options, cls.__name__, skip=tuple(given))
    return cls(**given, **options)
