"""The grading report in Gradescope's ``results.json`` format.

Each test becomes one Gradescope test with a number ``DAY.INDEX`` (``"3.04"``),
its score, status, a message (what went wrong, and where the book explains it),
its visibility and tags (the day and the task). Hidden tests get the visibility
``hidden_visibility`` from ``checker/course.toml``; their output names the
property that broke, never the test's code.
"""

from __future__ import annotations

from checker.common import Day
from checker.grading.report import DayReport, book_reference


def results_json(
    reports: list[DayReport], days: dict[int, Day], hidden_visibility: str, execution_time: float, composed: dict | None
) -> dict:
    """The whole ``results.json`` document."""
    tests = []
    for report in reports:
        if not report.available:
            continue
        for index, test in enumerate(report.tests, start=1):
            output = ""
            if test.outcome != "passed":
                what = f"{test.property}\n" if test.visibility == "hidden" and test.property else ""
                output = f"{what}{test.message}\n\nSee {book_reference(days[report.day], test.task)}"
            tests.append(
                {
                    "name": f"[{test.task or f'day{report.day}'}] {test.name}",
                    "number": f"{report.day}.{index:02d}",
                    "score": test.score,
                    "max_score": test.max_score,
                    "status": "passed" if test.outcome == "passed" else "failed",
                    "output": output,
                    "visibility": "visible" if test.visibility == "visible" else hidden_visibility,
                    "tags": [f"day{report.day}", test.task] if test.task else [f"day{report.day}"],
                }
            )
    summary = [
        f"Day {r.day} · {r.title}: {r.score:.1f}/{r.max_score:.0f}"
        + (f" — {r.error.splitlines()[0]}" if r.error else "")
        for r in reports
        if r.available
    ]
    if composed is not None:
        summary.append("Composed engine: " + ("passed" if composed["ok"] else f"failed ({composed['error']})"))
    return {
        "score": round(sum(r.score for r in reports if r.available), 2),
        "execution_time": round(execution_time, 1),
        "output": "\n".join(summary),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
