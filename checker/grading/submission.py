"""Grade a submission on a pristine copy of the course, never on the submitter's own tests.

Only the student's own code is taken from a submission: every non-test ``.py``
file directly inside ``days/dayN/`` (so helper modules a student adds are kept).
Tests, hidden tests, ``conftest.py``, the checker and the provided core always
come from the course that grades. Editing a test in a submission changes nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

COURSE_PARTS = ("tinylsm", "checker", "days", "solutions", "conftest.py", "pyproject.toml")
"""What a grading tree needs from the course."""

MAX_STUDENT_FILE_BYTES = 1 << 20


def is_student_module(path: Path) -> bool:
    """A file of the student's own code: a ``.py`` module of a day that is not a test."""
    return path.suffix == ".py" and not path.name.startswith("test_") and path.name != "conftest.py"


def student_files(submission: Path) -> list[Path]:
    """The submission's own code, relative to its root (``days/dayN/module.py``).

    A file reached through a link to outside the submission (e.g. a ``days/day1``
    linked to the course's reference) is not the student's code, and is left out.
    """
    root = submission.resolve()
    return sorted(
        path.relative_to(submission)
        for path in submission.glob("days/day[1-7]/*.py")
        if is_student_module(path) and path.is_file() and not path.is_symlink() and path.resolve().is_relative_to(root)
    )


def assemble(course: Path, submission: Path, destination: Path) -> list[str]:
    """Build a grading tree in ``destination``: the course, with the submission's code in ``days/``.

    Returns the files taken from the submission. Raises ``ValueError`` when the
    submission has no ``days/`` folder or a file is too large to be code.
    """
    if not (submission / "days").is_dir():
        raise ValueError(f"{submission} has no days/ folder: submit the course repository (or a copy of it)")
    destination.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for part in COURSE_PARTS:
        source = course / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, destination / part)
    taken = []
    for relative in student_files(submission):
        source = submission / relative
        if source.stat().st_size > MAX_STUDENT_FILE_BYTES:
            raise ValueError(f"{relative} is larger than {MAX_STUDENT_FILE_BYTES} bytes; it cannot be graded as code")
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination / relative)
        taken.append(str(relative))
    return taken
