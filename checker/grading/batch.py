"""``python -m checker grade-many SUBMISSIONS -j N --out DIR [--day N ...] [--similarity]``: grade a whole class.

Every folder inside ``SUBMISSIONS`` is one submission (a copy of a student's
repository), named by the folder. Each is graded by its own ``python -m checker
--submission FOLDER --json ...`` process, on a pristine copy of this course, ``N``
at a time; a progress bar counts them (in a terminal), a line is printed as each
one finishes, and a summary of the class (mean and median total, how many
completed each day) ends the run. ``DIR`` receives:

* ``<name>.json``: the checker's report of that submission (when grading failed:
  ``{"name": ..., "error": ...}``);
* ``gradebook.csv`` (one row per student, a column per day and the total, as
  Canvas and Gradescope import it) and ``gradebook.json`` (every row with its
  details), as ``checker/grading/gradebook.py`` describes them;
* with ``--similarity``: ``similarity.html`` and ``similarity.csv``, written by
  ``python -m checker similarity`` on the same submissions.

A submission whose grading fails gets a row with the error; the batch goes on.
Each grading is bounded by the checker's own limits (``checker/course.toml``).
The exit status is 0 when every submission was graded (whatever its score), 1
when grading failed for some, and 2 for a command line that cannot be carried out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from checker.common import (
    DEFAULT_ROOT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    instructor_only,
    load_grading,
    parse_arguments,
)
from checker.grading.gradebook import GRADEBOOK, summary, write_gradebook
from checker.grading.isolation import limits
from checker.grading.isolation.containment import refusal_without_file_guard

CAUSE = re.compile(r"\b[A-Za-z_.]*(Error|Exception|Interrupt|Exit)\b.*")
"""A line naming an exception, as in ``SyntaxError: invalid syntax``."""
ERROR_LIMIT = 500
"""Characters of an error kept in the gradebook (the report file has the rest)."""


def submissions_in(folder: Path) -> list[Path]:
    """The submissions in ``folder``: its subfolders (not hidden ones), by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def class_submissions(course: Path, folder: Path, command: str) -> list[Path]:
    """The submissions in ``folder`` for ``command`` to take; raises ``UsageError`` when it cannot take them."""
    refusal = instructor_only(course, command)
    if refusal:
        raise UsageError(refusal)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    submissions = submissions_in(folder)
    if not submissions:
        raise UsageError(f"{folder} holds no submission folders")
    return submissions


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def day_error_summary(error: str) -> str:
    """A day's error on one line: what went wrong, and the exception behind it if there is one.

    ``the tests could not be collected: <pytest's traceback> ... E   SyntaxError: invalid syntax``
    becomes ``the tests could not be collected: SyntaxError: invalid syntax``.
    """
    lines = [line.strip().removeprefix("E ").strip() for line in error.strip().splitlines()]
    causes = [found.group(0) for found in map(CAUSE.search, lines) if found]
    head = _first_line(error)
    return f"{head.split(': ', 1)[0]}: {causes[0]}" if causes else head


def gradebook_row(name: str, report: dict) -> dict:
    """The gradebook's row for a submission, from the checker's JSON report."""
    days = [day for day in report["days"] if day["available"]]
    errors = [f"day {day['day']}: {day_error_summary(day['error'])}" for day in days if day["error"]]
    return {
        "name": name,
        "total": report["score"],
        "max": report["max_score"],
        "days": {f"day{day['day']}": day["score"] for day in days},
        "failed_tests": sum(test["outcome"] != "passed" for day in days for test in day["tests"]),
        "error": "; ".join(errors)[:ERROR_LIMIT],
    }


def grade_submission(
    course: Path, submission: Path, out: Path, days: list[int], *, without_landlock: bool = False
) -> dict:
    """Grade one submission in a checker process; its gradebook row (with ``error`` when grading failed)."""
    report_file = out / f"{submission.name}.json"
    report_file.unlink(missing_ok=True)  # never mistake an earlier run's report for this one's
    command = [sys.executable, "-m", "checker", "--root", str(course), "--submission", str(submission)]
    command += ["--json", str(report_file), *(f"--day={day}" for day in days)]
    if without_landlock:
        command.append("--without-landlock")
    # Whatever composition this shell asks for, the checker grades each submission the same way.
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TINYLSM_") or key == limits.PRETEND_NO_LANDLOCK
    }
    started = time.monotonic()
    completed = subprocess.run(
        command, cwd=course, env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    try:
        row = gradebook_row(submission.name, json.loads(report_file.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        said = (completed.stderr.strip() or completed.stdout.strip())[-ERROR_LIMIT:]
        error = f"grading failed (exit status {completed.returncode}): {said or 'no output'}"
        report_file.write_text(json.dumps({"name": submission.name, "error": error}, indent=2))
        return failed_row(submission.name, error, time.monotonic() - started)
    return {**row, "graded": True, "seconds": round(time.monotonic() - started, 1)}


def failed_row(name: str, error: str, seconds: float) -> dict:
    """The gradebook's row for a submission that could not be graded."""
    return {
        "name": name,
        "total": None,
        "max": None,
        "days": {},
        "failed_tests": None,
        "error": error,
        "graded": False,
        "seconds": round(seconds, 1),
    }


def _progress(done: int, total: int, row: dict) -> str:
    if not row["graded"]:
        return f"[{done}/{total}] {row['name']}: ERROR {_first_line(row['error'])[:200]} ({row['seconds']} s)"
    failed = f", {row['failed_tests']} test(s) not passed" if row["failed_tests"] else ""
    problem = f" — {row['error'][:200]}" if row["error"] else ""
    return f"[{done}/{total}] {row['name']}: {row['total']:.1f}/{row['max']:.0f}{failed}{problem} ({row['seconds']} s)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checker grade-many",
        description="Grade every submission folder in SUBMISSIONS, in parallel, into a gradebook (instructors).",
    )
    parser.add_argument("submissions", metavar="SUBMISSIONS", help="a folder holding one folder per submission")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the reports and the gradebook go")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="submissions graded at once")
    parser.add_argument("--day", type=int, action="append", help="grade only this day (repeatable)")
    parser.add_argument(
        "--similarity", action="store_true", help="also compare the code of every pair of submissions (see: similarity)"
    )
    parser.add_argument(
        "--without-landlock",
        action="store_true",
        help="grade on a machine without Landlock, where each submission's code could forge its grade",
    )
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="the course to grade on")
    return parser


def main(argv: list[str]) -> int:
    """Run ``python -m checker grade-many``; the exit status."""
    args = parse_arguments(_parser(), argv)
    if isinstance(args, int):
        return args
    course = Path(args.root).resolve()
    try:
        submissions = class_submissions(course, Path(args.submissions), "grade-many")
        if args.jobs < 1:
            raise UsageError("-j takes a number of submissions at once, 1 or more")
        if GRADEBOOK in {s.name for s in submissions}:
            raise UsageError(f"a submission may not be named {GRADEBOOK}: its report would clash with the gradebook")
        refusal = refusal_without_file_guard()
        if refusal and not args.without_landlock:
            raise UsageError(refusal)
    except UsageError as error:
        print(f"checker: {error}", file=sys.stderr)
        return EXIT_USAGE

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"Grading {len(submissions)} submission(s), {args.jobs} at a time, into {out}", flush=True)
    rows = grade_class(course, submissions, out, args.day or [], args.jobs, without_landlock=args.without_landlock)
    write_gradebook(rows, out)
    print(f"Gradebook: {out / (GRADEBOOK + '.csv')} and {out / (GRADEBOOK + '.json')}")
    for line in summary(rows, load_grading().points_per_day):
        print(line)
    status = EXIT_OK
    failed = [row["name"] for row in rows if not row["graded"]]
    if failed:
        print(f"Grading failed for {len(failed)} submission(s): {', '.join(failed)}")
        status = EXIT_FAILED
    if args.similarity and not compare_class(course, Path(args.submissions).resolve(), out):
        status = EXIT_FAILED
    return status


def grade_class(
    course: Path, submissions: list[Path], out: Path, days: list[int], jobs: int, *, without_landlock: bool = False
) -> list[dict]:
    """Grade ``submissions``, ``jobs`` at a time, with a progress bar and a line for each; their rows, by name."""
    console = Console()
    columns = (TextColumn("Grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    rows = []
    started = time.monotonic()
    with (
        Progress(*columns, console=console, disable=not console.is_terminal) as progress,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        bar = progress.add_task("grading", total=len(submissions))
        futures = {
            pool.submit(grade_submission, course, s.resolve(), out, days, without_landlock=without_landlock): s.name
            for s in submissions
        }
        for done, future in enumerate(as_completed(futures), start=1):
            try:
                row = future.result()
            except Exception as error:  # a failure of the batch itself (e.g. a full disk): note it, go on
                row = failed_row(futures[future], f"{type(error).__name__}: {error}", time.monotonic() - started)
            rows.append(row)
            # Names are the students' folders: printed as they are, never read as markup or wrapped.
            console.print(_progress(done, len(submissions), row), markup=False, highlight=False, soft_wrap=True)
            progress.advance(bar)
    return sorted(rows, key=lambda row: row["name"])


def compare_class(course: Path, folder: Path, out: Path) -> bool:
    """Run ``python -m checker similarity`` on the class into ``out``; whether it ran."""
    command = [sys.executable, "-m", "checker", "similarity", str(folder), "--out", str(out), "--root", str(course)]
    sys.stdout.flush()  # the command prints to the same output: after the summary, not amid it
    completed = subprocess.run(command, cwd=course, stdin=subprocess.DEVNULL, text=True, check=False)
    if completed.returncode != EXIT_OK:
        print(f"The similarity report failed (exit status {completed.returncode}).")
    return completed.returncode == EXIT_OK
