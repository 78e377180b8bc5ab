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


def test_the_reference_graded_as_a_submission_scores_full_marks(tmp_path: Path) -> None:
    """Graded the way a student's work is, in the engine process: a hidden test that works only in one process
    (one that hands the engine's objects to ``dataclasses.replace``, say) fails here."""
    submission = tmp_path / "submission"
    for day in DAYS:
        shutil.copytree(
            ROOT / "solutions" / f"day{day.number}",
            submission / "days" / f"day{day.number}",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    days = [arg for day in DAYS for arg in ("--day", str(day.number))]
    _, report = checker_json(tmp_path, "--submission", str(submission), *days, "--no-compose")
    short = [
        (graded["day"], test["name"], test["outcome"], test["message"][:300])
        for graded in report["days"]
        for test in graded["tests"]
        if test["score"] < test["max_score"]
    ]
    assert not short, f"the reference, graded as a submission, lost points: {short}"


@pytest.mark.parametrize("day", DAYS, ids=IDS)
def test_stubs_fail_every_test_with_their_not_implemented_error(day, tmp_path: Path) -> None:
    status, report = checker_json(tmp_path, "--day", str(day.number))
    (graded,) = report["days"]
    assert status == 1 and report["score"] == 0, f"the stubs scored {report['score']}"
    assert graded["impl"] == f"student:{day.number}"
    for test in graded["tests"]:
        assert test["outcome"] == "failed", f"{test['name']} did not fail on the stubs: {test['outcome']}"
        assert "NotImplementedError" in test["message"], f"{test['name']} failed for another reason: {test['message']}"
        assert "operation log" not in test["message"], f"{test['name']} saved a log of a run that met a stub"


def test_a_graded_run_keeps_its_operation_logs_where_tinylsm_replay_dir_says(tmp_path: Path) -> None:
    """A filter that probes with another hash seed than it was built with fails day 7's model tests.

    Their operation logs go to the folder ``TINYLSM_REPLAY_DIR`` names (made if needed), as under pytest.
    """
    submission = tmp_path / "submission" / "days" / "day7"
    shutil.copytree(ROOT / "solutions" / "day7", submission, ignore=shutil.ignore_patterns("__pycache__"))
    bloom = (submission / "bloom.py").read_text()
    probe = "h1, h2 = hash64(key, HASH_SEED, signed=False)"
    assert bloom.count(probe) == 1
    (submission / "bloom.py").write_text(bloom.replace(probe, "h1, h2 = hash64(key, signed=False)"))
    logs = tmp_path / "logs"
    arguments = ["--submission", str(submission.parents[1]), "--day", "7", "--no-compose"]
    _, report = checker_json(tmp_path, *arguments, env={"TINYLSM_REPLAY_DIR": str(logs)})
    messages = [test["message"] for test in report["days"][0]["tests"]]
    named = [Path(log) for message in messages for log in re.findall(r"operation log of this run: (\S+) ", message)]
    assert named, "no failing model test named its operation log"
    assert all(log.parent == logs and log.is_file() for log in named), named


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


def test_a_scan_read_to_its_end_did_not_pass_on_a_refusal(tmp_path: Path) -> None:
    """``list(db.scan())`` asks the engine's iterator for its ``len()`` and reads it to its ``StopIteration``: both
    are Python's protocol, not refusals, so a task's correct scans keep their points when one of its tests fails."""
    submission = tmp_path / "submission"
    shutil.copytree(ROOT / "days", submission / "days", ignore=shutil.ignore_patterns("__pycache__", "hidden"))
    for module in (ROOT / "solutions" / "day4").glob("*.py"):
        shutil.copy2(module, submission / "days" / "day4" / module.name)
    _, report = checker_json(tmp_path, "--submission", str(submission), "--day", "4", "--no-compose")
    scans = [t for t in report["days"][0]["tests"] if t["name"].startswith("test_scan_bounds_follow_both_include")]
    assert scans and all(t["outcome"] == "passed" for t in scans), [(t["name"], t["outcome"]) for t in scans]
    flagged = [t["name"] for t in scans if t["engine_raised"]]
    assert not flagged, f"scans read to their end were counted as refusals: {flagged}"
