"""The workflow of a GitHub Classroom template (``python -m checker export classroom DIR``).

The template is the student release (``export student``) plus
``.github/workflows/classroom.yml``, a GitHub Actions workflow in the shape
GitHub Classroom's autograding reads: a workflow named ``Autograding Tests``
with one job, ``run-autograding-tests``, that installs the course, then runs one
``classroom-resources/autograding-command-grader`` step per day and ends with
``classroom-resources/autograding-grading-reporter``, which adds up the steps
listed in its ``runners`` (each step's ``result`` output reaches it in the
variable ``<STEP ID>_RESULTS``).

Each day's step runs ``python -m checker --day N`` in the student's repository:
the checker exits 0 only when every test of the day passed. A student's
repository has no hidden tests, so this grades the **visible tests only**, and a
day earns all of its points (``points_per_day`` in ``checker/course.toml``) or
none. The hidden tests are graded by Gradescope or ``grade-many``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from checker.common import Day, Grading, load_days, load_grading

WORKFLOW = Path(".github") / "workflows" / "classroom.yml"
"""Where the workflow goes in the template repository."""

WORKFLOW_NAME = "Autograding Tests"
JOB = "run-autograding-tests"
"""GitHub Classroom reads scores only from a workflow and a job with exactly these names."""

GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
PYTHON_VERSION = "3.12"
INSTALL = 'python -m pip install -e ".[dev]"'
STARTUP_MINUTES = 2
"""Minutes a step may take beyond the day's own time limit: starting Python and collecting the tests."""


def step_id(day: Day) -> str:
    """The id of a day's step: letters and digits only, as the reporter's ``runners`` list requires."""
    return f"day{day.number}"


def day_command(day: Day) -> str:
    """The command that grades one day in a student's repository; it exits 0 only when the day is complete."""
    return f"python -m checker --day {day.number}"


def result_of(day: Day) -> str:
    """The expression that hands a day's ``result`` output to the reporter."""
    return f"${{{{steps.{step_id(day)}.outputs.result}}}}"


def _quoted(text: str) -> str:
    """``text`` as a double-quoted YAML scalar (a JSON string is one)."""
    return json.dumps(text, ensure_ascii=False)


def workflow(days: list[Day], grading: Grading, python: str = PYTHON_VERSION) -> str:
    """The text of ``classroom.yml`` for ``days``, each worth ``grading.points_per_day``, run on Python ``python``."""
    timeout = math.ceil(grading.day_time_limit / 60) + STARTUP_MINUTES
    points = f"{grading.points_per_day:g}"
    lines = [
        "# GitHub Classroom autograding: one step per day of the course, each worth the day's points",
        "# when every visible test of the day passes. Written by `python -m checker export classroom`.",
        f"name: {_quoted(WORKFLOW_NAME)}",
        '"on":',
        "  - push",
        "  - repository_dispatch",
        "permissions:",
        "  checks: write",
        "  actions: read",
        "  contents: read",
        "jobs:",
        f"  {JOB}:",
        "    runs-on: ubuntu-latest",
        "    if: github.actor != 'github-classroom[bot]'",
        "    steps:",
        "      - name: Check out the code",
        "        uses: actions/checkout@v4",
        "      - name: Set up Python",
        "        uses: actions/setup-python@v5",
        "        with:",
        f"          python-version: {_quoted(python)}",
        "      - name: Install the course",
        f"        run: {_quoted(INSTALL)}",
    ]
    for day in days:
        title = f"Day {day.number} · {day.title} (visible tests)"
        lines += [
            f"      - name: {_quoted(title)}",
            f"        id: {step_id(day)}",
            f"        uses: {GRADER}",
            "        with:",
            f"          test-name: {_quoted(title)}",
            f"          command: {_quoted(day_command(day))}",
            f"          timeout: {timeout}",
            f"          max-score: {points}",
        ]
    lines += [
        "      - name: Autograding Reporter",
        f"        uses: {REPORTER}",
        "        env:",
        *(f"          {step_id(day).upper()}_RESULTS: {_quoted(result_of(day))}" for day in days),
        "        with:",
        f"          runners: {','.join(step_id(day) for day in days)}",
    ]
    return "\n".join(lines) + "\n"


def write_workflow(course: Path, repository: Path, python: str | None = None) -> Path:
    """Write the workflow for the days that ``course`` has into ``repository``; its path.

    ``python`` is the version the workflow sets up (a release's compiled reference runs on one only).
    """
    days = [day for day in load_days() if day.is_available(course)]
    path = repository / WORKFLOW
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(workflow(days, load_grading(), python or PYTHON_VERSION))
    return path
