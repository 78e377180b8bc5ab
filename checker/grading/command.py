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

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from checker import __version__
from checker.common import (
    EXIT_FAILED,
    EXIT_OK,
    Day,
    Grading,
    UsageError,
    load_days,
    load_grading,
    selected_days,
)
from checker.grading.composed import compose, describe
from checker.grading.gradescope import results_json
from checker.grading.isolation.containment import (
    adopt_orphans,
    kill_descendants,
    missing_file_guard,
    refusal_without_file_guard,
)
from checker.grading.report import (
    DayReport,
    TaskSummary,
    book_reference,
    day_status,
    failure_label,
    is_partly_earned,
    next_step,
    report_as_dict,
    stub_day,
    task_summaries,
)
from checker.grading.run import grade_day
from checker.grading.submission import assemble


def _impl_for_day(root: Path, impl: str, day: int) -> str:
    """Grade day N as ``student:N`` so that a bug in another day is not charged twice."""
    if impl == "solutions":
        if not (root / "solutions").is_dir():
            raise UsageError("--impl solutions: this copy of the course has no solutions/ folder")
        return "solutions"
    return f"student:{day}" if (root / "solutions").is_dir() else "student"


_STYLE = {"complete": "green", "not started": "yellow", "error": "red", "started": ""}


def day_lines(report: DayReport, day: Day, hidden_present: bool, verbose: bool = False) -> list[Text]:
    """The report of one day: a line, then (for a started day) a line per task, or every failure with ``verbose``."""
    if not report.available:
        return [Text(f"Day {day.number} · {day.title}: not available yet", style="dim")]
    status = day_status(report)
    visible, hidden = report.counts("visible"), report.counts("hidden")
    hidden_text = f"hidden {hidden[0]}/{hidden[1]}" if hidden_present else "hidden: run at grading"
    line = Text(
        f"Day {day.number} · {day.title}: visible {visible[0]}/{visible[1]}, {hidden_text}, "
        f"score {report.score:.1f}/{report.max_score:.0f}  ({report.duration:.1f} s, {report.impl})"
    )
    if status != "started":
        line.append(f" — {_status_text(report, status)}", style=_STYLE[status])
    lines = [line]
    if report.error:
        error = report.error.strip()[:2000].splitlines()
        lines += [Text(f"    ! {text}", style="red") for text in (error if verbose else error[:3])]
    if verbose:
        lines += _failure_lines(report, day)
    elif status == "started":
        lines += [_task_line(task, day) for task in task_summaries(report, day)]
    return lines


def _status_text(report: DayReport, status: str) -> str:
    """``not started``, with the earlier day whose unwritten code stopped the tests if it is not this one."""
    if status != "not started":
        return status
    earlier = sorted({stub_day(test) for test in report.tests} - {report.day})
    return f"not started (its tests stop first at day {earlier[0]}'s unwritten code)" if earlier else status


def _task_line(task: TaskSummary, day: Day) -> Text:
    """``✓ Task 1 · Block builder: 30.0/30.0``, or ``✗`` with the first failing test and the task's book link."""
    score = f"{task.score:.1f}/{task.max_score:.1f}"
    if task.first_failure is None:
        return Text.assemble("    ", ("✓", "green"), f" {task.title}: {score}")
    failure = f"{failure_label(task.first_failure)} ({task.first_failure.visibility})"
    link = f" — see {book_reference(day, task.task)}"
    line = Text.assemble("    ", ("✗", "red"), f" {task.title}: {score} — {failure}", (link, "dim"))
    if task.partly_earned:
        count = task.partly_earned
        which = (
            "1 test that code doing nothing or refusing would also pass earns part of its points"
            if count == 1
            else f"{count} tests that code doing nothing or refusing would also pass earn part of their points"
        )
        line.append(
            f"\n      ({which} until the task's other tests pass: -v lists {'it' if count == 1 else 'them'})",
            style="dim",
        )
    return line


def _failure_lines(report: DayReport, day: Day) -> list[Text]:
    """Every failing test (and every test that passed for part of its points) with its message and book link."""
    lines = []
    for test in report.tests:
        if test.outcome == "passed" and not is_partly_earned(test):
            continue
        task = test.task or f"day{day.number}"
        mark, outcome = (
            ("◐", f"passed, {test.score:.1f}/{test.max_score:.1f}") if test.outcome == "passed" else ("✗", test.outcome)
        )
        lines.append(
            Text.assemble(
                "    ",
                (mark, "yellow" if mark == "◐" else "red"),
                f" [{task}] {failure_label(test)} ({test.visibility}, {outcome})",
            )
        )
        lines += [Text(f"        {line}") for line in test.message.splitlines()[:6]]
        lines.append(Text(f"        see {book_reference(day, test.task)}", style="dim"))
    return lines


def command_grade(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    if args.submission:
        refusal = refusal_without_file_guard()
        if refusal and not args.without_landlock:
            raise UsageError(refusal)
        if refusal:
            print(f"Warning: {missing_file_guard()}; graded anyway (--without-landlock).", file=sys.stderr)
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
    grading = _grading(args)
    with GradingProgress() as progress:
        reports = [_grade_one(root, day, args.impl, grading, progress) for day in days]
        graded = [r for r in reports if r.available]
        composed = None
        if not args.day and not args.no_compose and graded and args.impl == "student":
            progress.note("composed engine: running the end-to-end scenario")
            composed = compose(root, reports)
    data = report_as_dict(reports, args.impl, __version__)
    data["composed"] = composed
    _print_report(root, reports, days, composed, data, args.verbose)
    all_passed = bool(graded) and all(r.all_passed() for r in graded)
    # nothing the submission started may outlive grading, nor write after the reports are written
    kill_descendants()
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2))
    if args.gradescope:
        by_number = {day.number: day for day in load_days()}
        document = results_json(reports, by_number, grading.hidden_visibility, time.monotonic() - started, composed)
        Path(args.gradescope).write_text(json.dumps(document, indent=2))
    return EXIT_OK if all_passed else EXIT_FAILED


def _grading(args: argparse.Namespace) -> Grading:
    """The course's grading settings, with the time limits given on the command line."""
    grading = load_grading()
    if args.test_timeout:
        grading = dataclasses.replace(grading, test_timeout=args.test_timeout)
    if args.day_time_limit:
        grading = dataclasses.replace(grading, day_time_limit=args.day_time_limit)
    if args.disk_limit_mb:
        grading = dataclasses.replace(grading, disk_limit_mb=args.disk_limit_mb)
    return grading


def _grade_one(root: Path, day: Day, impl: str, grading: Grading, progress: GradingProgress) -> DayReport:
    if not day.is_available(root):
        return grade_day(root, day, _impl_for_day(root, impl, day.number), grading)
    report = grade_day(root, day, _impl_for_day(root, impl, day.number), grading, progress=progress.start(day))
    progress.finish(day, report)
    return report


def _print_report(
    root: Path, reports: list[DayReport], days: list[Day], composed: dict | None, data: dict, verbose: bool
) -> None:
    """The report on stdout: a line per day (a line per task of a started day), the composed engine, the next step."""
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    by_number = {day.number: day for day in days}
    for report in reports:
        hidden_present = (root / "days" / f"day{report.day}" / "hidden").is_dir()
        for line in day_lines(report, by_number[report.day], hidden_present, verbose):
            console.print(line)
    if composed is not None:
        console.print()
        for line in describe(composed):
            console.print(Text(line))
    console.print(Text(f"\nTotal: {data['score']:.1f}/{data['max_score']:.0f}"))
    graded = [r for r in reports if r.available]
    if graded and all(r.all_passed() for r in graded):
        hidden_ran = all((root / "days" / f"day{r.day}" / "hidden").is_dir() for r in graded)
        if hidden_ran:
            console.print(Text("Every visible and hidden test passed.", style="green"))
        else:
            console.print(Text("Every visible test passed; the hidden tests run only at grading.", style="green"))
    if not graded:
        console.print(Text("No day is available to grade."))
    console.print(Text(next_step(reports, by_number), style="bold"))


class GradingProgress:
    """Tests done per day, on stderr: a progress display on a terminal, a few plain lines otherwise."""

    def __init__(self) -> None:
        self._console = Console(stderr=True, highlight=False)
        self._bars: Progress | None = None
        if self._console.is_terminal:
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("tests"))
            self._bars = Progress(*columns, TimeElapsedColumn(), console=self._console, transient=True)

    def __enter__(self) -> GradingProgress:
        if self._bars is not None:
            self._bars.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bars is not None:
            self._bars.stop()

    def start(self, day: Day) -> Callable[[int, int], None]:
        """A callback ``(tests done, tests collected)`` for the run of ``day``'s tests."""
        if self._bars is not None:
            bars, bar = self._bars, self._bars.add_task(f"Day {day.number} · {day.title}", total=None)
            return lambda done, total: bars.update(bar, completed=done, total=total)
        shown = [-1]

        def plain(done: int, total: int) -> None:
            quarter = done * 4 // total if total else 0
            if quarter != shown[0]:
                shown[0] = quarter
                self.note(f"day {day.number}: {done}/{total} tests")

        return plain

    def finish(self, day: Day, report: DayReport) -> None:
        if self._bars is None:
            self.note(f"day {day.number}: graded in {report.duration:.1f} s")

    def note(self, text: str) -> None:
        if self._bars is not None:
            self._bars.console.print(Text(text, style="dim"))
        else:
            print(text, file=sys.stderr, flush=True)
