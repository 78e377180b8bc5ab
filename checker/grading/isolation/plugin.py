"""The pytest plugin of an isolated graded run: day modules become proxies of the engine process.

Loaded by the checker with ``-p checker.grading.isolation.plugin --checker-worker=SETTINGS``.
"""

from __future__ import annotations

import pytest

from checker.grading.isolation.client import Client, WorkerSettings, install

_client: Client | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--checker-worker", default=None, help="settings of the engine process (grading only)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    global _client
    path = config.getoption("--checker-worker")
    if path:
        _client = install(WorkerSettings.load(path))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _client is not None:
        _client.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    if _client is None:
        return None
    return f"engine process: {_client.settings.environment['TINYLSM_IMPL']} (isolated)"
