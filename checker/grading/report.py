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
    engine_raised: bool = False
    """Whether the engine raised during the test (a test that passes so passed on a refusal)."""
    invariant: bool = False
    """Whether code that does nothing passes the test too (``@pytest.mark.invariant``)."""


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


# -- the text report ---------------------------------------------------------------------------------------------

_STUB = re.compile(r"NotImplementedError: day(\d+)\.task\d+")


def stub_day(test: TestResult) -> int | None:
    """The day whose unwritten code (a stub's ``NotImplementedError``) stopped the test, if that is why it failed.

    A test that caught the error and said so (``raised NotImplementedError instead of ...``) stopped at its own day.
    """
    first_line = test.message.split("\n", 1)[0]
    if test.outcome == "passed" or "NotImplementedError" not in first_line:
        return None
    match = _STUB.search(first_line) or _STUB.search(f"NotImplementedError: {test.task}")
    return int(match[1]) if match else None


def day_status(report: DayReport) -> str:
    """``not available``, ``error``, ``complete``, ``not started`` (every test stops at a stub) or ``started``."""
    if not report.available:
        return "not available"
    if report.error or not report.tests:
        return "error"
    if report.all_passed():
        return "complete"
    if all(stub_day(test) is not None for test in report.tests):
        return "not started"
    return "started"


@dataclass
class TaskSummary:
    """One task of a day: its score, the first of its tests that failed (a visible one if any did), and
    how many passed on a refusal, or as an invariant, for part of their points (see ``run.share_refusals``)."""

    task: str
    title: str
    score: float
    max_score: float
    first_failure: TestResult | None
    partly_earned: int = 0


def task_summaries(report: DayReport, day: Day) -> list[TaskSummary]:
    """The day's tasks in order, then the tests that belong to no task (if any), each with its score."""
    ids = day.task_ids()
    groups = [(task, f"Task {k} · {title}") for k, (task, title) in enumerate(zip(ids, day.tasks, strict=True), 1)]
    if any(test.task not in ids for test in report.tests):
        groups.append(("", "Other tests"))
    summaries = []
    for task, title in groups:
        tests = [t for t in report.tests if (t.task if t.task in ids else "") == task]
        # a visible test first: the student can run it
        failures = sorted((t for t in tests if t.outcome != "passed"), key=lambda t: t.visibility != "visible")
        score, max_score = sum(t.score for t in tests), sum(t.max_score for t in tests)
        partly_earned = sum(is_partly_earned(t) for t in tests)
        summaries.append(TaskSummary(task, title, score, max_score, failures[0] if failures else None, partly_earned))
    return summaries


def is_partly_earned(test: TestResult) -> bool:
    """Whether a test passed but earned only part of its points (on a refusal, or as an invariant)."""
    return test.outcome == "passed" and test.score < test.max_score


def failure_label(test: TestResult) -> str:
    """How a failing test is named: by the property it checks, and a visible one also by its name (to run it)."""
    if not test.property:
        return test.name
    if test.visibility == "hidden":
        return test.property
    return f"{test.property} [{test.name}]"


def test_command(day: Day, impl: str, task: str) -> str:
    """The pytest command that runs a task's tests (the day's, for ``task == ""``) as the checker composed them."""
    command = f"pytest days/day{day.number}"
    if task:
        command += f" -m {task.replace('.', '_')}"
    if impl not in ("", "student", "student:1"):
        command += f" --impl {impl}"
    return command


def next_step(reports: list[DayReport], days: dict[int, Day]) -> str:
    """The report's last line: the first unfinished task of the first unfinished day, or that nothing is left."""
    unfinished = [r for r in reports if day_status(r) not in ("not available", "complete")]
    if unfinished:
        return _next_in_day(unfinished[0], days[unfinished[0].day])
    if not any(report.available for report in reports):
        return "Next: nothing to grade yet — no day of this course has tests."
    return "Next: nothing left — every task of the days graded here is complete."


def _next_in_day(report: DayReport, day: Day) -> str:
    """``Next: day N, task M — <title> — <command> — see <link>`` for the first task of the day with a failure."""
    if day_status(report) == "error":
        command = test_command(day, report.impl, "")
        return f"Next: day {day.number} — make its tests load — {command} — see book/src/{day.chapter}"
    task = next(t for t in task_summaries(report, day) if t.first_failure is not None)
    if not task.task:
        command = test_command(day, report.impl, "")
        what = failure_label(task.first_failure)
        return f"Next: day {day.number} — {what} — {command} — see book/src/{day.chapter}"
    number = int(task.task.rsplit("task", 1)[1])
    return (
        f"Next: day {day.number}, task {number} — {day.tasks[number - 1]} — "
        f"{test_command(day, report.impl, task.task)} — see {book_reference(day, task.task)}"
    )
