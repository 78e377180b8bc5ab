"""Every day's tests pass on the reference and fail on the stubs, and the checker reports them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from checker.common import load_grading
from checker.grading.submission import COURSE_PARTS
from tests.helpers import ROOT, available_days, checker, checker_json

DAYS = available_days()
IDS = [f"day{d.number}" for d in DAYS]


@pytest.mark.parametrize("day", DAYS, ids=IDS)
def test_reference_scores_full_marks(day, tmp_path: Path) -> None:
    status, report = checker_json(tmp_path, "--impl", "solutions", "--day", str(day.number))
    (graded,) = report["days"]
    failed = [(t["name"], t["message"]) for t in graded["tests"] if t["outcome"] != "passed"]
    assert not failed, f"the reference fails day {day.number} tests: {failed}"
    assert status == 0 and report["score"] == report["max_score"] == 100
    # the day's code inside the reference engine: a fixed share of the day, however many tests it has
    (end_to_end,) = [t for t in graded["tests"] if "end-to-end scenario" in t["name"]]
    assert end_to_end["max_score"] == pytest.approx(100 * load_grading().end_to_end_share, abs=1e-3)


@pytest.mark.parametrize("day", DAYS, ids=IDS)
def test_stubs_fail_every_test_with_their_not_implemented_error(day, tmp_path: Path) -> None:
    logs = tmp_path / "logs"  # not there yet: the checker makes it when a model test leaves a log
    status, report = checker_json(tmp_path, "--day", str(day.number), env={"TINYLSM_REPLAY_DIR": str(logs)})
    (graded,) = report["days"]
    assert status == 1 and report["score"] == 0, f"the stubs scored {report['score']}"
    assert graded["impl"] == f"student:{day.number}"
    for test in graded["tests"]:
        assert test["outcome"] == "failed", f"{test['name']} did not fail on the stubs: {test['outcome']}"
        assert "NotImplementedError" in test["message"], f"{test['name']} failed for another reason: {test['message']}"
        # e.g. day 7's model tests write through days 1-6 before a stub raises: their logs
        # go where TINYLSM_REPLAY_DIR says, as under pytest, and never into the course
        for named in re.findall(r"operation log of this run: (\S+) ", test["message"]):
            assert Path(named).parent == logs and Path(named).is_file(), f"{test['name']} names its log {named}"


@pytest.mark.parametrize("day", DAYS, ids=IDS)
def test_each_day_has_enough_marked_tests(day, tmp_path: Path) -> None:
    _, report = checker_json(tmp_path, "--impl", "solutions", "--day", str(day.number))
    tests = report["days"][0]["tests"]
    visible = [t for t in tests if t["visibility"] == "visible"]
    hidden = [t for t in tests if t["visibility"] == "hidden"]
    assert len(visible) >= 5 and len(hidden) >= 10, f"{len(visible)} visible, {len(hidden)} hidden tests"
    assert all(t["task"] in day.task_ids() for t in tests), "every test needs exactly its day's task marker"
    assert {t["task"] for t in tests} == set(day.task_ids()), "every task needs tests"
    undocumented = [t["name"] for t in hidden if not t.get("property")]
    assert not undocumented, f"hidden tests without a docstring naming their property: {undocumented}"


def test_json_report_follows_the_documented_schema(tmp_path: Path) -> None:
    _, report = checker_json(tmp_path, "--impl", "solutions", "--day", "1")
    assert {"version", "impl", "score", "max_score", "days", "composed"} <= report.keys()
    day = report["days"][0]
    assert {"day", "title", "available", "score", "max_score", "tests"} <= day.keys()
    test = day["tests"][0]
    assert {"name", "task", "visibility", "outcome", "score", "max_score", "message"} <= test.keys()
    assert test["visibility"] in ("visible", "hidden")
    assert test["outcome"] in ("passed", "failed", "error", "timeout")


def test_days_not_written_yet_are_reported_as_not_available(tmp_path: Path) -> None:
    course = tmp_path / "course"
    for part in COURSE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, course / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, course / part)
    for test_file in (course / "days" / "day7").rglob("test_*.py"):
        test_file.unlink()
    completed = checker("--root", str(course), "--day", "7")
    assert "Day 7 · " in completed.stdout and "not available yet" in completed.stdout, completed.stdout
    assert completed.returncode == 1


def test_unknown_day_is_a_usage_error() -> None:
    completed = checker("--day", "9")
    assert completed.returncode == 2 and "there is no day 9" in completed.stderr


def test_unknown_option_is_a_usage_error() -> None:
    assert checker("--frobnicate").returncode == 2


def test_checker_never_claims_all_passed_for_failing_work() -> None:
    completed = checker("--day", "1")
    assert "passed." not in completed.stdout.splitlines()[-1]
    assert "see book/src/day1-block.md#task-" in completed.stdout
