"""The library's own exception types, and how the recipes report errors.

The API raises; a recipe run from the command line prints the message of a
user's error (a bad flag, a missing or damaged file, a run that diverged)
on stderr, without a traceback, and exits with status 1. Set
`KERAS_LRM_TRACEBACK=1` to see the traceback as well.

Imports nothing heavy, so that a recipe's `--help` stays fast.
"""

import os
import sys
import traceback


class NonFiniteError(RuntimeError):
    """Training produced a non-finite loss, weight or optimizer value.

    The message names the step and the last good checkpoint, which is kept.
    """


# What a user can cause and fix: bad arguments and values, files that are
# missing, unreadable or damaged (CorruptDataError is a ValueError), and a
# run that diverged.
USER_ERRORS = (ValueError, OSError, NonFiniteError)


def _user_errors():
    """`USER_ERRORS`, and TensorFlow's file errors once it is loaded: a
    folder that cannot be made or read (`tf.io.gfile` raises these, with
    the path in the message, where Python would raise `OSError`)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return USER_ERRORS
    return USER_ERRORS + (tf.errors.NotFoundError,
                          tf.errors.PermissionDeniedError,
                          tf.errors.AlreadyExistsError,
                          # "... is not a directory"
                          tf.errors.FailedPreconditionError)


def run_main(main, argv=None):
    """Runs a recipe's `main(argv)` for the command line.

    A user's error (see `USER_ERRORS`) prints `error: <message>` on stderr
    and exits with status 1; anything else (a bug) keeps its traceback.

    Returns:
        What `main` returns.
    """
    try:
        return main(argv)
    except Exception as error:
        if not isinstance(error, _user_errors()):
            raise
        if os.environ.get("KERAS_LRM_TRACEBACK"):
            traceback.print_exc()
        message = str(error).strip() or type(error).__name__
        print(f"error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
