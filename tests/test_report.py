"""The checker's text report: a line per day, a line per task of a started day, and where to go next."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

from checker.common import load_days
from checker.grading.command import day_lines
from checker.grading.pytest_plugin import failure_message
from checker.grading.report import DayReport, day_status, next_step
from checker.grading.report import TestResult as Result
from tests.helpers import ROOT, checker

DAYS = {day.number: day for day in load_days()}
ANSI = re.compile(r"\x1b\[")


def _test(task: str, outcome: str, message: str = "", visibility: str = "visible", name: str = "test_x") -> Result:
    score = 10.0 if outcome == "passed" else 0.0
    return Result(name, task, visibility, outcome, score, 10.0, message, property=f"{name} went wrong")


def _stub(task: str, **kwargs: str) -> Result:
    day = task.split(".")[0]
    message = f"NotImplementedError: {task}: Something — see book: Day {day[3:]}, Task 1"
    return _test(task, "failed", message, **kwargs)


def _report(day: int, tests: list[Result]) -> DayReport:
    score = sum(t.score for t in tests)
    return DayReport(day, DAYS[day].title, True, f"student:{day}", score, 100.0, tests=tests)


def _text(report: DayReport, verbose: bool = False) -> list[str]:
    return [line.plain for line in day_lines(report, DAYS[report.day], True, verbose)]


def test_a_day_whose_tests_all_stop_at_its_own_stubs_is_one_line_not_started() -> None:
    caught = _test("day2.task2", "failed", "decode raised NotImplementedError instead of CorruptionError")
    report = _report(2, [_stub("day2.task1"), _stub("day2.task3", visibility="hidden"), caught])
    lines = _text(report)
    assert day_status(report) == "not started"
    assert len(lines) == 1 and lines[0].endswith("— not started"), f"expected one 'not started' line, got {lines}"


def test_a_started_day_has_a_line_per_task_with_its_first_failing_property() -> None:
    tests = [
        _test("day1.task1", "passed"),
        _test("day1.task2", "failed", "expected b'a', got b'b'", visibility="hidden", name="test_secret_name"),
        _stub("day1.task3"),
    ]
    lines = _text(_report(1, tests))
    assert len(lines) == 1 + len(DAYS[1].tasks), f"expected a day line and a line per task, got {lines}"
    assert lines[1].startswith("    ✓ Task 1 · Block builder: 10.0/10.0"), lines[1]
    assert "test_secret_name went wrong (hidden)" in lines[2], lines[2]
    assert "see book/src/day1-block.md#task-2-encode-and-decode" in lines[2], lines[2]
    assert "test_x went wrong [test_x] (visible)" in lines[3], lines[3]


def test_verbose_lists_every_failure_with_its_message() -> None:
    tests = [_stub("day1.task1", name=f"test_{n}") for n in range(5)] + [_test("day1.task2", "passed")]
    lines = _text(_report(1, tests), verbose=True)
    failures = [line for line in lines if line.lstrip().startswith("✗")]
    assert len(failures) == 5, f"expected 5 failures listed, got {len(failures)}: {lines}"
    assert sum("NotImplementedError: day1.task1" in line for line in lines) == 5, lines


def test_a_test_passed_on_a_refusal_for_part_of_its_points_is_said_and_listed() -> None:
    refused = _test("day1.task2", "passed", "passed on a refusal: it earns 50% of its points", name="test_refuses")
    refused.score = 5.0
    tests = [_test("day1.task1", "passed"), _test("day1.task2", "failed", "got b''"), refused, _stub("day1.task3")]
    task_line = _text(_report(1, tests))[2]
    partly = "(1 test that code doing nothing or refusing would also pass earns part of its points"
    assert partly in task_line, task_line
    verbose = "\n".join(_text(_report(1, tests), verbose=True))
    assert "◐ [day1.task2] test_refuses went wrong [test_refuses] (visible, passed, 5.0/10.0)" in verbose, verbose
    assert "passed on a refusal: it earns 50% of its points" in verbose, verbose


def test_next_names_the_first_unfinished_task_of_the_first_unfinished_day() -> None:
    done = _report(1, [_test("day1.task1", "passed"), _test("day1.task2", "passed"), _test("day1.task3", "passed")])
    started = _report(2, [_test("day2.task1", "passed"), _stub("day2.task2"), _stub("day2.task3")])
    line = next_step([done, started, _report(3, [_stub("day3.task1")])], DAYS)
    assert line.startswith("Next: day 2, task 2 — Open and read an SST — pytest days/day2 -m day2_task2"), line
    assert line.endswith("see book/src/day2-sstable.md#task-2-open-and-read-an-sst"), line
    assert next_step([done], DAYS).startswith("Next: nothing left"), next_step([done], DAYS)


def test_a_hidden_failure_shows_the_data_without_the_test_name_or_replay_advice() -> None:
    text = (
        "NotImplementedError: day1.task1: BlockBuilder.__init__\n"
        "Falsifying example: test_secret_roundtrip(\n    entries=[(b'a', None)],\n)\n"
        "You can reproduce this example by temporarily adding @reproduce_failure('6.1', b'AAA') as a decorator\n"
        "operation log of this run: /x/tinylsm-replay-test_secret_roundtrip.json"
    )
    report = SimpleNamespace(longrepr=SimpleNamespace(reprcrash=SimpleNamespace(message=text)))
    message = failure_message(report, "test_secret_roundtrip", "hidden-7")
    assert "test_secret_roundtrip" not in message and "reproduce_failure" not in message, message
    assert "entries=[(b'a', None)]" in message and "tinylsm-replay-hidden-7.json" in message, message


def test_a_failed_assert_keeps_its_message_and_where_its_operation_log_went_but_not_its_code() -> None:
    text = (  # pytest's crash message of an assert whose exception carries replay_on_failure's note
        "AssertionError: get(b'k') gave None, expected b'v'\n"
        "assert None == b'v'\n  +None\n  -b'v'\n"
        "operation log of this run: /x/tinylsm-replay-test_model.json (re-run it: python -m checker replay ...)"
    )
    report = SimpleNamespace(longrepr=SimpleNamespace(reprcrash=SimpleNamespace(message=text)))
    message = failure_message(report, "test_model", "hidden-3")
    assert message.splitlines() == [
        "get(b'k') gave None, expected b'v'",
        "operation log of this run: /x/tinylsm-replay-hidden-3.json (re-run it: python -m checker replay ...)",
    ], message


def test_a_hidden_assert_without_a_message_shows_none_of_its_code() -> None:
    text = "assert 101 == 100\n +  where 101 = block_charge(<tinylsm.block.Block object at 0x7f>)"
    report = SimpleNamespace(longrepr=SimpleNamespace(reprcrash=SimpleNamespace(message=text)))
    message = failure_message(report, "test_charge", "hidden-4")
    assert message == "the property above does not hold for your code", message
    visible = failure_message(report, "test_charge")
    assert "block_charge" in visible, f"a visible test's explanation is the student's to read: {visible!r}"


def test_every_assert_of_a_hidden_test_says_what_was_expected() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted(ROOT.glob("days/day*/hidden/*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert) and node.msg is None
    ]
    assert not bare, f"hidden asserts without a message (the student sees only that the property failed): {bare}"


def test_the_untouched_course_report_is_short_and_ends_with_the_next_step() -> None:
    completed = checker("--no-compose")
    lines = completed.stdout.splitlines()
    assert len(lines) <= 40, f"expected at most 40 lines, got {len(lines)}:\n{completed.stdout}"
    assert lines[-1].startswith("Next: day 1, task 1 — "), lines[-1]
    assert not ANSI.search(completed.stdout + completed.stderr), "escape codes in output that is not a terminal"
    assert re.search(r"day 1: \d+/\d+ tests", completed.stderr), completed.stderr


def test_a_course_with_day_1_done_sends_the_student_to_day_2(tmp_path: Path) -> None:
    course = shutil.copytree(ROOT, tmp_path / "course", ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__"))
    for module in (ROOT / "solutions" / "day1").glob("*.py"):
        shutil.copy2(module, course / "days" / "day1" / module.name)
    completed = checker("--root", str(course), "--day", "1", "--day", "2")
    lines = completed.stdout.splitlines()
    assert "— complete" in lines[0], f"expected day 1 complete, got {lines[0]}"
    assert lines[-1].startswith("Next: day 2, task 1 — "), lines[-1]
