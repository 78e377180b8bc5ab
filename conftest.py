"""Pytest set-up shared by every day's tests.

* ``--impl`` chooses which implementation backs each day for this run (the same
  values as ``TINYLSM_IMPL``); pytest's header prints the composition in use.
* Hidden tests (``days/dayN/hidden``) are collected only with ``--hidden``.
* Markers ``dayN`` and ``dayN_taskK`` are registered from ``checker/course.toml``.
* Hypothesis runs derandomized, so a grade never depends on luck.
"""

from __future__ import annotations

import os
import re
import sys

import pytest
from hypothesis import HealthCheck, Phase, settings

from checker.common import load_days

settings.register_profile(
    "tinylsm",
    derandomize=True,
    deadline=None,
    max_examples=60,
    database=None,
    print_blob=True,
    # No "explain" phase: it re-runs a failing test many times to annotate it, which
    # makes an unfinished day's tests slow and adds nothing the failure message lacks.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("TINYLSM_HYPOTHESIS_PROFILE", "tinylsm"))

_DAY_FOLDER = re.compile(r"[\\/]days[\\/]day(\d)[\\/]")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tinylsm")
    group.addoption(
        "--impl",
        default=None,
        help="which implementation backs each day: student (default), solutions, student:4, student:1-4, ...",
    )
    group.addoption("--hidden", action="store_true", help="also collect the hidden tests (days/dayN/hidden)")


def pytest_configure(config: pytest.Config) -> None:
    impl = config.getoption("--impl")
    if impl is not None:
        if "tinylsm" in sys.modules and os.environ.get("TINYLSM_IMPL", "student") != impl:
            raise pytest.UsageError("tinylsm was imported before --impl could take effect")
        os.environ["TINYLSM_IMPL"] = impl
    try:
        import tinylsm  # noqa: F401  (composes the package once, from the environment just set)
    except ValueError as error:  # tinylsm._composition.CompositionError
        raise pytest.UsageError(str(error)) from None
    config.addinivalue_line(
        "markers",
        "invariant: a property that code doing nothing has too (an empty iterator is invalid, an idle compactor "
        "leaves no stray file); graded, it earns its points in the share of its task's other tests that pass",
    )
    for day in load_days():
        config.addinivalue_line("markers", f"day{day.number}: a test of day {day.number} ({day.title})")
        for task_id, title in zip(day.task_ids(), day.tasks, strict=True):
            config.addinivalue_line("markers", f"{task_id.replace('.', '_')}: {task_id} — {title}")


def pytest_report_header(config: pytest.Config) -> str:
    from tinylsm import COMPOSITION

    return f"tinylsm composition: {COMPOSITION.spec} ({COMPOSITION.describe()})"


def pytest_ignore_collect(collection_path, config: pytest.Config) -> bool | None:
    if collection_path.name == "hidden" and not config.getoption("--hidden"):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        match = _DAY_FOLDER.search(str(item.path))
        if match:
            item.add_marker(f"day{match[1]}")
