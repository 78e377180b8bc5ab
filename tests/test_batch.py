"""``python -m checker grade-many``: a class graded in parallel into a gradebook; no submission stops the batch."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from checker.grading.batch import day_error_summary
from checker.grading.gradebook import write_gradebook
from tests.helpers import ROOT, checker

REFERENCE_DAY1 = (ROOT / "solutions" / "day1" / "block.py").read_text()


def submission(folder: Path, block_source: str | None = None) -> None:
    """A copy of the student's repository (its ``days/``), with ``block_source`` as day 1's module."""
    shutil.copytree(ROOT / "days", folder / "days", ignore=shutil.ignore_patterns("__pycache__", "hidden"))
    if block_source is not None:
        (folder / "days" / "day1" / "block.py").write_text(block_source)


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with (out / "gradebook.csv").open(newline="") as file:
        return {row["Student"]: row for row in csv.DictReader(file)}


def canvas_student_columns(header: list[str]) -> int | None:
    """How many student columns Canvas's gradebook importer finds in ``header``; ``None``: "Invalid header row".

    Canvas's rule (``GradebookImporter#header?`` and ``#update_column_count`` in
    canvas-lms, ``app/models/gradebook_importer.rb``), in Python: more than three
    columns, ``Student`` in the first and ``ID`` in the second; three student
    columns (name, id, section), one more when the third is ``SIS Login ID``, two
    more when the third and fourth are ``SIS User ID`` and ``SIS Login ID`` (and a
    ``Root Account`` after them is one more); the last student column must be the
    ``Section``. The columns after the student columns are assignments.
    """
    if not (len(header) > 3 and re.search("Student", header[0]) and re.search("ID", header[1])):
        return None
    count = 3
    if re.search(r"SIS\s+Login\s+ID", header[2]):
        count += 1
    elif re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]):
        count += 2
        if len(header) > 4 and re.search(r"Root\s+Account", header[4]):
            count += 1
    return count if len(header) >= count and re.search("Section", header[count - 1]) else None


def test_canvas_reads_the_gradebooks_header_and_finds_each_student_by_login(tmp_path: Path) -> None:
    rows = [
        {"name": "ada", "total": 150.0, "max": 200.0, "days": {"day1": 100.0, "day3": 50.0}, "failed_tests": 3},
        {"name": "bob", "total": None, "max": 200.0, "days": {}, "failed_tests": 0},
    ]
    for row in rows:
        row["error"] = "" if row["total"] is not None else "no days/ folder"
    columns = write_gradebook(rows, tmp_path)
    with (tmp_path / "gradebook.csv").open(newline="") as file:
        header, *lines = list(csv.reader(file))

    assert header == columns == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Day 1", "Day 3", "Total"]
    student_columns = canvas_student_columns(header)
    assert student_columns == 5, f"Canvas would refuse this header as an invalid header row: {header}"
    assert header[student_columns:] == ["Day 1", "Day 3", "Total"], "Canvas would read these as the assignments"
    assert lines == [["ada", "", "", "ada", "", "100", "50", "150"], ["bob", "", "", "bob", "", "", "", ""]]
    # the rule itself: Canvas export's header without SIS User ID passes, this gradebook's former header fails
    assert canvas_student_columns(["Student", "ID", "SIS Login ID", "Section", "Day 1"]) == 4
    assert canvas_student_columns(["Student", "SIS Login ID", "Day 1", "Total"]) is None


def test_a_class_is_graded_in_parallel_into_a_gradebook(tmp_path: Path) -> None:
    """One batch (it is the slow part) of five submissions, graded on day 1 three at a time."""
    submissions = tmp_path / "submissions"
    submission(submissions / "stubs")
    submission(submissions / "reference", REFERENCE_DAY1)
    submission(submissions / "broken", REFERENCE_DAY1 + "\ndef broken(:\n")
    submission(submissions / "linked")  # its day 1 is a link to the reference: not the student's code
    shutil.rmtree(submissions / "linked" / "days" / "day1")
    (submissions / "linked" / "days" / "day1").symlink_to(ROOT / "solutions" / "day1")
    (submissions / "no-repository").mkdir()  # grading it fails: it has no days/
    out = tmp_path / "out"
    completed = checker("grade-many", str(submissions), "-j", "3", "--out", str(out), "--day", "1")
    rows = gradebook(out)

    # Every submission gets a row and a report, whatever happened to it.
    assert sorted(rows) == ["broken", "linked", "no-repository", "reference", "stubs"], completed.stdout
    assert list(rows["stubs"]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Day 1", "Total"]
    assert canvas_student_columns(list(rows["stubs"])) == 5
    assert all(json.loads((out / f"{name}.json").read_text()) for name in rows)
    details = {row["name"]: row for row in json.loads((out / "gradebook.json").read_text())}

    # Scores follow the code.
    reference, stubs = rows["reference"], rows["stubs"]
    assert (reference["SIS Login ID"], float(reference["Total"]), float(reference["Day 1"])) == ("reference", 100, 100)
    assert details["reference"] == {
        "name": "reference",
        "total": 100.0,
        "max": 100.0,
        "days": {"day1": 100.0},
        "failed_tests": 0,
        "error": "",
    }
    assert float(stubs["Total"]) == 0 and details["stubs"]["failed_tests"] > 10 and details["stubs"]["error"] == ""
    assert float(rows["linked"]["Total"]) == 0, "a link to the reference was graded as the student's code"

    # A syntax error is graded 0 and named; a submission that cannot be graded gets a row with the error.
    assert float(rows["broken"]["Total"]) == 0
    assert details["broken"]["error"].startswith("day 1: the tests could not be collected: SyntaxError: invalid syntax")
    assert (rows["no-repository"]["Day 1"], rows["no-repository"]["Total"]) == ("", "")
    assert details["no-repository"]["total"] is None and "has no days/ folder" in details["no-repository"]["error"]
    assert completed.returncode == 1 and "Grading failed for 1 submission(s): no-repository" in completed.stdout

    # A progress line as each submission finishes, and a summary of the class.
    progress = [line for line in completed.stdout.splitlines() if re.match(r"\[\d/5\] ", line)]
    assert [line[:5] for line in progress] == [f"[{n}/5]" for n in range(1, 6)], completed.stdout
    assert any(re.fullmatch(r"\[\d/5\] reference: 100\.0/100 \(.* s\)", line) for line in progress), progress
    summary = completed.stdout.split("Gradebook: ", 1)[1].splitlines()[1:4]
    assert summary == [
        "Graded 4 of 5 submission(s).",
        "Total: mean 25.0, median 0.0 (out of 100)",
        "Completed (every test passed): day 1: 1/4",
    ], completed.stdout


def test_a_day_error_is_summed_up_by_its_exception() -> None:
    error = "the tests could not be collected: x.py:1: in f\n    import y\nE   ModuleNotFoundError: No module named 'y'"
    assert day_error_summary(error) == "the tests could not be collected: ModuleNotFoundError: No module named 'y'"
    assert day_error_summary("no test ran:\n(output)") == "no test ran:"


@pytest.mark.parametrize(
    ("layout", "message"),
    [("missing", "is not a folder"), ("empty", "holds no submission folders"), ("gradebook", "may not be named")],
)
def test_a_batch_that_cannot_run_is_a_usage_error(tmp_path: Path, layout: str, message: str) -> None:
    submissions = tmp_path / "submissions"
    if layout != "missing":
        submissions.mkdir()
    if layout == "gradebook":
        (submissions / "gradebook").mkdir()
    completed = checker("grade-many", str(submissions), "--out", str(tmp_path / "out"))
    assert completed.returncode == 2 and message in completed.stderr, completed.stderr


def test_without_landlock_a_class_is_graded_only_when_the_instructor_says_so(tmp_path: Path) -> None:
    """Without a file guard a submission could forge its grade: the batch stops before grading any, unless told."""
    submissions = tmp_path / "submissions"
    submission(submissions / "reference", REFERENCE_DAY1)
    no_landlock = {"TINYLSM_PRETEND_NO_LANDLOCK": "1"}
    refused = checker("grade-many", str(submissions), "--out", str(tmp_path / "refused"), "--day", "1", env=no_landlock)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "grading refused" in refused.stderr and "--without-landlock" in refused.stderr, refused.stderr
    assert not (tmp_path / "refused" / "reference.json").exists(), "a submission was graded after the refusal"

    out = tmp_path / "out"
    graded = checker(
        "grade-many", str(submissions), "--out", str(out), "--day", "1", "--without-landlock", env=no_landlock
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert float(gradebook(out)["reference"]["Total"]) == 100
    protections = json.loads((out / "reference.json").read_text())["days"][0]["protections"]
    assert any(note.startswith("NO FILE GUARD") for note in protections), protections
