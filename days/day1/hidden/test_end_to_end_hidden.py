"""Day 1 hidden test: the day's code inside the reference engine, in the end-to-end scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.grading.scenario import TEST_TIME_LIMIT, run_end_to_end


@pytest.mark.day1_task3
@pytest.mark.timeout(TEST_TIME_LIMIT)
def test_end_to_end(tmp_path: Path) -> None:
    """The day's code passes its own checks but breaks the engine it is part of (the end-to-end scenario failed)."""
    run_end_to_end(tmp_path, day=1)
