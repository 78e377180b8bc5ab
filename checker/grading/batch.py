"""``python -m checker grade-many SUBMISSIONS -j N --out DIR [--day N ...]``: grade a whole class.

Every folder inside ``SUBMISSIONS`` is one submission (a copy of a student's
repository), named by the folder. Each is graded by its own ``python -m checker
--submission FOLDER --json ...`` process, on a pristine copy of this course, ``N``
at a time; a progress line is printed as each one finishes. ``DIR`` receives:

* ``<name>.json``: the checker's report of that submission (when grading failed:
  ``{"name": ..., "error": ...}``);
* ``gradebook.csv`` and ``gradebook.json``: one row per submission with its
  ``name``, ``total``, ``max``, the score of each day, the number of tests that did
  not pass (``failed_tests``) and ``error`` (why grading failed, or the days whose
  tests could not run).

A submission whose grading fails gets a row with the error; the batch goes on.
Each grading is bounded by the checker's own limits (``checker/course.toml``).
The exit status is 0 when every submission was graded (whatever its score), 1
when grading failed for some, and 2 for a command line that cannot be carried out.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from checker.common import DEFAULT_ROOT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, instructor_only, parse_arguments

GRADEBOOK = "gradebook"
CAUSE = re.compile(r"[A-Za-z_.]*(Error|Exception|Interrupt|Exit)\b.*")
"""A line naming an exception, as in ``SyntaxError: invalid syntax``."""
ERROR_LIMIT = 500
"""Characters of an error kept in the gradebook (the report file has the rest)."""


def submissions_in(folder: Path) -> list[Path]:
    """The submissions in ``folder``: its subfolders (not hidden ones), by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def day_error_summary(error: str) -> str:
    """A day's error on one line: what went wrong, and the exception behind it if there is one.

    ``the tests could not be collected: <pytest's traceback> ... E   SyntaxError: invalid syntax``
    becomes ``the tests could not be collected: SyntaxError: invalid syntax``.
    """
    lines = [line.strip().removeprefix("E ").strip() for line in error.strip().splitlines()]
    cause = next((line for line in lines if CAUSE.match(line)), "")
    head = _first_line(error)
    return f"{head.split(': ', 1)[0]}: {cause}" if cause and cause not in head else head


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


def grade_submission(course: Path, submission: Path, out: Path, days: list[int]) -> dict:
    """Grade one submission in a checker process; its gradebook row (with ``error`` when grading failed)."""
    report_file = out / f"{submission.name}.json"
    report_file.unlink(missing_ok=True)  # never mistake an earlier run's report for this one's
    command = [sys.executable, "-m", "checker", "--root", str(course), "--submission", str(submission)]
    command += ["--json", str(report_file), *(f"--day={day}" for day in days)]
    # Whatever composition this shell asks for, the checker grades each submission the same way.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TINYLSM_")}
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


def write_gradebook(rows: list[dict], out: Path) -> list[str]:
    """Write ``gradebook.csv`` and ``gradebook.json`` in ``out``; the CSV's columns."""
    day_columns = sorted({day for row in rows for day in row["days"]}, key=lambda day: int(day.removeprefix("day")))
    columns = ["name", "total", "max", *day_columns, "failed_tests", "error"]
    with (out / f"{GRADEBOOK}.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({**{k: v for k, v in row.items() if k in columns}, **row["days"]})
    plain = [{key: row[key] for key in ("name", "total", "max", "days", "failed_tests", "error")} for row in rows]
    (out / f"{GRADEBOOK}.json").write_text(json.dumps(plain, indent=2))
    return columns


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
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="the course to grade on")
    return parser


def main(argv: list[str]) -> int:
    """Run ``python -m checker grade-many``; the exit status."""
    args = parse_arguments(_parser(), argv)
    if isinstance(args, int):
        return args
    course = Path(args.root).resolve()
    refusal = instructor_only(course, "grade-many")
    folder = Path(args.submissions)
    if refusal is None and not folder.is_dir():
        refusal = f"{folder} is not a folder"
    submissions = submissions_in(folder) if refusal is None else []
    if refusal is None and not submissions:
        refusal = f"{folder} holds no submission folders"
    if refusal is None and args.jobs < 1:
        refusal = "-j takes a number of submissions at once, 1 or more"
    if refusal is None and GRADEBOOK in {s.name for s in submissions}:
        refusal = f"a submission may not be named {GRADEBOOK}: its report would clash with the gradebook"
    if refusal:
        print(f"checker: {refusal}", file=sys.stderr)
        return EXIT_USAGE

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    days = args.day or []
    print(f"Grading {len(submissions)} submission(s), {args.jobs} at a time, into {out}", flush=True)
    rows = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(grade_submission, course, s.resolve(), out, days): s.name for s in submissions}
        for done, future in enumerate(as_completed(futures), start=1):
            try:
                row = future.result()
            except Exception as error:  # a failure of the batch itself (e.g. a full disk): note it, go on
                row = failed_row(futures[future], f"{type(error).__name__}: {error}", time.monotonic() - started)
            rows.append(row)
            print(_progress(done, len(submissions), row), flush=True)
    rows.sort(key=lambda row: row["name"])
    write_gradebook(rows, out)
    failed = [row["name"] for row in rows if not row["graded"]]
    print(f"Gradebook: {out / (GRADEBOOK + '.csv')} and {out / (GRADEBOOK + '.json')}")
    if failed:
        print(f"Grading failed for {len(failed)} submission(s): {', '.join(failed)}")
        return EXIT_FAILED
    return EXIT_OK
