"""The pytest plugin of an isolated graded run: day modules become proxies of the engine process.

Loaded by the checker with ``-p checker.grading.isolation.plugin --checker-worker=SETTINGS``.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from checker.grading.isolation import engine, limits, protocol
from checker.grading.isolation.client import Client, WorkerSettings, install
from checker.grading.pytest_plugin import ENGINE_RAISED
from tinylsm.testkit import group_commit

_client: Client | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--checker-worker", default=None, help="settings of the engine process (grading only)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    global _client
    path = config.getoption("--checker-worker")
    if path:
        _client = install(WorkerSettings.load(path))
        client = _client
        if client.settings.reads_elsewhere:
            client.made_elsewhere = engine.read_in_another_process
        group_commit.ENGINE_SIDE_WAITING = lambda ident, function: client.call("waiting_in", ident, function)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Once the tests are loaded, this process gives up reading their files (and every other file of the course).

    Files the student's code leaves in its scratch folder can be links: a test that
    reads them must not be led to the hidden tests, the reference or the results.
    Landlock holds this for the main thread and every thread it starts from now on.
    """
    if _client is None:
        return
    settings = _client.settings
    tests_tree = Path(__file__).resolve().parents[3]
    readable = [str(tests_tree / "tinylsm"), str(tests_tree / "checker"), *settings.read_paths]
    state = limits.restrict(readable, settings.write_paths, scoped=False)
    settings.protections.append(f"test process after loading the tests: {state}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Note a test in which a call of the engine failed: if it passes, it passed on a refusal (see
    ``run.share_refusals``). Whatever failed counts: an error the engine raised, one of the test's own that it
    passed back, its end, or an answer the contract refuses."""
    before = protocol.FAILED_CALLS[0]
    yield
    if protocol.FAILED_CALLS[0] != before:
        item.user_properties.append((ENGINE_RAISED, True))


@pytest.fixture
def tmp_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test's own folder, named by number: the engine process sees these folders, and pytest's names them
    after the test (a hidden test's name among them)."""
    return tmp_path_factory.mktemp("t", numbered=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _client is not None:
        _client.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    if _client is None:
        return None
    return f"engine process: {_client.settings.environment['TINYLSM_IMPL']} (isolated)"
