"""What every ``python -m checker`` command shares.

Exit statuses, the usage error, argument parsing, the default course root and
the course's structure as ``checker/course.toml`` declares it. Every command
imports this module, so it imports no other module of ``checker``.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

DEFAULT_ROOT = Path(__file__).resolve().parent.parent
"""The course repository this checker belongs to."""

COURSE_FILE = Path(__file__).with_name("course.toml")


class UsageError(Exception):
    """A command line that cannot be carried out (exit status 2)."""


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit status when there is nothing more to do.

    ``argparse`` exits on ``--help`` (status 0) and on a usage error (status 2);
    the commands return a status instead, so that they can be called in-process.
    """
    try:
        return parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK


def instructor_only(root: Path, command: str) -> str | None:
    """Why ``command`` cannot run in the course at ``root`` (a student release), or ``None``."""
    if (root / "solutions").is_dir():
        return None
    return (
        f"{command} is an instructor command, not available in a student release "
        "(this copy of the course has no solutions/ folder)"
    )


@dataclass(frozen=True)
class Day:
    """One day of the course: its number, title, book chapter and task titles."""

    number: int
    title: str
    chapter: str
    tasks: tuple[str, ...]

    def task_ids(self) -> list[str]:
        """``day1.task1``, ``day1.task2``, ... in order."""
        return [f"day{self.number}.task{k}" for k in range(1, len(self.tasks) + 1)]

    def is_available(self, root: Path) -> bool:
        """Whether this copy of the course has the day's tests (written days only)."""
        return any((root / "days" / f"day{self.number}").glob("test_*.py"))


END_TO_END_TEST = "test_end_to_end"
"""The test that runs a day's code inside the reference engine (``checker.grading.scenario``)."""


@dataclass(frozen=True)
class Grading:
    """How tests are weighted and timed."""

    points_per_day: float
    visible_weight: float
    hidden_weight: float
    test_timeout: int
    day_time_limit: int
    memory_limit_mb: int
    hidden_visibility: str
    weights: dict[str, float]
    import_time_limit: float = 30.0
    end_to_end_share: float = 0.0
    disk_limit_mb: int = 2048

    def weight(self, name: str, visibility: str) -> float:
        """The weight of one test, by its function name and visibility."""
        base = name.split("[", 1)[0]
        default = self.visible_weight if visibility == "visible" else self.hidden_weight
        return self.weights.get(base, default)

    def test_weights(self, tests: list[dict]) -> list[float]:
        """The weight of each collected test of a day; the end-to-end test gets ``end_to_end_share`` of the day."""
        names = [test.get("function", test["name"]).split("[", 1)[0] for test in tests]
        weights = [self.weight(name, test["visibility"]) for name, test in zip(names, tests, strict=True)]
        ends = [i for i, name in enumerate(names) if name == END_TO_END_TEST]
        others = sum(weight for i, weight in enumerate(weights) if i not in ends)
        if ends and others and 0 < self.end_to_end_share < 1:
            for i in ends:
                weights[i] = others * self.end_to_end_share / (1 - self.end_to_end_share) / len(ends)
        return weights


def load_days(path: Path = COURSE_FILE) -> list[Day]:
    """Every day of the course, day 1 first."""
    data = tomllib.loads(path.read_text())
    return [Day(d["number"], d["title"], d["chapter"], tuple(d["tasks"])) for d in data["day"]]


def load_grading(path: Path = COURSE_FILE) -> Grading:
    """The grading settings."""
    data = tomllib.loads(path.read_text())
    grading = data["grading"]
    return Grading(
        points_per_day=float(grading["points_per_day"]),
        visible_weight=float(grading["visible_weight"]),
        hidden_weight=float(grading["hidden_weight"]),
        test_timeout=int(grading["test_timeout"]),
        day_time_limit=int(grading["day_time_limit"]),
        memory_limit_mb=int(grading["memory_limit_mb"]),
        hidden_visibility=str(grading["hidden_visibility"]),
        import_time_limit=float(grading.get("import_time_limit", 30)),
        end_to_end_share=float(grading.get("end_to_end_share", 0)),
        disk_limit_mb=int(grading.get("disk_limit_mb", 2048)),
        weights={name: float(w) for name, w in data.get("weights", {}).items()},
    )


def selected_days(numbers: list[int] | None) -> list[Day]:
    """The days named by ``--day`` (every day when none is), or a usage error for an unknown one."""
    days = load_days()
    if numbers:
        unknown = sorted(set(numbers) - {d.number for d in days})
        if unknown:
            raise UsageError(f"there is no day {unknown[0]}: the course has days 1-{len(days)}")
        days = [d for d in days if d.number in numbers]
    return days
