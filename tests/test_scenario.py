"""``python -m checker.grading.scenario``: a failure says how to run the same scenario again."""

from __future__ import annotations

import sys

import pytest

from tests.helpers import run


@pytest.mark.parametrize("impl", ["student:3", "student"])
def test_a_failure_names_the_composition_it_ran_under(impl: str) -> None:
    """The stubs fail the scenario at once; the hint to reproduce it keeps the composition of the run."""
    completed = run([sys.executable, "-m", "checker.grading.scenario", "1"], env={"TINYLSM_IMPL": impl}, timeout=120)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    hint = f"reproduce it with: TINYLSM_IMPL={impl} python -m checker.grading.scenario 1"
    assert completed.stderr.rstrip().endswith(hint), completed.stderr
