"""The checker as an autograder: hostile submissions get a correct label, in bounded time.

Each fixture is a copy of the student's ``days/`` with day 1 replaced by the
reference plus one hostile change; the checker grades it with ``--submission``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT, checker

REFERENCE = (ROOT / "solutions" / "day1" / "block.py").read_text()


def make_submission(tmp_path: Path, block_source: str = REFERENCE) -> Path:
    submission = tmp_path / "submission"
    shutil.copytree(ROOT / "days", submission / "days", ignore=shutil.ignore_patterns("__pycache__"))
    (submission / "days" / "day1" / "block.py").write_text(block_source)
    return submission


def hostile(change: str, anchor: str = "    def next(self) -> None:\n") -> str:
    """The reference with ``change`` inserted as the first statement after ``anchor``."""
    head, found, tail = REFERENCE.partition(anchor)
    assert found, anchor
    body_start = tail.index("\n", tail.index('"""', tail.index('"""') + 3)) + 1
    return head + anchor + tail[:body_start] + change + tail[body_start:]


def at_import(code: str) -> str:
    """The reference with ``code`` run when the module is imported."""
    future = "from __future__ import annotations\n"
    return REFERENCE.replace(future, future + code, 1)


def grade(submission: Path, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    completed = checker(
        "--submission", str(submission), "--day", "1", "--json", str(report), "--test-timeout", "60", *extra
    )
    assert report.exists(), f"no report was written:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
    return completed.returncode, json.loads(report.read_text())


def outcomes(report: dict) -> dict[str, str]:
    return {test["name"]: test["outcome"] for test in report["days"][0]["tests"]}


def test_a_correct_submission_scores_full_marks(tmp_path: Path) -> None:
    status, report = grade(make_submission(tmp_path), tmp_path)
    assert status == 0 and report["score"] == 100


def test_edited_visible_and_hidden_tests_change_nothing(tmp_path: Path) -> None:
    submission = make_submission(tmp_path, (ROOT / "days" / "day1" / "block.py").read_text())  # the stub
    (submission / "days" / "day1" / "test_block.py").write_text("def test_anything():\n    pass\n")
    (submission / "days" / "day1" / "hidden").mkdir(exist_ok=True)
    (submission / "days" / "day1" / "hidden" / "test_block_hidden.py").write_text("def test_x():\n    pass\n")
    (submission / "days" / "day1" / "conftest.py").write_text("collect_ignore_glob = ['*']\n")
    status, report = grade(submission, tmp_path)
    assert status == 1 and report["score"] == 0
    assert len(report["days"][0]["tests"]) > 10, "the course's own tests must be the ones that ran"


def test_a_helper_module_added_by_the_student_is_kept(tmp_path: Path) -> None:
    source = REFERENCE.replace("from tinylsm.errors import CorruptionError", "from tinylsm.block_helpers import ERROR")
    source = source.replace("CorruptionError(", "ERROR(")
    submission = make_submission(tmp_path, source)
    (submission / "days" / "day1" / "block_helpers.py").write_text(
        "from tinylsm.errors import CorruptionError as ERROR\n"
    )
    status, report = grade(submission, tmp_path)
    assert status == 0, [t for t in report["days"][0]["tests"] if t["outcome"] != "passed"][:2]


def test_an_endless_loop_times_out_the_tests_that_reach_it(tmp_path: Path) -> None:
    submission = make_submission(tmp_path, hostile("        while True:\n            pass\n"))
    status, report = grade(submission, tmp_path, "--test-timeout", "10", "--day-time-limit", "40")
    labels = set(outcomes(report).values())
    assert status == 1 and "timeout" in labels and "passed" in labels, labels
    assert "passed" not in {o for n, o in outcomes(report).items() if "iterating" in n}
    in_order = list(outcomes(report).values())
    after_first_timeout = in_order[in_order.index("timeout") :]
    assert "passed" in after_first_timeout, f"no test passed after the first timeout: {in_order}"


def test_exit_at_import_is_an_error_not_a_pass(tmp_path: Path) -> None:
    submission = make_submission(tmp_path, at_import("import os\nos._exit(0)\n"))
    status, report = grade(submission, tmp_path)
    day = report["days"][0]
    assert status == 1 and report["score"] == 0
    assert day["error"] or all(t["outcome"] != "passed" for t in day["tests"])


def engine_ended(report: dict) -> list[dict]:
    """The tests that failed because the engine process (the student's code) ended under them."""
    return [t for t in report["days"][0]["tests"] if "engine process (your code) ended" in t["message"]]


def test_exit_inside_a_test_fails_that_test_and_grading_goes_on(tmp_path: Path) -> None:
    submission = make_submission(tmp_path, hostile("        import os\n\n        os._exit(0)\n"))
    status, report = grade(submission, tmp_path)
    assert status == 1 and engine_ended(report), list(outcomes(report).values())
    assert 0 < report["score"] < 100, "the tests that never call next() still pass in a new engine process"


DEEP_RECURSION = """\
        import sys

        sys.setrecursionlimit(10**8)
        nested: list = []
        for _ in range(10**6):
            nested = [nested]
        repr(nested)
"""
"""A real segmentation fault (repr recurses in C until the stack overflows): a signal raised on purpose is
ignored by the first process of a PID namespace, which the engine process is when the checker runs as root."""


def test_a_segfault_fails_the_test_not_the_checker(tmp_path: Path) -> None:
    submission = make_submission(tmp_path, hostile(DEEP_RECURSION))
    status, report = grade(submission, tmp_path)
    assert status == 1 and engine_ended(report) and report["score"] < 100


def test_allocating_tens_of_gigabytes_fails_only_that_test(tmp_path: Path) -> None:
    submission = make_submission(tmp_path, hostile("        _ = bytearray(40 << 30)\n"))
    status, report = grade(submission, tmp_path)
    failed = [t for t in report["days"][0]["tests"] if t["outcome"] == "failed"]
    assert status == 1 and failed and "MemoryError" in failed[0]["message"]
    assert "passed" in outcomes(report).values()


def test_printing_fifty_megabytes_does_not_break_grading(tmp_path: Path) -> None:
    submission = make_submission(tmp_path, at_import("print('x' * (50 << 20))\n"))
    status, report = grade(submission, tmp_path)
    assert status == 0 and report["score"] == 100


def test_files_written_by_the_submission_stay_out_of_the_course(tmp_path: Path) -> None:
    before = sorted(p.name for p in ROOT.iterdir())
    writer = "from pathlib import Path\nPath(__file__).parents[2].joinpath('GRADED_BY_ME').write_text('x')\n"
    grade(make_submission(tmp_path, at_import(writer)), tmp_path)  # refused (Landlock) or written into a copy
    assert sorted(p.name for p in ROOT.iterdir()) == before


def test_a_submission_without_days_is_a_usage_error(tmp_path: Path) -> None:
    completed = checker("--submission", str(tmp_path), "--day", "1")
    assert completed.returncode == 2 and "no days/ folder" in completed.stderr


@pytest.mark.parametrize("visibility", ["visible", "after_published"])
def test_gradescope_results_follow_the_schema(tmp_path: Path, visibility: str) -> None:
    results = tmp_path / "results.json"
    submission = make_submission(tmp_path, hostile("        raise RuntimeError('broken next')\n"))
    checker("--submission", str(submission), "--day", "1", "--gradescope", str(results))
    document = json.loads(results.read_text())
    assert isinstance(document["score"], float | int) and isinstance(document["execution_time"], float | int)
    assert {"tests", "output", "visibility", "stdout_visibility"} <= document.keys()
    for test in document["tests"]:
        assert {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"} <= test.keys()
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
        assert test["number"].startswith("1.")
    failed = [t for t in document["tests"] if t["status"] == "failed"]
    assert failed and all("see book/src/day1-block.md" in t["output"].lower() for t in failed)
    assert any(t["visibility"] == visibility for t in document["tests"])
