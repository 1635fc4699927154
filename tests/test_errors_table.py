"""docs/errors.md and the tests of its rows name the same bad inputs.

Each section of the table is tested row by row in one module (named in
the section's `<!-- rows: ... -->` comment). This test reads the table and
each module's rows and checks that they are the same rows, so that a row
cannot be documented untested, or tested undocumented.
"""

import collections
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "docs", "errors.md")
SECTION = re.compile(r"<!-- rows: (\S+) -->")


def cells(line):
    """The cells of a Markdown table row; `\\|` is a `|` inside a cell."""
    parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [part.replace("\\|", "|").strip() for part in parts]


def plain(text):
    """A cell without the code marks and spacing that only format it."""
    return " ".join(text.replace("`", "").split())


def documented():
    """`{module: Counter of (entry point, bad input)}` from the table."""
    rows = collections.defaultdict(collections.Counter)
    module = None
    with open(TABLE, encoding="utf-8") as handle:
        for line in handle:
            found = SECTION.search(line)
            if found:
                module = found.group(1)
                continue
            if module is None or not line.startswith("|"):
                continue
            row = cells(line)
            if row[0] in ("entry point", "") or set(row[0]) <= set("-: "):
                continue
            rows[module][(plain(row[0]), plain(row[1]))] += 1
    return rows


def layers_rows():
    from tests import test_errors_layers

    return [case[:2] for case in test_errors_layers.CASES.values()]


def data_rows():
    from tests.data import test_errors_data

    return [row[:2] for row in test_errors_data.ROWS]


def export_rows():
    from tests import test_errors_export

    return [row[:2] for row in test_errors_export.ROWS]


def training_rows():
    from tests import test_errors_training

    # The diverging run is tested in tests/test_checkpoint_safety.py.
    return list(test_errors_training.TABLE.values()) + [
        ("run_experiment", "training diverges (a NaN loss)")]


def recipes_rows():
    from tests import test_errors_recipes as t

    def flags(given):
        return " ".join("''" if flag == "" else flag for flag in given)

    def keywords(given):
        return ", ".join(f"{key}={value!r}" for key, value in given.items())

    recipe = ("recipe flag (quickstart, enwik8, wikitext103, pg19, tune; "
              "parse_experiment)")
    rows = [(recipe, flags(given)) for given, _ in t.FLAG_ROWS]
    rows += [("Experiment(...)", keywords(given))
             for given, _ in t.FIELD_ROWS]
    rows += [("recipes/tune.py", flags(given)) for given, _ in t.TUNE_ROWS]
    rows += [("MemoryHyperModel(experiment, vocab_size, ...)",
              keywords(given)) for given, _ in t.HYPERMODEL_ROWS]
    for given, _ in t.SEARCH_ROWS:
        given = dict(given)
        if "results" in given:
            rows.append(("run_search(experiment, ...)",
                         "an existing <run_dir>/tuning.json holding "
                         f"{given['results']!r}"))
        else:
            rows.append(("run_search(experiment, ...)", keywords(given)))
    # Tested in tests/test_tuning_faults.py (a real damaged tuner state).
    rows.append(("run_search / recipes/tune.py (a rerun)",
                 "the tuner's oracle.json truncated (a kill while "
                 "KerasTuner wrote it)"))
    rows += [(f"python recipes/{name}.py (a real process)", flags(given))
             for name, given, _, _ in t.PROCESS_ROWS]
    return rows


MODULES = {
    "tests/test_errors_layers.py": layers_rows,
    "tests/data/test_errors_data.py": data_rows,
    "tests/test_errors_training.py": training_rows,
    "tests/test_errors_recipes.py": recipes_rows,
    "tests/test_errors_export.py": export_rows,
}


def test_every_section_names_a_module_of_rows():
    assert set(documented()) == set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_table_lists_the_rows_the_module_tests(module):
    tested = collections.Counter(
        (plain(entry), plain(bad)) for entry, bad in MODULES[module]())
    table = documented()[module]
    assert tested, module
    assert not tested - table, f"tested but not in docs/errors.md: " \
        f"{sorted(tested - table)}"
    assert not table - tested, f"in docs/errors.md but not tested: " \
        f"{sorted(table - tested)}"
