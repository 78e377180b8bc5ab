"""Every branch of each day's reference is reached by that day's own tests (``python -m checker coverage``)."""

from __future__ import annotations

import pytest

from checker.instructor.coverage import FLOOR, ModuleCoverage, format_table, measure_day
from tests.helpers import ROOT, available_days, checker


@pytest.mark.parametrize("day", available_days(), ids=lambda day: f"day{day.number}")
def test_each_module_of_the_day_reaches_the_branch_coverage_floor(day) -> None:
    modules = measure_day(ROOT, day)
    assert modules, f"no module of solutions/day{day.number} was measured"
    below = [m for m in modules if m.branch_percent < FLOOR]
    assert not below, f"day {day.number}'s tests leave branches of its reference unreached:\n" + "\n".join(
        format_table(modules, FLOOR)
    )


def test_the_table_marks_a_module_under_the_floor_and_names_what_is_missing() -> None:
    full = ModuleCoverage(1, "block.py", 10, 10, 50, 50, (), ())
    partial = ModuleCoverage(2, "sstable.py", 10, 9, 50, 49, ((12, -1),), (40,))
    header, first, second = format_table([full, partial], FLOOR)
    assert "branch %" in header
    assert first.startswith("day1/block.py") and "100.0%" in first and "✓" in first
    assert second.startswith("day2/sstable.py") and "90.0%" in second and "✗ 12->exit, 40" in second


def test_the_command_refuses_an_unknown_day() -> None:
    completed = checker("coverage", "--day", "99")
    assert completed.returncode == 2 and "there is no day 99" in completed.stderr, completed.stdout + completed.stderr
