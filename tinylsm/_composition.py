"""Decides, once per process, which folder backs each day of the engine.

``TINYLSM_IMPL`` selects the composition:

* ``student`` (the default): every day from ``days/dayN``;
* ``solutions``: every day from ``solutions/dayN``;
* ``student:4``, ``student:1-4``, ``student:1,3``: those days from ``days/``, every
  other day from ``solutions/``.

``TINYLSM_DAY_DIRS`` (``"4=/some/dir"``, several joined by ``os.pathsep``) replaces
the folder of single days; the checker uses it to grade a copied submission or a
mutated solution. Only the standard library is imported here, so that choosing
the composition can never fail because of a student's module.

In a student release the reference may be compiled: ``solutions/dayN`` then holds
``module.pyc`` files and no source, and ``solutions/reference.toml`` names the
Python version they were compiled for. A day the release has no reference for is
taken from ``days/`` (only a release without any ``solutions/`` refuses ``student:N``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

DAYS = range(1, 8)
REPO_ROOT = Path(__file__).resolve().parent.parent
IMPL_VARIABLE = "TINYLSM_IMPL"
DAY_DIRS_VARIABLE = "TINYLSM_DAY_DIRS"
REFERENCE_FILE = "reference.toml"
"""In a release's ``solutions/``: ``python = "3.11"``, the version that runs its compiled reference."""


class CompositionError(ValueError):
    """``TINYLSM_IMPL`` (or ``--impl``) names a composition that cannot be built."""


@dataclass(frozen=True)
class Composition:
    """Which folder provides each day's modules."""

    spec: str
    day_dirs: dict[int, Path]
    sources: dict[int, str]

    def module_dirs(self) -> list[str]:
        """The folders to add to ``tinylsm.__path__``, day 1 first."""
        return [str(self.day_dirs[day]) for day in sorted(self.day_dirs)]

    def describe(self) -> str:
        """One line for pytest's header and the checker, e.g. ``day1=student day2=solutions``."""
        return " ".join(f"day{day}={self.sources[day]}" for day in sorted(self.sources))


def parse_days(text: str) -> set[int]:
    """Parse ``"4"``, ``"1-4"`` or ``"1,3,5-7"`` into a set of day numbers."""
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise CompositionError(f"cannot read days {text!r}: expected e.g. 4, 1-4 or 1,3") from None
        if low > high or low not in DAYS or high not in DAYS:
            raise CompositionError(f"days {text!r} are not within 1-7")
        days.update(range(low, high + 1))
    return days


def _student_days(spec: str) -> set[int] | None:
    """The days taken from ``days/``; ``None`` means all of them."""
    name, colon, days = spec.partition(":")
    if name == "student":
        return parse_days(days) if colon else None
    if name == "solutions" and not colon:
        return set()
    raise CompositionError(
        f"unknown implementation {spec!r}: use student, solutions, student:4, student:1-4 or student:1,3"
    )


def _overrides(text: str) -> dict[int, Path]:
    overrides: dict[int, Path] = {}
    for item in filter(None, text.split(os.pathsep)):
        day, equals, folder = item.partition("=")
        if not equals or not day.isdigit() or int(day) not in DAYS:
            raise CompositionError(f"{DAY_DIRS_VARIABLE} entry {item!r} is not of the form N=FOLDER")
        overrides[int(day)] = Path(folder)
    return overrides


def compose(spec: str, root: Path = REPO_ROOT, day_dirs: str = "") -> Composition:
    """Build the composition that ``spec`` names for the course at ``root``."""
    spec = spec.strip() or "student"
    student_days = _student_days(spec)
    has_solutions = (root / "solutions").is_dir()
    if not has_solutions and student_days != set(DAYS) and student_days is not None:
        raise CompositionError(
            f"{IMPL_VARIABLE}={spec} needs the reference solutions, but this copy of the course has no "
            f"solutions/ folder: this student release comes without a reference, so every day is yours. "
            f"Use {IMPL_VARIABLE}=student (pytest --impl student)."
        )
    dirs: dict[int, Path] = {}
    sources: dict[int, str] = {}
    for day in DAYS:
        use_student = student_days is None or day in student_days
        folder = root / ("days" if use_student else "solutions") / f"day{day}"
        if not use_student and not folder.is_dir():  # a release without this day's reference: the student's
            folder, use_student = root / "days" / f"day{day}", True
        if folder.is_dir():
            if not use_student:
                _check_compiled(folder, root)
            dirs[day] = folder
            sources[day] = "student" if use_student else "solutions"
    for day, folder in _overrides(day_dirs).items():
        dirs[day] = folder
        sources[day] = f"override({folder.name})"
    return Composition(spec=spec, day_dirs=dirs, sources=sources)


def _check_compiled(folder: Path, root: Path) -> None:
    """Refuse a compiled reference day (``*.pyc`` and no source) that this Python cannot run."""
    if any(folder.glob("*.py")):
        return
    compiled = sorted(folder.glob("*.pyc"))
    if not compiled:
        return
    with compiled[0].open("rb") as file:
        magic = file.read(len(importlib.util.MAGIC_NUMBER))
    if magic == importlib.util.MAGIC_NUMBER:
        return
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        version = str(tomllib.loads((root / "solutions" / REFERENCE_FILE).read_text())["python"])
    except (OSError, ValueError, KeyError):
        version = "the version that the README names"
    raise CompositionError(
        f"the reference in solutions/ is compiled for Python {version}, and this is Python {running}, which "
        f"cannot run it. Use Python {version} for this course (a new .venv made with it), or only your own "
        f"days: {IMPL_VARIABLE}=student."
    )


def from_environment() -> Composition:
    """The composition that this process's environment asks for."""
    return compose(os.environ.get(IMPL_VARIABLE, "student"), day_dirs=os.environ.get(DAY_DIRS_VARIABLE, ""))
