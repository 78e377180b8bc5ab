"""The layout of ``checker`` and ``tinylsm``: who may import whom, and how long a module may grow.

The modules are read with ``ast``, never imported, so that a circle or a wrong
arrow is found even where importing would hide it (an import inside a function
runs only when the function does). Every import counts, wherever it is written,
except those under ``if TYPE_CHECKING:``, which never run, and one kind by
design: an import inside a function of the provided core (``tinylsm/*.py``,
e.g. ``tinylsm.extensions``) is how the core reaches a later day's module only
once that day exists, so it is late binding, not a circle of the layout. A
day's modules (``solutions/dayN`` and ``days/dayN``) are modules of ``tinylsm``,
as the composition makes them at run time. The packages of ``checker`` and what
each may import are the map in CONTRIBUTING.md.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT

MAX_LINES = 600
"""A longer module must say in its docstring why it is one concept."""

ALLOWED: dict[str, set[str]] = {
    "checker": {"checker.cli"},
    "checker.cli": {"checker.common"},
    "checker.common": set(),
    "checker.grading": {"checker", "checker.common", "checker.grading", "tinylsm"},
    "checker.instructor": {"checker.common", "checker.grading", "checker.instructor"},
    "checker.tools": {"checker.common", "checker.tools", "tinylsm"},
    "checker.benchmarks": {"checker.common", "checker.benchmarks", "tinylsm"},
    "checker.figures": {"checker.figures", "checker.tools", "tinylsm"},
}
"""Each part of ``checker`` (a package, or a top-level module) and the parts it may import.

``checker`` is the package's ``__init__`` and ``__main__``; ``checker.grading``
may read ``checker.__version__`` for its report.
"""


def day_module_names() -> set[str]:
    """The names of the modules the days add to ``tinylsm`` (``engine``, ``block``, ...)."""
    return {path.stem for path in (ROOT / "solutions").glob("day*/*.py")}


def public_tinylsm_modules() -> set[str]:
    """The ``tinylsm`` modules a student tool may import: no part of the name starts with ``_``."""
    modules = {"tinylsm"} | {f"tinylsm.{name}" for name in day_module_names()}
    for path in (ROOT / "tinylsm").rglob("*.py"):
        name = module_name(path.relative_to(ROOT))
        if not any(part.startswith("_") for part in name.split(".")):
            modules.add(name)
    return modules


def module_name(relative: Path) -> str:
    """``checker/tools/shell/__init__.py`` -> ``checker.tools.shell``."""
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def course_modules() -> dict[str, list[Path]]:
    """Every module of ``checker`` and ``tinylsm`` by dotted name, with the files that define it."""
    modules: dict[str, list[Path]] = {}
    for package in ("checker", "tinylsm"):
        for path in sorted((ROOT / package).rglob("*.py")):
            modules.setdefault(module_name(path.relative_to(ROOT)), []).append(path)
    for folder in ("solutions", "days"):
        for path in sorted((ROOT / folder).glob("day*/*.py")):
            if not path.name.startswith("test_"):
                modules.setdefault(f"tinylsm.{path.stem}", []).append(path)
    return modules


def is_type_checking(node: ast.If) -> bool:
    """Whether ``node`` is ``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``)."""
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_run(tree: ast.AST, *, in_functions: bool = True) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of ``tree`` that can run (not those under ``if TYPE_CHECKING:``).

    With ``in_functions=False``, imports written inside a function are left out.
    """
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                yield from imports_run(ast.Module(body=[child], type_ignores=[]), in_functions=in_functions)
            continue
        if not in_functions and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from imports_run(node, in_functions=in_functions)


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The course modules that module ``name`` (the file ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    late_binding = path.parent == ROOT / "tinylsm"
    for node in imports_run(ast.parse(path.read_text(), str(path)), in_functions=not late_binding):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            candidates = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for candidate in candidates:
            # ``import a.b.c`` names a module; an attribute of one counts as its module
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


MODULES = course_modules()
GRAPH = {name: set().union(*(imported(name, path, set(MODULES)) for path in paths)) for name, paths in MODULES.items()}


def part_of(module: str) -> str:
    """The part of ``checker`` a module belongs to, as ``ALLOWED`` names them; ``tinylsm`` for the engine."""
    if module.startswith("tinylsm"):
        return "tinylsm"
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "checker"
    return ".".join(parts[:2])


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules, the first repeated at the end), or ``None``."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_walk_finds_the_layout() -> None:
    for name in ("checker.common", "checker.cli", "checker.grading.run", "checker.tools.inspect", "tinylsm.engine"):
        assert name in MODULES, f"{name} is not among the modules found: {sorted(MODULES)}"
    assert "checker.grading.report" in GRAPH["checker.grading.run"], "the import graph misses a plain import"


def test_find_cycle_reports_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circles() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_tinylsm_never_imports_checker() -> None:
    arrows = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.startswith("tinylsm")
        for target in targets
        if target.startswith("checker")
    )
    assert not arrows, f"the engine depends on the grader: {arrows}"


def test_checker_common_imports_no_checker_module() -> None:
    inner = sorted(t for t in GRAPH["checker.common"] if t.startswith("checker"))
    assert not inner, f"checker.common imports {inner}; every command imports it, so it must import none of them"


def test_student_tools_use_only_public_tinylsm_modules() -> None:
    public = public_tinylsm_modules()
    arrows = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.startswith("checker.tools")
        for target in targets
        if target.startswith("tinylsm") and target not in public
    )
    assert not arrows, f"a student tool reaches into tinylsm's private modules: {arrows}"


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_what_the_map_allows(part: str) -> None:
    arrows = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.startswith("checker") and part_of(module) == part
        for target in targets
        if part_of(target) != part and part_of(target) not in ALLOWED[part]
    )
    assert not arrows, f"{part} may import only {sorted(ALLOWED[part])} (CONTRIBUTING.md), but: {arrows}"


def test_every_part_of_checker_is_on_the_map() -> None:
    unmapped = sorted({part_of(m) for m in MODULES if m.startswith("checker")} - set(ALLOWED))
    assert not unmapped, f"parts of checker missing from the map (CONTRIBUTING.md and ALLOWED): {unmapped}"


def test_the_map_in_contributing_names_every_part() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    for part in ALLOWED:
        if part == "checker":
            continue
        path = part.replace(".", "/")
        folder_or_file = f"`{path}/`" if (ROOT / path).is_dir() else f"`{path}.py`"
        assert f"| {folder_or_file} |" in text, f"CONTRIBUTING.md's map of the checker has no row for {folder_or_file}"


@pytest.mark.parametrize("package", ["checker", "tinylsm"])
def test_long_modules_say_why_they_are_one_concept(package: str) -> None:
    too_long = []
    for path in sorted((ROOT / package).rglob("*.py")):
        lines = len(path.read_text().splitlines())
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and "one concept" not in docstring:
            too_long.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not too_long, (
        f"modules over {MAX_LINES} lines whose docstring does not say why they are one concept: {too_long}"
    )
