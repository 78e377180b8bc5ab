"""The book builds, its links resolve, and its hexdumps and code blocks match the reference."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from checker.grading.report import chapter_anchor
from tests.helpers import ROOT, assert_book_builds, available_days, run

SRC = ROOT / "book" / "src"
PAGES = sorted(SRC.rglob("*.md"))
HEXDUMP = re.compile(r"<!-- hexdump: (?P<expr>.+?) -->\n```text\n(?P<body>.*?)\n```", re.S)
PYTHON_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.S)
DUMP_LINE = re.compile(r"^(?P<offset>[0-9a-f]{8})  (?P<bytes>[0-9a-f]{2}(?: [0-9a-f]{2})*)(?:  .*)?$")
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def test_book_builds_without_warnings(tmp_path: Path) -> None:
    assert_book_builds(ROOT / "book", tmp_path / "html")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {chapter_anchor(m[1]) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_internal_links_and_anchors_resolve(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for match in LINK.finditer(text):
        target = match["target"]
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        assert destination.exists(), f"{page.name}: link to {target} leads nowhere"
        if anchor and destination.suffix == ".md":
            assert anchor in anchors(destination), f"{page.name}: no heading for #{anchor} in {destination.name}"


@pytest.mark.parametrize("day", available_days(), ids=lambda d: f"day{d.number}")
def test_chapter_has_a_heading_for_every_task(day) -> None:
    text = (SRC / day.chapter).read_text()
    for number, title in enumerate(day.tasks, start=1):
        assert f"\n## Task {number}: {title}\n" in text, f"{day.chapter} lacks '## Task {number}: {title}'"


def evaluate_with_reference(expressions: list[str]) -> list[str]:
    code = (
        "import json, sys\nfrom tinylsm.testkit import *\n"
        "print(json.dumps([eval(e).hex() for e in json.loads(sys.argv[1])]))"
    )
    completed = run([sys.executable, "-c", code, json.dumps(expressions)], env={"TINYLSM_IMPL": "solutions"})
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


HEXDUMPS = [(page, m) for page in PAGES for m in HEXDUMP.finditer(page.read_text())]


@pytest.mark.parametrize("page,match", HEXDUMPS, ids=[f"{p.name}-{i}" for i, (p, _) in enumerate(HEXDUMPS)] or None)
def test_hexdump_matches_the_reference(page: Path, match: re.Match[str]) -> None:
    expected = bytes.fromhex(evaluate_with_reference([match["expr"]])[0])
    shown = bytearray()
    for line in match["body"].splitlines():
        parsed = DUMP_LINE.match(line)
        assert parsed, f"{page.name}: hexdump line not in the pinned shape: {line!r}"
        assert int(parsed["offset"], 16) == len(shown), f"{page.name}: wrong offset on line {line!r}"
        shown += bytes.fromhex(parsed["bytes"])
    assert bytes(shown) == expected, f"{page.name}: dump of {match['expr']} differs:\n{expected.hex(' ')}"


CODE_BLOCKS = [
    (page, m["code"])
    for page in PAGES
    for m in PYTHON_BLOCK.finditer(page.read_text())
    if "<!-- excerpt -->" not in m["before"]
]


@pytest.mark.parametrize("page,code", CODE_BLOCKS, ids=[f"{p.name}-{i}" for i, (p, _) in enumerate(CODE_BLOCKS)])
def test_python_blocks_run_against_the_reference(page: Path, code: str, tmp_path: Path) -> None:
    completed = run([sys.executable, "-c", code], env={"TINYLSM_IMPL": "solutions"}, cwd=tmp_path)
    assert completed.returncode == 0, f"{page.name}: a code block failed:\n{code}\n{completed.stderr}"


def test_every_task_lists_what_the_grader_checks() -> None:
    """Each chapter's "What the grader checks" lists and the book's test counts agree with the tests."""
    from checker.instructor.graded import COMMAND, out_of_date

    stale = [str(path.relative_to(ROOT)) for path in out_of_date(ROOT)]
    assert not stale, f"the lists of graded tests in {stale} disagree with the tests: run {COMMAND}"


@pytest.mark.parametrize("day", available_days(), ids=lambda d: f"day{d.number}")
def test_the_books_test_counts_match_what_pytest_collects(day) -> None:
    """The counts read from the test files with ast are the number of tests pytest collects."""
    from checker.instructor.graded import counts, day_tests

    expected = counts({day.number: day_tests(ROOT, day)})
    completed = run(
        [sys.executable, "-m", "pytest", f"days/day{day.number}", "--hidden", "--collect-only", "-q"],
        env={"TINYLSM_IMPL": "solutions"},
        cwd=ROOT,
    )
    match = re.search(r"(\d+) tests? collected", completed.stdout)
    assert match, completed.stdout[-2000:]
    assert int(match[1]) == expected[f"day{day.number}.all"], f"ast counts {expected}, pytest collects {match[1]}"
