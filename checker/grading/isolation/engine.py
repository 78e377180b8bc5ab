"""What crash and durability tests need from an engine process, the same whether the checker grades or not.

* ``engine_process()`` starts a fresh engine process that a test drives and then
  kills with SIGKILL: a real crash, whose writes acknowledged before it are known
  to the test, not reported by the process that crashed. When the checker grades,
  it has every protection of the graded run's engine process; otherwise it runs
  the composition of this process (``TINYLSM_IMPL``) as a plain subprocess.
* ``watch_file_calls(monkeypatch, callback)`` reports every ``os.fsync``,
  ``os.replace``, ``os.rename``, ``os.unlink`` and ``os.remove`` the engine makes, in
  the process where the engine runs.
* ``engine_threads()`` names the threads alive in the process where the engine
  runs (the graded engine's threads are not the test process's).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from checker.grading.isolation import worker
from checker.grading.isolation.client import TEST_CODE_ROOTS, Client, WorkerSettings, installed_client
from tinylsm.testkit.power_cut import PowerCut


class EngineProcess:
    """A running engine process: its modules, its helper requests, and a way to kill it."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def module(self, name: str) -> Any:
        """The engine process's module ``name`` (e.g. ``tinylsm.engine``)."""
        return self._client.import_module(name)

    def cut_power_at(self, directory: Path, crash_at: int) -> PowerCut:
        """From now on, the ``crash_at``-th fsync cuts the power (see ``tinylsm.testkit.power_cut``)."""
        power = PowerCut(directory, crash_at, self.kill)
        connection = self._client.connection()
        connection.end_expected = True  # the process's end is the test's plan, not a failure of the code graded
        connection.call("report_fsyncs", power.fsync)
        return power

    def kill(self) -> None:
        """SIGKILL the engine process, and everything it started."""
        self._client.stop()


def _passed_environment() -> dict[str, str]:
    """The variables that say which code a local engine process composes."""
    return {name: os.environ[name] for name in ("TINYLSM_IMPL", "TINYLSM_DAY_DIRS") if name in os.environ}


def _local_settings(scratch: str) -> WorkerSettings:
    root = Path(__file__).resolve().parents[3]
    if not TEST_CODE_ROOTS:  # the tests may lend their callbacks to the engine process
        TEST_CODE_ROOTS[:] = [
            str(root / "days") + os.sep,
            str(root / "tinylsm") + os.sep,
            str(root / "scripts") + os.sep,
        ]
    return WorkerSettings(
        tree=str(root),
        scratch=scratch,
        environment={**_passed_environment(), "PYTHONDONTWRITEBYTECODE": "1"},
        student_dirs=[str(root / "days")],
        module_names=[],
        read_paths=[],
        write_paths=[],
        worker_package="checker.grading.isolation",
    )


class _Started:
    """An engine process already booting, with the scratch folder it was given (``None``: the graded run's)."""

    def __init__(self, settings: WorkerSettings, scratch: str | None) -> None:
        self.client = Client(settings)
        self.client.connection()  # starts the process; its interpreter boots while the caller goes on
        self.scratch = scratch

    def discard(self) -> None:
        self.client.stop()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


class _Spare:
    """One engine process started ahead of the crash test that will need it.

    A crash test kills its engine process, so each one needs a fresh process, and an
    interpreter takes about a tenth of a second to start. Starting the next one as
    soon as one is handed out lets it boot while the test drives the current one.
    The spare has run nothing yet, so it is as fresh as a process started on demand;
    it is used only by a caller that would have started it with the same settings.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: tuple[Any, _Started] | None = None
        atexit.register(self.discard)

    def take(self) -> _Started:
        """A started engine process for this caller; the next one starts booting."""
        graded = installed_client()
        key: Any = id(graded) if graded is not None else tuple(sorted(_passed_environment().items()))
        with self._lock:
            waiting, self._waiting = self._waiting, None
        if waiting is not None and waiting[0] != key:
            waiting[1].discard()
            waiting = None
        taken = waiting[1] if waiting is not None else self._start(graded)
        upcoming = self._start(graded)
        with self._lock:
            replaced, self._waiting = self._waiting, (key, upcoming)
        if replaced is not None:  # another thread's spare: one is enough
            replaced[1].discard()
        return taken

    @staticmethod
    def _start(graded: Client | None) -> _Started:
        if graded is not None:
            return _Started(graded.settings, None)
        scratch = tempfile.mkdtemp(prefix="tinylsm-engine-")
        return _Started(_local_settings(scratch), scratch)

    def discard(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting[1].discard()


_SPARE = _Spare()


@contextmanager
def engine_process() -> Iterator[EngineProcess]:
    """A fresh engine process for one crash; killed (if still alive) when the block ends."""
    started = _SPARE.take()
    try:
        yield EngineProcess(started.client)
    finally:
        started.discard()


class _TestsOwnEngine:
    """The engine process that ``engine_for_this_test`` started for the running test, ended when another test asks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: tuple[str, _Started] | None = None
        atexit.register(self.discard)

    def get(self) -> EngineProcess:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
        with self._lock:
            if self._owner is not None and self._owner[0] == test:
                return EngineProcess(self._owner[1].client)
            stale, self._owner = self._owner, (test, _SPARE.take())
            owned = self._owner[1]
        if stale is not None:
            stale[1].discard()
        return EngineProcess(owned.client)

    def discard(self) -> None:
        with self._lock:
            stale, self._owner = self._owner, None
        if stale is not None:
            stale[1].discard()


_TESTS_OWN_ENGINE = _TestsOwnEngine()


def engine_for_this_test() -> EngineProcess:
    """An engine process of the running test's own, apart from the one its other calls reach.

    It has run nothing but what the test asks of it here, so a round trip that
    decodes in it learns the data from the bytes alone: an encoder's memory cannot
    stand in for a format. One process serves every call of one test (the examples
    of a property test too), and is ended when the next test asks for its own.
    """
    return _TESTS_OWN_ENGINE.get()


def watch_file_calls(monkeypatch: pytest.MonkeyPatch, callback: Callable[[str, str, list], None]) -> None:
    """Report the engine's file calls to ``callback("before" | "after", name, arguments)`` until the test ends."""
    graded = installed_client()
    if graded is None:
        for name, wrapper in worker.file_call_wrappers(callback).items():
            monkeypatch.setattr(os, name, wrapper)
        return
    monkeypatch.setattr(_ENGINE_WATCH, "client", graded)
    monkeypatch.setattr(_ENGINE_WATCH, "watchers", (*_ENGINE_WATCH.watchers, callback))


class _EngineFileCallWatch:
    """The callbacks the engine process's file-call hooks report to; setting ``watchers`` sets theirs.

    ``monkeypatch`` sets and restores it like any attribute, so a test's watchers go
    when the test ends, while the functions in the engine's ``os`` never change.
    """

    def __init__(self) -> None:
        self.client: Client | None = None
        self.watchers: tuple[Callable[[str, str, list], None], ...] = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "watchers" and self.client is not None:
            self.client.call("watch_file_calls", value)
        object.__setattr__(self, name, value)


_ENGINE_WATCH = _EngineFileCallWatch()


def engine_threads() -> list[str]:
    """The names of the threads alive where the engine runs, the checker's own left out."""
    graded = installed_client()
    return worker.thread_names() if graded is None else graded.call("threads")
