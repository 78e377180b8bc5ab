"""Every catalogued student bug is caught by its day's tests."""

from __future__ import annotations

import pytest

from checker.instructor.mutants import load_mutants
from tests.helpers import available_days, checker

MUTANTS = [m for day in available_days() for m in load_mutants(day.number)]


def test_each_written_day_has_at_least_five_mutants() -> None:
    for day in available_days():
        assert len(load_mutants(day.number)) >= 5, f"day {day.number} has fewer than 5 catalogued mutants"


@pytest.mark.parametrize("mutant", MUTANTS, ids=[f"day{m.day}-{m.name}" for m in MUTANTS])
def test_mutant_is_caught(mutant) -> None:
    completed = checker("mutants", "--day", str(mutant.day), "--only", mutant.name)
    assert completed.returncode == 0 and "mutants caught: 1/1" in completed.stdout, completed.stdout + completed.stderr
