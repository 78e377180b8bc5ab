"""``python -m checker graded``: the book's lists of what the grader checks, generated from the tests.

Every ``## Task K`` section of a chapter ends with a subsection "What the grader
checks": one line per visible and hidden test of the task, the sentence the
checker prints for it (the first line of the test's docstring). The counts of
tests the book quotes stand between count markers. Both are read from the test
files with ``ast`` (nothing is imported), so the lists can be regenerated after
any test is added:

    python -m checker graded           # exit 1 and name every list that is out of date
    python -m checker graded --write   # rewrite the chapters and the pages with counts

In a chapter, a list stands between ``<!-- graded:begin day1.task2 -->`` and
``<!-- graded:end -->``; a count between ``<!-- count:day1.visible -->`` (or
``.hidden``, ``.all``) and ``<!-- /count -->``. ``--write`` adds a missing list at
the end of its task's section.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from checker.common import (
    DEFAULT_ROOT,
    END_TO_END_TEST,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Day,
    instructor_only,
    load_days,
    load_grading,
    parse_arguments,
)

COMMAND = "python -m checker graded --write"
"""What to run when a list in the book disagrees with the tests."""

COUNTED_PAGES = ("setup.md",)
"""Pages besides the chapters whose count markers are filled in."""

_MARKER = re.compile(r"^day(\d+)_task(\d+)$")
_BLOCK = re.compile(r"<!-- graded:begin (?P<task>day\d+\.task\d+) -->\n.*?<!-- graded:end -->\n", re.S)
_COUNT = re.compile(r"<!-- count:(?P<what>day\d+\.(?:visible|hidden|all)) -->(?P<value>[^<]*)<!-- /count -->")


@dataclass(frozen=True)
class GradedTest:
    """One test function of a day, as the book lists it."""

    day: int
    task: str  # "day1.task2", or "" when the test has no task marker
    function: str
    sentence: str
    hidden: bool
    items: int  # how many tests pytest collects from it (its parametrized cases)


def _task_marker(decorators: list[ast.expr]) -> tuple[int, int] | None:
    for decorator in decorators:
        node = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(node, ast.Attribute):
            match = _MARKER.match(node.attr)
            if match:
                return int(match[1]), int(match[2])
    return None


def _length(node: ast.expr, names: dict[str, ast.expr]) -> int | None:
    """How many values a parametrize argument holds, when the module says so without running."""
    if isinstance(node, ast.Name) and node.id in names:
        return _length(names[node.id], names)
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        total = 0
        for element in node.elts:
            if isinstance(element, ast.Starred):
                inner = _length(element.value, names)
                if inner is None:
                    return None
                total += inner
            else:
                total += 1
        return total
    if isinstance(node, ast.Dict):
        return len(node.keys) if None not in node.keys else None
    if isinstance(node, ast.ListComp | ast.GeneratorExp) and len(node.generators) == 1 and not node.generators[0].ifs:
        return _length(node.generators[0].iter, names)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _length(node.left, names), _length(node.right, names)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("zip", "enumerate"):
        lengths = [_length(arg, names) for arg in node.args]
        return None if not lengths or None in lengths else min(lengths)  # type: ignore[type-var]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
        if node.func.id in ("list", "tuple", "sorted", "set", "dict"):
            return _length(node.args[0], names)
        if node.func.id == "range" and isinstance(node.args[0], ast.Constant):
            return int(node.args[0].value)
    return None


def _items(function: ast.FunctionDef, names: dict[str, ast.expr], path: Path) -> int:
    count = 1
    for decorator in function.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "parametrize"
            and len(decorator.args) >= 2
        ):
            length = _length(decorator.args[1], names)
            if length is None:
                raise ValueError(
                    f"{path.name}: cannot count the cases of {function.name} without running it; "
                    "give its parametrize a list, or a module-level list, dict or tuple"
                )
            count *= length
    return count


def _sentence(function: ast.FunctionDef) -> str:
    doc = ast.get_docstring(function) or ""
    first = doc.strip().split("\n", 1)[0].strip()
    return first or f"`{function.name}`"


def read_tests(path: Path, day: int) -> list[GradedTest]:
    """The test functions of one test file, in file order."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            names[node.target.id] = node.value
    tests = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            marker = _task_marker(node.decorator_list)
            tests.append(
                GradedTest(
                    day=day,
                    task=f"day{marker[0]}.task{marker[1]}" if marker else "",
                    function=node.name,
                    sentence=_sentence(node),
                    hidden="hidden" in path.parent.name,
                    items=_items(node, names, path),
                )
            )
    return tests


def day_tests(root: Path, day: Day) -> list[GradedTest]:
    """Every visible then every hidden test function of a day."""
    folder = root / "days" / f"day{day.number}"
    files = sorted(folder.glob("test_*.py")) + sorted((folder / "hidden").glob("test_*.py"))
    return [test for path in files for test in read_tests(path, day.number)]


def _bullet(sentence: str) -> str:
    return f"* {sentence}"


def task_block(day: Day, task: int, tests: list[GradedTest], end_to_end_share: float) -> str:
    """The generated subsection for one task, markers included."""
    task_id = f"day{day.number}.task{task}"
    mine = [t for t in tests if t.task == task_id]
    visible = [t for t in mine if not t.hidden]
    hidden = [t for t in mine if t.hidden]
    lines = [f"<!-- graded:begin {task_id} -->", "### What the grader checks", ""]
    if visible:
        lines += [
            f"Visible tests, in `days/day{day.number}/` (`pytest days/day{day.number} -m day{day.number}_task{task}`):",
            "",
            *(_bullet(t.sentence) for t in visible),
            "",
        ]
    if hidden:
        lines += ["Hidden tests, run at grading; when one fails, the checker prints its sentence:", ""]
        for test in hidden:
            line = _bullet(test.sentence)
            if test.function == END_TO_END_TEST and 0 < end_to_end_share < 1:
                line += f" *(the end-to-end scenario: {end_to_end_share:.0%} of the day's points)*"
            lines.append(line)
        lines.append("")
    if not mine:
        lines += ["No test is marked with this task yet.", ""]
    lines.append("<!-- graded:end -->")
    return "\n".join(lines) + "\n"


def _insert(text: str, title: str, block: str) -> str:
    """``text`` with ``block`` added at the end of the section headed ``title``."""
    start = text.index(title)
    following = re.compile(r"^## ", re.M).search(text, start + len(title))
    end = following.start() if following else len(text)
    section = text[start:end].rstrip("\n") + "\n\n" + block + ("\n" if following else "")
    return text[:start] + section + text[end:]


def render_chapter(text: str, day: Day, tests: list[GradedTest], end_to_end_share: float) -> str:
    """The chapter ``text`` with every task's list as the tests say."""
    for task, title in enumerate(day.tasks, start=1):
        block = task_block(day, task, tests, end_to_end_share)
        existing = re.search(
            rf"<!-- graded:begin day{day.number}\.task{task} -->\n.*?<!-- graded:end -->\n", text, re.S
        )
        if existing:
            text = text[: existing.start()] + block + text[existing.end() :]
        else:
            text = _insert(text, f"\n## Task {task}: {title}\n", block)
    return text


def counts(tests_by_day: dict[int, list[GradedTest]]) -> dict[str, int]:
    """``day1.visible`` -> number of visible tests pytest collects on day 1, and so on."""
    result: dict[str, int] = {}
    for number, tests in tests_by_day.items():
        visible = sum(t.items for t in tests if not t.hidden)
        hidden = sum(t.items for t in tests if t.hidden)
        result |= {f"day{number}.visible": visible, f"day{number}.hidden": hidden, f"day{number}.all": visible + hidden}
    return result


def render_counts(text: str, values: dict[str, int]) -> str:
    """``text`` with every count marker filled in."""

    def fill(match: re.Match[str]) -> str:
        what = match["what"]
        value = values.get(what)
        return match[0] if value is None else f"<!-- count:{what} -->{value}<!-- /count -->"

    return _COUNT.sub(fill, text)


def expected_pages(root: Path) -> dict[Path, str]:
    """Every page the generator writes, with the text it should have now."""
    grading = load_grading()
    days = [d for d in load_days() if d.is_available(root)]
    tests_by_day = {day.number: day_tests(root, day) for day in days}
    values = counts(tests_by_day)
    pages: dict[Path, str] = {}
    src = root / "book" / "src"
    for day in days:
        path = src / day.chapter
        text = render_chapter(path.read_text(), day, tests_by_day[day.number], grading.end_to_end_share)
        pages[path] = render_counts(text, values)
    for name in COUNTED_PAGES:
        path = src / name
        if path.exists():
            pages[path] = render_counts(path.read_text(), values)
    return pages


def unmarked_tests(root: Path) -> list[str]:
    """Tests with no task marker: the book cannot list them under a task."""
    return [
        f"day{t.day}: {t.function}"
        for day in load_days()
        if day.is_available(root)
        for t in day_tests(root, day)
        if not t.task
    ]


def out_of_date(root: Path) -> list[Path]:
    """The pages whose lists or counts disagree with the tests."""
    return [path for path, text in expected_pages(root).items() if path.read_text() != text]


def main(argv: list[str]) -> int:
    """Check (or with ``--write`` rewrite) the book's lists of graded tests."""
    parser = argparse.ArgumentParser(
        prog="python -m checker graded",
        description="List, under each task of the book, the sentence of every test that grades it.",
    )
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="the course repository")
    parser.add_argument("--write", action="store_true", help="rewrite the pages that are out of date")
    args = parse_arguments(parser, argv)
    if isinstance(args, int):
        return args
    root = Path(args.root)
    refused = instructor_only(root, "graded")
    if refused:
        print(f"checker: {refused}", file=sys.stderr)
        return EXIT_USAGE
    try:
        pages = expected_pages(root)
    except ValueError as error:
        print(f"checker graded: {error}", file=sys.stderr)
        return EXIT_FAILED
    stale = [path for path, text in pages.items() if path.read_text() != text]
    for name in unmarked_tests(root):
        print(f"warning: {name} has no task marker, so no task lists it", file=sys.stderr)
    if args.write:
        for path in stale:
            path.write_text(pages[path])
            print(f"rewrote {path.relative_to(root)}")
        if not stale:
            print("every list of graded tests is up to date")
        return EXIT_OK
    if stale:
        for path in stale:
            print(f"out of date: {path.relative_to(root)}")
        print(f"run: {COMMAND}")
        return EXIT_FAILED
    print("every list of graded tests is up to date")
    return EXIT_OK
