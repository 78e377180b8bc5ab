"""What crash and durability tests need from an engine process, the same whether the checker grades or not.

* ``engine_process()`` starts a fresh engine process that a test drives and then
  kills with SIGKILL: a real crash, whose writes acknowledged before it are known
  to the test, not reported by the process that crashed. When the checker grades,
  it has every protection of the graded run's engine process; otherwise it runs
  the composition of this process (``TINYLSM_IMPL``) as a plain subprocess.
* ``watch_file_calls(monkeypatch, callback)`` reports every ``os.fsync``,
  ``os.replace``, ``os.rename``, ``os.unlink`` and ``os.remove`` the engine makes, in
  the process where the engine runs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from checker.grading.isolation import worker
from checker.grading.isolation.client import TEST_CODE_ROOTS, Client, WorkerSettings, installed_client


class EngineProcess:
    """A running engine process: its modules, its helper requests, and a way to kill it."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def module(self, name: str) -> Any:
        """The engine process's module ``name`` (e.g. ``tinylsm.engine``)."""
        return self._client.import_module(name)

    def cut_power_at(self, directory: Path, crash_at: int) -> None:
        """From now on, the ``crash_at``-th fsync cuts the power (see ``worker.cut_power_at``)."""
        self._client.call("cut_power_at", str(directory), crash_at)

    def kill(self) -> None:
        """SIGKILL the engine process, and everything it started."""
        self._client.stop()


def _local_settings(scratch: str) -> WorkerSettings:
    root = Path(__file__).resolve().parents[3]
    if not TEST_CODE_ROOTS:  # the tests may lend their callbacks to the engine process
        TEST_CODE_ROOTS[:] = [
            str(root / "days") + os.sep,
            str(root / "tinylsm") + os.sep,
            str(root / "scripts") + os.sep,
        ]
    passed = {name: os.environ[name] for name in ("TINYLSM_IMPL", "TINYLSM_DAY_DIRS") if name in os.environ}
    return WorkerSettings(
        tree=str(root),
        scratch=scratch,
        environment={**passed, "PYTHONDONTWRITEBYTECODE": "1"},
        student_dirs=[str(root / "days")],
        module_names=[],
        read_paths=[],
        write_paths=[],
        worker_package="checker.grading.isolation",
    )


@contextmanager
def engine_process() -> Iterator[EngineProcess]:
    """A fresh engine process for one crash; killed (if still alive) when the block ends."""
    graded = installed_client()
    with tempfile.TemporaryDirectory(prefix="tinylsm-engine-") as scratch:
        client = Client(graded.settings if graded is not None else _local_settings(scratch))
        try:
            yield EngineProcess(client)
        finally:
            client.stop()


def watch_file_calls(monkeypatch: pytest.MonkeyPatch, callback: Callable[[str, str, list], None]) -> None:
    """Report the engine's file calls to ``callback("before" | "after", name, arguments)`` until the test ends."""
    graded = installed_client()
    if graded is None:
        target, wrappers = os, worker.file_call_wrappers(callback)
    else:
        target, wrappers = graded.import_module("os"), graded.call("file_call_wrappers", callback)
    for name, wrapper in wrappers.items():
        monkeypatch.setattr(target, name, wrapper)
