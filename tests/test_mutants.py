"""Every catalogued student bug is caught by its day's tests, first by the test named to catch it."""

from __future__ import annotations

import pytest

from checker.common import load_grading
from checker.instructor.mutants import load_mutants, run_mutant
from tests.helpers import ROOT, available_days, checker

MUTANTS = [m for day in available_days() for m in load_mutants(day.number)]


def test_each_written_day_has_at_least_five_mutants() -> None:
    for day in available_days():
        assert len(load_mutants(day.number)) >= 5, f"day {day.number} has fewer than 5 catalogued mutants"


def test_every_mutant_names_the_test_that_catches_it() -> None:
    unnamed = [f"day{m.day} {m.name}" for m in MUTANTS if not m.caught_by]
    assert not unnamed, f"give these mutants a caught_by test (see CONTRIBUTING.md): {unnamed}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=[f"day{m.day}-{m.name}" for m in MUTANTS])
def test_mutant_is_caught(mutant) -> None:
    result = run_mutant(ROOT, mutant, load_grading())
    assert result.status == "caught", f"{mutant.bug}: {result.status} {result.detail}"


def test_the_mutants_command_reports_each_mutant_and_the_count() -> None:
    first = MUTANTS[0]
    completed = checker("mutants", "--day", str(first.day), "--only", first.name)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"day{first.day} {first.name}: CAUGHT" in completed.stdout, completed.stdout
    assert f"caught by {first.caught_by}" in completed.stdout, completed.stdout
    assert "mutants caught: 1/1" in completed.stdout, completed.stdout
