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
* ``read_in_another_process`` is how the graded runs of the days that write files
  open each database, open each SST a second time, and read block indexes, WALs
  and MANIFESTs back: in an engine process that knows them from their files alone.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import importlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from checker.grading.isolation import worker
from checker.grading.isolation.client import TEST_CODE_ROOTS, Client, WorkerSettings, installed_client
from checker.grading.isolation.protocol import NOT_MADE_ELSEWHERE, Endpoint, Proxy, failed
from tinylsm.testkit import show
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
    """One engine process started ahead of the test that will need it.

    A crash test kills its engine process, and day 6 reopens a database in another
    process than the one that opened it last, so each needs a fresh process; an
    interpreter takes about a tenth of a second to start and to import the engine.
    The next one is started, and imports the engine, in a thread of its own as soon
    as one is handed out, while the test drives the current one. The spare has run nothing but that import, which is
    what every caller does first; it is used only by a caller that would have started
    it with the same settings.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: tuple[Any, Future[_Started]] | None = None
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinylsm-spare")
        atexit.register(self.discard)

    def take(self) -> _Started:
        """A started engine process for this caller; the next one starts booting."""
        graded = installed_client()
        key: Any = id(graded) if graded is not None else tuple(sorted(_passed_environment().items()))
        upcoming = self._starter.submit(self._start, graded)
        with self._lock:
            waiting, self._waiting = self._waiting, (key, upcoming)
        if waiting is not None and waiting[0] == key:
            return waiting[1].result()
        if waiting is not None:
            waiting[1].result().discard()
        return self._start(graded)

    @staticmethod
    def _start(graded: Client | None) -> _Started:
        if graded is not None:
            started = _Started(graded.settings, None)
        else:
            scratch = tempfile.mkdtemp(prefix="tinylsm-engine-")
            started = _Started(_local_settings(scratch), scratch)
        with contextlib.suppress(Exception):  # a module that fails to import fails the caller's own import
            started.client.import_module("tinylsm.engine")
        return started

    def discard(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting[1].result().discard()


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
        test = _current_test()
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


def _current_test() -> str:
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]


class _DatabaseProcess:
    """An engine process that databases of the running test are opened in, one at a time."""

    def __init__(self, started: _Started) -> None:
        self.started = started
        self.client = started.client
        self.used = False
        self.patches: dict[tuple[str, str], Any] = {}
        self.originals: dict[tuple[str, str], Any] = {}
        self._storage: Any = None

    def storage_class(self) -> Any:
        """``LsmStorage`` of this process, known as the contract's."""
        if self._storage is None:
            engine_module = self.client.import_module("tinylsm.engine")
            self._storage = engine_module.LsmStorage._proxy_known_as("engine.LsmStorage")
        return self._storage

    def alive(self) -> bool:
        endpoint = self.client.endpoint
        return endpoint is not None and not (endpoint.gone or endpoint.abandoned)

    def prepare(self, patches: dict[tuple[str, str], Any], watchers: tuple) -> None:
        """Make the test's patches of the day's modules, and its file-call watchers, hold here (and no older ones)."""
        for key in [key for key in self.patches if key not in patches]:
            setattr(self.client.import_module(key[0]), key[1], self.originals.pop(key))
            del self.patches[key]
        for (module_name, name), value in patches.items():
            if (module_name, name) in self.patches and self.patches[module_name, name] is value:
                continue
            module = self.client.import_module(module_name)
            self.originals.setdefault((module_name, name), getattr(module, name))
            setattr(module, name, value)
            self.patches[module_name, name] = value
        if watchers or self.used:  # a process used before may still hold an earlier step's watchers
            self.client.call("watch_file_calls", watchers)


class _DatabaseProcesses:
    """The engine processes that the running test's databases are opened in.

    A directory is never opened again in the process that opened it last: what that
    session wrote, the next one learns from the files alone. (An earlier session's
    process may serve a later open: the session in between wrote records it never
    saw, so a memory of its own writes cannot stand in for reading them.) A process
    whose database the test let go serves a next open, for a test that reopens
    databases many times; at most ``KEPT_PROCESSES`` wait so, and all are ended when
    the next test opens one.
    """

    KEPT_PROCESSES = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._test = ""
        self._live: list[_DatabaseProcess] = []
        self._let_go: list[_DatabaseProcess] = []
        self._opened_last_in: dict[str, _DatabaseProcess] = {}
        self._released: collections.deque[_DatabaseProcess] = collections.deque()
        """Processes whose database was collected: a collection may run anywhere, even where the lock is held."""
        atexit.register(self.discard)

    def open(self, graded: Client, method: str | None, args: tuple, kwargs: dict) -> Any:
        path = args[0] if args else kwargs.get("path")
        directory = os.path.realpath(path) if isinstance(path, (str, os.PathLike)) else None
        process = self._process_for(directory)
        try:
            process.prepare(graded.module_patches, _ENGINE_WATCH.watchers)
            process.used = True
            storage = process.storage_class()
            database = storage(*args, **kwargs) if method is None else getattr(storage, method)(*args, **kwargs)
        except BaseException:
            self._release(process)
            raise
        weakref.finalize(database, self._release, process)
        return database

    def live_endpoints(self) -> list[Endpoint]:
        """The connections to the processes of databases the running test still holds."""
        with self._lock:
            ended = self._take_released()
            live = [process for process in self._live if process.alive()]
        for stale in ended:
            stale.started.discard()
        return [process.client.endpoint for process in live if process.client.endpoint is not None]

    def _process_for(self, directory: str | None) -> _DatabaseProcess:
        """A process in which ``directory`` was not opened last (``None``, a path of no kind: a new process)."""
        test = _current_test()
        with self._lock:
            unused = self._take_released()
            if test != self._test:
                unused, self._let_go, self._test = [*unused, *self._live, *self._let_go], [], test
                self._live, self._opened_last_in = [], {}
            last = self._opened_last_in.get(directory) if directory is not None else None
            chosen = next(
                (p for p in reversed(self._let_go) if p is not last and p.alive() and directory is not None),
                None,
            )
            if chosen is not None:
                self._let_go.remove(chosen)
                self._live.append(chosen)
        for process in unused:
            process.started.discard()
        if chosen is None:
            chosen = _DatabaseProcess(_SPARE.take())
            with self._lock:
                self._live.append(chosen)
        if directory is not None:
            with self._lock:
                self._opened_last_in[directory] = chosen
        return chosen

    def _release(self, process: _DatabaseProcess) -> None:
        self._released.append(process)  # no lock: see _released

    def _take_released(self) -> list[_DatabaseProcess]:
        """Move the released processes to the kept ones (the lock held); those beyond ``KEPT_PROCESSES``, to end."""
        while self._released:
            process = self._released.popleft()
            if process in self._live:
                self._live.remove(process)
                self._let_go.append(process)
        ended = self._let_go[: -self.KEPT_PROCESSES]
        del self._let_go[: -self.KEPT_PROCESSES]
        return ended

    def discard(self) -> None:
        with self._lock:
            self._released.clear()
            unused, self._let_go, self._live = [*self._let_go, *self._live], [], []
        for process in unused:
            process.started.discard()


_DATABASES = _DatabaseProcesses()


READ_IN_ANOTHER_PROCESS = frozenset(
    {
        ("sstable.decode_block_meta", None),
        ("wal.decode_records", None),
        ("wal.decode_ops", None),
        ("wal.Wal", "replay"),
        ("manifest.decode_manifest_record", None),
        ("manifest.Manifest", "read"),
    }
)
"""The calls that read a day's formats back: run where nothing was written (``engine_for_this_test``)."""


_ROUTING = threading.local()
"""``active`` while a routed call makes its own call in the graded process (which must not be routed again)."""


def read_in_another_process(key: str, method: str | None, args: tuple, kwargs: dict) -> Any:
    """Each database opened, SST checked and format read back in another process than the one that wrote it.

    Installed as ``Client.made_elsewhere`` for the graded runs of the days that write
    files: what one process wrote reaches the next open of a database, the reading of
    a WAL, a MANIFEST or a block index, and a second opening of each SST, only through
    the files, as after a restart. A format kept in a process's memory instead of on
    disk loses it. Other calls are left to the process of the object called.
    """
    graded = installed_client()
    if graded is None or graded.hung_imports or getattr(_ROUTING, "active", False):
        # a module that hung while being imported would hang again in each new process: the
        # graded one, which knows it, refuses the call at once
        return NOT_MADE_ELSEWHERE
    if key == "engine.LsmStorage" and method in (None, "open"):
        return _DATABASES.open(graded, method, args, kwargs)
    if key == "sstable.SsTable" and method == "open":
        return _opened_alike_elsewhere(args, kwargs)
    if (key, method) not in READ_IN_ANOTHER_PROCESS:
        return NOT_MADE_ELSEWHERE
    module_name, _, name = key.partition(".")
    target = getattr(engine_for_this_test().module(f"tinylsm.{module_name}"), name)._proxy_known_as(key)
    read = target(*args, **kwargs) if method is None else getattr(target, method)(*args, **kwargs)
    if isinstance(read, (list, tuple)):
        return type(read)(_made_here(item) for item in read)
    return _made_here(read)


def _opened_alike_elsewhere(args: tuple, kwargs: dict) -> Any:
    """``SsTable.open(sst_id, path, block_cache)`` in the graded process, checked by opening the file again in the
    test's own: both must read the same block index from the file's bytes."""
    _ROUTING.active = True
    try:
        table = importlib.import_module("tinylsm.sstable").SsTable.open(*args, **kwargs)
    finally:
        _ROUTING.active = False
    sst_id, path = (*args, None, None)[:2]
    sst_id, path = kwargs.get("sst_id", sst_id), kwargs.get("path", path)
    elsewhere = engine_for_this_test().module("tinylsm.sstable").SsTable._proxy_known_as("sstable.SsTable")
    name = os.path.basename(path) if isinstance(path, (str, os.PathLike)) else show(path)
    where = f"SsTable.open of {name} in an engine process that knows the SST from its bytes alone"
    try:
        again = elsewhere.open(sst_id, path, None)
    except Exception as error:
        raise failed(AssertionError(f"{where} failed, where the process that wrote it opened it: {error}")) from None
    try:
        if list(table.block_meta) != list(again.block_meta):
            raise failed(
                AssertionError(
                    f"{where} read the block index {show(again.block_meta)}, where the process that wrote it"
                    f" read {show(table.block_meta)}: the format must be in the file"
                )
            )
    finally:
        with contextlib.suppress(Exception):
            again.close()
    return table


def _made_here(value: Any) -> Any:
    """A record read in the test's own engine process, made again from its fields in the graded one.

    The test hands it on to the day's other functions, which run in the graded process; its
    fields are what the other process read from the bytes.
    """
    if type(value) is not Proxy:
        return value
    record = value._proxy_record()
    if record is None:
        return value
    module_name, _, name = record[0].partition(".")
    return getattr(importlib.import_module(f"tinylsm.{module_name}"), name)(*record[1])


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
            for endpoint in _DATABASES.live_endpoints():
                endpoint.call("watch_file_calls", value)
        object.__setattr__(self, name, value)


_ENGINE_WATCH = _EngineFileCallWatch()


def engine_threads() -> list[str]:
    """The names of the threads alive where the engine runs, the checker's own left out."""
    graded = installed_client()
    if graded is None:
        return worker.thread_names()
    endpoints = (graded.connection(), *_DATABASES.live_endpoints())
    return [name for endpoint in endpoints for name in endpoint.call("threads")]
