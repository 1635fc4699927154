"""Lint and tooling checks that CI runs with the tests.

`ruff check` with the repository's ruff.toml, and the layout rules of the
benchmark harness (bench/README.md): a package run with `python -m bench`,
no `sys.path` edits, no import cycle, and result files kept in git exactly
where a document cites them.
"""

import ast
import importlib.util
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def test_ruff_check_passes():
    # ruff is in the `test` extra the README's test command installs: a
    # missing ruff is a broken test environment, not a reason to skip.
    assert importlib.util.find_spec("ruff") is not None, (
        "ruff is not installed: pip install -e '.[test]'")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache",
         "--output-format", "concise", "."],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, (
        "ruff check found problems (`python -m ruff check --fix .` fixes "
        "the import order and unused imports):\n" + result.stdout
        + result.stderr)


def _bench_modules():
    """{module name: path} of every module of the bench package."""
    modules = {}
    for path in sorted(BENCH.rglob("*.py")):
        if path.relative_to(BENCH).parts[0].startswith(".venv"):
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _bench_imports(path, modules):
    """The bench modules that the module at `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}"
                                     for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def test_bench_is_a_package_without_path_edits():
    modules = _bench_modules()
    assert "bench" in modules and "bench.peers" in modules
    assert "bench.accelerator" in modules
    edits = [str(path.relative_to(ROOT))
             for path in modules.values()
             if re.search(r"sys\.path\.(insert|append)", path.read_text())]
    assert edits == []


def _find_cycle(graph):
    """A list of names that import each other in a ring, or None."""
    done, stack = set(), []

    def visit(name):
        if name in stack:
            return stack[stack.index(name):] + [name]
        if name in done:
            return None
        stack.append(name)
        for other in sorted(graph[name]):
            cycle = visit(other)
            if cycle:
                return cycle
        stack.pop()
        done.add(name)
        return None

    for name in sorted(graph):
        cycle = visit(name)
        if cycle:
            return cycle
    return None


def test_find_cycle_finds_a_ring():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [
        "a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_bench_imports_form_no_cycle():
    modules = _bench_modules()
    graph = {name: _bench_imports(path, modules)
             for name, path in modules.items()}
    assert graph["bench.driver"] >= {"bench.interleave", "bench.report"}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _cited_results():
    """The bench/results file names that the README or docs/ name."""
    pattern = re.compile(
        r"bench/results/([\w.-]+\.(?:json|notes\.md))"
        r"|\b((?:ab|generation|gpu|gpu-check|gpu-profile|profile|rates)-"
        r"\d[\w.-]*\.(?:json|notes\.md))"
        r"|\b(\d{8}-\d{6}\.(?:json|notes\.md))")
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    cited = set()
    for text in texts:
        for match in pattern.finditer(text.read_text()):
            cited.add(next(group for group in match.groups() if group))
    return cited


def test_bench_results_kept_are_those_the_docs_cite():
    """The files bench/.gitignore keeps (its `!results/...` lines) are the
    ones the docs cite, and, in a git checkout, the ones git tracks."""
    kept = {line.split("/", 1)[1].strip() for line in
            (BENCH / ".gitignore").read_text().splitlines()
            if line.startswith("!results/")}
    cited = _cited_results()
    assert sorted(kept - cited) == [], (
        "bench/.gitignore keeps result files no document cites")
    assert sorted(cited - kept) == [], (
        "documents cite result files bench/.gitignore does not keep: add a "
        "`!results/<name>` line (and git add -f the file)")
    assert all((BENCH / "results" / name).is_file() for name in kept)
    listed = subprocess.run(
        ["git", "ls-files", "bench/results"], cwd=ROOT, capture_output=True,
        text=True)
    if listed.returncode == 0:  # a git checkout (not an unpacked archive)
        tracked = {pathlib.Path(line).name
                   for line in listed.stdout.splitlines()}
        assert tracked == kept, "git tracks other result files than kept"
