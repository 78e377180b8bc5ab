"""``grade-many``'s gradebook: a CSV that Canvas and Gradescope import, the full rows as JSON, and a summary.

``gradebook.csv`` has one row per submission and, in this order, the columns

    Student, ID, SIS User ID, SIS Login ID, Section, Day 1, ..., Day N, Total

The first five are the student columns of Canvas's own gradebook export. Canvas's
importer refuses any other start of the header as an "Invalid header row": it wants
``Student`` first, ``ID`` second, then optionally ``SIS User ID`` and ``SIS Login
ID``, and ``Section`` as the last student column. ``Student`` and ``SIS Login ID``
are both the submission's folder name, so name each folder by the student's login;
``ID`` (Canvas's own number for the student), ``SIS User ID`` and ``Section`` are
empty. Canvas then matches a row to a student by its ``SIS Login ID`` (failing
that, by the name in ``Student``); Gradescope by the column you map to its SID (or
email): ``SIS Login ID``.
A day column holds the day's points (``points_per_day`` in
``checker/course.toml``), ``Total`` their sum; a submission that could not be
graded has empty scores, which both leave unchanged. Only the days graded get a
column (``--day 3`` gives ``Day 3`` alone).

``gradebook.json`` keeps every detail of every row: ``name``, ``total``, ``max``,
``days`` (``{"day1": points, ...}``), ``failed_tests`` (how many tests did not
pass) and ``error`` (why grading failed, or which days could not run).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

GRADEBOOK = "gradebook"
IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
"""The columns that name the student, as Canvas's own gradebook export names them and its importer requires."""
TOTAL = "Total"
DETAILS = ("name", "total", "max", "days", "failed_tests", "error")
"""The keys of a row that ``gradebook.json`` keeps."""


def day_number(key: str) -> int:
    """``3`` for a row's day key ``day3``."""
    return int(key.removeprefix("day"))


def graded_days(rows: list[dict]) -> list[int]:
    """The days that some row has a score for, in order."""
    return sorted({day_number(key) for row in rows for key in row["days"]})


def _points(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _identity(name: str) -> list[str]:
    """A row's student columns: the folder's name as ``Student`` and ``SIS Login ID``, the others empty."""
    known = {"Student": name, "SIS Login ID": name}
    return [known.get(column, "") for column in IDENTITY]


def write_gradebook(rows: list[dict], out: Path) -> list[str]:
    """Write ``gradebook.csv`` and ``gradebook.json`` for ``rows`` into ``out``; the CSV's columns."""
    days = graded_days(rows)
    columns = [*IDENTITY, *(f"Day {day}" for day in days), TOTAL]
    with (out / f"{GRADEBOOK}.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for row in rows:
            scores = [_points(row["days"].get(f"day{day}")) for day in days]
            writer.writerow([*_identity(row["name"]), *scores, _points(row["total"])])
    details = [{key: row[key] for key in DETAILS} for row in rows]
    (out / f"{GRADEBOOK}.json").write_text(json.dumps(details, indent=2))
    return columns


def summary(rows: list[dict], points_per_day: float) -> list[str]:
    """A few lines on the class: how many were graded, the mean and median total, who completed each day.

    A day is completed when it earned all of its points (every test passed).
    """
    graded = [row for row in rows if row["total"] is not None]
    lines = [f"Graded {len(graded)} of {len(rows)} submission(s)."]
    if not graded:
        return lines
    totals = [row["total"] for row in graded]
    most = graded[0]["max"]
    lines.append(f"Total: mean {statistics.mean(totals):.1f}, median {statistics.median(totals):.1f} (out of {most:g})")
    completed = []
    for day in graded_days(graded):
        scores = [row["days"].get(f"day{day}", 0.0) for row in graded]
        done = sum(math.isclose(score, points_per_day, abs_tol=0.01) for score in scores)
        completed.append(f"day {day}: {done}/{len(graded)}")
    lines.append("Completed (every test passed): " + ", ".join(completed))
    return lines
