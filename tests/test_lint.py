"""The code is ruff-clean and formatted."""

from __future__ import annotations

import sys

from tests.helpers import run


def test_ruff_check_is_clean() -> None:
    completed = run([sys.executable, "-m", "ruff", "check", "."])
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_ruff_format_is_clean() -> None:
    completed = run([sys.executable, "-m", "ruff", "format", "--check", "."])
    assert completed.returncode == 0, completed.stdout + completed.stderr
