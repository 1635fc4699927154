"""keras_lrm's benchmark harness (not part of the library, not imported by
it, not run by the test suite).

Run from the repository root, as `python -m bench <command>` (the list:
`python -m bench --help`) or `python -m bench.<module>`; see
bench/README.md. Importing this package loads nothing beyond the standard
library: the workers pick their Keras backend before Keras loads.
"""
