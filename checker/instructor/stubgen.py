"""Generate the starter stubs in ``days/`` from the reference in ``solutions/``.

The reference is the single source. Inside it, solution code stands between
marker comments:

    # BEGIN SOLUTION day1.task2      the region becomes one ``raise NotImplementedError``
    ...                              naming the task, the function and the book section
    # END SOLUTION

    # BEGIN SOLUTION                 (no task id) the region is left out of the stub:
    ...                              imports and helpers that only the solution needs
    # END SOLUTION

Everything outside the markers (signatures, docstrings, format constants) is
copied as it is, so stubs and solutions cannot drift: the course's test suite
fails when a committed stub differs from the generated one.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

from checker.common import EXIT_FAILED, EXIT_OK, UsageError, instructor_only

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?:\s+(?P<task>day(?P<day>\d)\.task(?P<num>\d+)))?\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")


class MarkerError(ValueError):
    """The solution's markers are unbalanced or misplaced."""


def _function_names(tree: ast.Module) -> dict[int, str]:
    """Map each line inside a function to the function's qualified name."""
    names: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                for line in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    names[line] = f"{prefix}{child.name}"
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return names


def _trailing_blank_lines(lines: list[str]) -> int:
    count = 0
    for line in reversed(lines):
        if line.strip():
            break
        count += 1
    return count


def not_implemented_message(task: str, function: str) -> str:
    """The message a stub raises, e.g. ``day1.task2: Block.encode — see book: Day 1, Task 2``."""
    day, num = re.fullmatch(r"day(\d)\.task(\d+)", task).groups()  # type: ignore[union-attr]
    return f"{task}: {function} — see book: Day {day}, Task {num}"


def make_stub(source: str, filename: str = "<solution>") -> str:
    """The stub text for one solution module."""
    functions = _function_names(ast.parse(source, filename))
    out: list[str] = []
    region: re.Match[str] | None = None
    # Around a removed region, keep as many blank lines as the larger of the runs
    # before and after it, so the stub is spaced as if the region had never been.
    blanks_before = blanks_after = 0
    after_removed_region = False
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        if after_removed_region:
            if not line.strip():
                blanks_after += 1
                continue
            out.extend(["\n"] * max(blanks_after - blanks_before, 0))
            after_removed_region = False
        if region is None:
            begin = BEGIN.match(line)
            if begin:
                region = begin
                blanks_before = _trailing_blank_lines(out)
                if begin["task"]:
                    function = functions.get(number)
                    if function is None:
                        raise MarkerError(f"{filename}:{number}: a task region must be inside a function")
                    message = not_implemented_message(begin["task"], function)
                    out.append(f'{begin["indent"]}raise NotImplementedError("{message}")\n')
            elif END.match(line):
                raise MarkerError(f"{filename}:{number}: END SOLUTION without BEGIN")
            else:
                out.append(line)
        elif END.match(line):
            after_removed_region, blanks_after = not region["task"], 0
            region = None
        elif BEGIN.match(line):
            raise MarkerError(f"{filename}:{number}: nested BEGIN SOLUTION")
    if region is not None:
        raise MarkerError(f"{filename}: BEGIN SOLUTION without END")
    return re.sub(r"\n{4,}", "\n\n\n", "".join(out)).rstrip() + "\n"


def strip_markers(source: str) -> str:
    """The solution without its marker lines (what the reference reads like)."""
    return "".join(line for line in source.splitlines(keepends=True) if not (BEGIN.match(line) or END.match(line)))


def stub_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Every (solution module, stub module) pair of the course at ``root``."""
    refusal = instructor_only(root, "stubs")
    if refusal:
        raise UsageError(refusal)  # the CLI reports it as a refusal (exit status 2), not a crash
    pairs = []
    for solution in sorted((root / "solutions").glob("day*/*.py")):
        pairs.append((solution, root / "days" / solution.parent.name / solution.name))
    return pairs


def outdated_stubs(root: Path) -> list[Path]:
    """Stubs whose committed text differs from what the solutions generate."""
    return [
        stub
        for solution, stub in stub_pairs(root)
        if not stub.exists() or stub.read_text() != make_stub(solution.read_text(), str(solution))
    ]


def write_stubs(root: Path) -> list[Path]:
    """Regenerate every stub; return the ones that changed."""
    changed = outdated_stubs(root)
    for solution, stub in stub_pairs(root):
        if stub in changed:
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text(make_stub(solution.read_text(), str(solution)))
    return changed


def command_stubs(args: argparse.Namespace) -> int:
    """Run ``python -m checker stubs``: regenerate the stubs, or with ``--check`` list the stale ones."""
    root = Path(args.root).resolve()
    if args.check:
        stale = outdated_stubs(root)
        for path in stale:
            print(f"out of date: {path.relative_to(root)}")
        print("stubs match the solutions" if not stale else "run: python -m checker stubs")
        return EXIT_FAILED if stale else EXIT_OK
    for path in write_stubs(root):
        print(f"wrote {path.relative_to(root)}")
    return EXIT_OK
