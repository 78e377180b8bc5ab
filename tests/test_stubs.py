"""The starter stubs: generated from the solutions, importable, and all unimplemented."""

from __future__ import annotations

import ast
import re
import sys

import pytest

from checker.common import load_days
from checker.instructor.stubgen import outdated_stubs, stub_pairs
from tests.helpers import ROOT, run

PAIRS = stub_pairs(ROOT)
TASK_IDS = {task for day in load_days() for task in day.task_ids()}


def test_committed_stubs_are_the_generated_ones() -> None:
    stale = [str(path.relative_to(ROOT)) for path in outdated_stubs(ROOT)]
    assert not stale, f"stubs differ from the solutions; run `python -m checker stubs`: {stale}"


def test_every_day_module_has_a_solution_and_a_stub() -> None:
    solutions = {p.relative_to(ROOT / "solutions") for p in (ROOT / "solutions").glob("day*/*.py")}
    stubs = {p.relative_to(ROOT / "days") for p in (ROOT / "days").glob("day*/*.py") if not p.name.startswith("test_")}
    assert solutions == stubs


def test_module_names_are_unique_across_days() -> None:
    names = [path.name for path, _ in PAIRS]
    assert len(names) == len(set(names)), f"two days provide the same module: {sorted(names)}"


@pytest.mark.parametrize("solution,stub", PAIRS, ids=[f"{s.parent.name}/{s.name}" for s, _ in PAIRS])
def test_stub_imports_cleanly(solution, stub) -> None:
    module = f"tinylsm.{stub.stem}"
    completed = run([sys.executable, "-c", f"import {module}"], env={"TINYLSM_IMPL": "student"})
    assert completed.returncode == 0, f"{module} (stub) does not import:\n{completed.stderr}"


@pytest.mark.parametrize("solution,stub", PAIRS, ids=[f"{s.parent.name}/{s.name}" for s, _ in PAIRS])
def test_stub_messages_name_a_task_of_the_course_and_its_book_section(solution, stub) -> None:
    messages = re.findall(r'raise NotImplementedError\("([^"]*)"\)', stub.read_text())
    assert messages, f"{stub} raises no NotImplementedError: nothing for the student to do?"
    for message in messages:
        match = re.fullmatch(r"(day(\d)\.task(\d+)): [\w.]+ — see book: Day (\d), Task (\d+)", message)
        assert match, f"malformed stub message {message!r}"
        assert match[1] in TASK_IDS, f"{message!r} names a task that checker/course.toml does not declare"
        assert (match[2], match[3]) == (match[4], match[5])


def public_signatures(path) -> dict[str, str]:
    """``{"Class.method": "(args) -> returns"}`` for every public function and ``__init__``."""
    found: dict[str, str] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, f"{node.name}.")
            elif isinstance(node, ast.FunctionDef) and (not node.name.startswith("_") or node.name == "__init__"):
                returns = ast.unparse(node.returns) if node.returns else ""
                found[prefix + node.name] = f"({ast.unparse(node.args)}) -> {returns}"

    visit(ast.parse(path.read_text()).body, "")
    return found


@pytest.mark.parametrize("solution,stub", PAIRS, ids=[f"{s.parent.name}/{s.name}" for s, _ in PAIRS])
def test_stub_and_solution_have_the_same_public_signatures(solution, stub) -> None:
    assert public_signatures(stub) == public_signatures(solution)
