"""``python -m checker``: grade the days of a course (or of a submission) and print the report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from checker import __version__
from checker.common import EXIT_FAILED, EXIT_OK, Day, UsageError, load_days, load_grading, selected_days
from checker.grading.composed import compose, describe
from checker.grading.gradescope import results_json
from checker.grading.isolation.containment import adopt_orphans, kill_descendants
from checker.grading.report import DayReport, book_reference, report_as_dict
from checker.grading.run import grade_day
from checker.grading.submission import assemble


def _impl_for_day(root: Path, impl: str, day: int) -> str:
    """Grade day N as ``student:N`` so that a bug in another day is not charged twice."""
    if impl == "solutions":
        if not (root / "solutions").is_dir():
            raise UsageError("--impl solutions: this copy of the course has no solutions/ folder")
        return "solutions"
    return f"student:{day}" if (root / "solutions").is_dir() else "student"


def _print_day(report: DayReport, day: Day, hidden_present: bool, out: Callable[[str], None]) -> None:
    if not report.available:
        out(f"Day {day.number} · {day.title}: not available yet")
        return
    visible, hidden = report.counts("visible"), report.counts("hidden")
    hidden_text = f"hidden {hidden[0]}/{hidden[1]}" if hidden_present else "hidden: run at grading"
    out(
        f"Day {day.number} · {day.title}: visible {visible[0]}/{visible[1]}, {hidden_text}, "
        f"score {report.score:.1f}/{report.max_score:.0f}  ({report.duration:.1f} s, {report.impl})"
    )
    if report.error:
        out(f"    ! {report.error.strip()[:2000]}")
    for test in report.tests:
        if test.outcome == "passed":
            continue
        label = test.property if test.visibility == "hidden" and test.property else test.name
        out(f"    ✗ [{test.task or f'day{day.number}'}] {label} ({test.visibility}, {test.outcome})")
        for line in test.message.splitlines()[:6]:
            out(f"        {line}")
        out(f"        see {book_reference(day, test.task)}")


def command_grade(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    if args.submission:
        with tempfile.TemporaryDirectory(prefix="tinylsm-submission-") as scratch:
            tree = Path(scratch) / "course"
            try:
                taken = assemble(root, Path(args.submission).resolve(), tree)
            except ValueError as error:
                raise UsageError(str(error)) from None
            print(f"Grading {len(taken)} file(s) of the submission on a pristine copy of the course.")
            return _grade(args, tree)
    return _grade(args, root)


def _grade(args: argparse.Namespace, root: Path) -> int:
    started = time.monotonic()
    adopt_orphans()
    days = selected_days(args.day)
    grading = load_grading()
    if args.test_timeout:
        grading = dataclasses.replace(grading, test_timeout=args.test_timeout)
    if args.day_time_limit:
        grading = dataclasses.replace(grading, day_time_limit=args.day_time_limit)
    reports: list[DayReport] = []
    for day in days:
        impl = _impl_for_day(root, args.impl, day.number)
        if sys.stdout.isatty() and day.is_available(root):
            print(f"Day {day.number} · {day.title}: running ...", end="\r", flush=True)
        report = grade_day(root, day, impl, grading)
        hidden_present = (root / "days" / f"day{day.number}" / "hidden").is_dir()
        _print_day(report, day, hidden_present, print)
        reports.append(report)
    graded = [r for r in reports if r.available]
    composed = None
    if not args.day and not args.no_compose and graded and args.impl == "student":
        print()
        composed = compose(root, reports)
        for line in describe(composed):
            print(line)
    data = report_as_dict(reports, args.impl, __version__)
    data["composed"] = composed
    print(f"\nTotal: {data['score']:.1f}/{data['max_score']:.0f}")
    hidden_ran = all((root / "days" / f"day{r.day}" / "hidden").is_dir() for r in graded)
    all_passed = bool(graded) and all(r.all_passed() for r in graded)
    if all_passed:
        if hidden_ran:
            print("Every visible and hidden test passed.")
        else:
            print("Every visible test passed; the hidden tests run only at grading.")
    # nothing the submission started may outlive grading, nor write after the reports are written
    kill_descendants()
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2))
    if args.gradescope:
        by_number = {day.number: day for day in load_days()}
        document = results_json(reports, by_number, grading.hidden_visibility, time.monotonic() - started, composed)
        Path(args.gradescope).write_text(json.dumps(document, indent=2))
    if not graded:
        print("No day is available to grade.")
        return EXIT_FAILED
    return EXIT_OK if all_passed else EXIT_FAILED
