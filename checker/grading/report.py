"""A day's grade as the checker reports it: test results, day reports, the JSON report and book links."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from checker.common import Day


@dataclass
class TestResult:
    """One graded test, in the shape of the JSON report."""

    name: str
    task: str
    visibility: str
    outcome: str
    score: float
    max_score: float
    message: str
    property: str = ""
    nodeid: str = ""
    duration: float = 0.0


@dataclass
class DayReport:
    """A day's grade and the results behind it."""

    day: int
    title: str
    available: bool
    impl: str = ""
    score: float = 0.0
    max_score: float = 0.0
    duration: float = 0.0
    error: str = ""
    tests: list[TestResult] = field(default_factory=list)
    protections: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def counts(self, visibility: str) -> tuple[int, int]:
        """(passed, total) among the tests of one visibility."""
        tests = [t for t in self.tests if t.visibility == visibility]
        return sum(t.outcome == "passed" for t in tests), len(tests)

    def all_passed(self) -> bool:
        """Whether the day ran, had tests, and every one passed."""
        return bool(self.tests) and not self.error and all(t.outcome == "passed" for t in self.tests)


def chapter_anchor(title: str) -> str:
    """The anchor mdBook gives a heading such as ``Task 2: Encode and decode``."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).strip().replace(" ", "-")


def book_reference(day: Day, task_id: str) -> str:
    """Where the book explains a task, e.g. ``book/src/day1-block.md#task-2-encode-and-decode``."""
    match = re.fullmatch(r"day\d\.task(\d+)", task_id)
    if not match or int(match[1]) > len(day.tasks):
        return f"book/src/{day.chapter}"
    number = int(match[1])
    return f"book/src/{day.chapter}#{chapter_anchor(f'Task {number}: {day.tasks[number - 1]}')}"


def report_as_dict(days: list[DayReport], impl: str, version: str) -> dict:
    """The JSON report: ``version``, ``impl``, ``score``, ``max_score``, ``days``, ``composed``."""
    available = [d for d in days if d.available]
    return {
        "version": version,
        "impl": impl,
        "score": round(sum(d.score for d in available), 2),
        "max_score": round(sum(d.max_score for d in available), 2),
        "days": [
            {
                "day": d.day,
                "title": d.title,
                "available": d.available,
                "impl": d.impl,
                "score": d.score,
                "max_score": d.max_score,
                "duration": round(d.duration, 2),
                "error": d.error,
                "protections": d.protections,
                "ignored": d.ignored,
                "tests": [{k: v for k, v in asdict(t).items() if k not in ("nodeid", "duration")} for t in d.tests],
            }
            for d in days
        ],
        "composed": None,
    }
