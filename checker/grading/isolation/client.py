"""The test process's side of isolation: start the engine process, and make ``tinylsm`` modules proxies of it.

When the checker grades, the tests run in a process that holds their assertions,
their results and nothing of the student's: every module of a day (``tinylsm.block``,
``tinylsm.engine``, ...) is a ``RemoteModule`` whose attributes live in the engine
process (``worker.py``). Calls, attribute reads and writes cross the socket; plain
values (bytes, numbers, tuples, the provided options and errors) come back as
copies, every other object as a proxy. The provided core (``tinylsm.options``,
``tinylsm.errors``, ``tinylsm.testkit``, ...) stays a local module.

What comes back is decoded by ``decoding.SafeUnpickler``, which builds only the classes
in ``ALLOWED_CLASSES`` and proxies: whatever the engine process sends, no function of
this process runs because of it. The engine process may call back only into
objects the tests handed it (a callback, a test's fake log), and then only their
public methods; it cannot read an attribute that is not a plain value.
"""

from __future__ import annotations

import collections.abc
import functools
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import pathlib
import pickle
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checker.grading.isolation.contract import NOT_A_CONSTANT, Contract
from checker.grading.isolation.decoding import (
    ALLOWED_CLASSES,
    ALLOWED_TYPES,
    NOT_REBUILT,
    SafeUnpickler,
    public_method,
    public_name,
)
from checker.grading.isolation.protocol import (
    PLAIN_TYPES,
    BoundMethod,
    Endpoint,
    PeerGone,
    Proxy,
    ProxyTable,
    RemoteFailure,
    dumps,
    failed,
    record_of,
)

STOP_TIMEOUT = 10.0
"""Seconds to wait, after a kill, for an engine process to be gone."""

STATUS_TIMEOUT = 1.0
"""Seconds an engine process has to say who it is before it is killed (it answers in microseconds)."""


class EngineProcessError(RuntimeError):
    """The engine process could not run the student's code (it hung while importing, or ended)."""


@dataclass
class WorkerSettings:
    """Everything needed to start an engine process for one graded run."""

    tree: str
    scratch: str
    environment: dict[str, str]
    student_dirs: list[str]
    module_names: list[str]
    read_paths: list[str]
    write_paths: list[str]
    memory_limit_mb: int = 4096
    import_time_limit: float = 30.0
    pid_namespace: bool = False
    drop_capabilities: bool = False
    threads_only: bool = False
    """Whether the engine process may start threads only, and no process nor network socket (a graded run's)."""
    reads_elsewhere: bool = False
    """Whether what the day's code wrote is read back in another engine process than the one that wrote it
    (the days that write files: a database reopened, an SST opened, a WAL or a MANIFEST read)."""
    contract: dict = field(default_factory=dict)
    """The course's ``contract.Contract`` as JSON: what each class and function of the days returns."""
    code_roots: list[str] = field(default_factory=list)
    """Folders whose compiled modules the engine process may load; if any, it runs no bytecode given as data."""
    protections: list[str] = field(default_factory=list)
    worker_package: str = "_engine_worker"
    setpriv: str = field(default_factory=lambda: shutil.which("setpriv") or "")
    """``setpriv``'s path, found once: a graded engine cannot hide it from the next engine process's start."""
    unshare: str = field(default_factory=lambda: shutil.which("unshare") or "")

    def save(self, path: str) -> None:
        pathlib.Path(path).write_text(json.dumps(self.__dict__))

    @classmethod
    def load(cls, path: str) -> WorkerSettings:
        return cls(**json.loads(pathlib.Path(path).read_text()))


class Exports:
    """Objects of this process that the engine process holds (callbacks, fakes of tests)."""

    def __init__(self) -> None:
        self._held: dict[int, list] = {}
        self._lock = threading.Lock()

    def export(self, obj: Any) -> int:
        with self._lock:
            entry = self._held.setdefault(id(obj), [obj, 0])
            entry[1] += 1
        return id(obj)

    def holds(self, obj: Any) -> bool:
        """Whether ``obj`` itself was lent to the engine process (an equal value is not enough)."""
        with self._lock:
            entry = self._held.get(id(obj))
        return entry is not None and entry[0] is obj

    def get(self, oid: Any) -> Any:
        if type(oid) is not int:
            raise pickle.UnpicklingError("a reference that is not a number")
        with self._lock:
            entry = self._held.get(oid)
        if entry is None:
            raise pickle.UnpicklingError("a reference to an object this process never gave")
        return entry[0]

    def release(self, releases: Any) -> None:
        if not isinstance(releases, list):
            return
        with self._lock:
            for item in releases:
                if isinstance(item, tuple) and len(item) == 2 and type(item[0]) is int and type(item[1]) is int:
                    entry = self._held.get(item[0])
                    if entry is not None:
                        entry[1] -= item[1]
                        if entry[1] <= 0:
                            del self._held[item[0]]


def _describe(obj: Any) -> tuple:
    kind = type(obj)
    methods = tuple(n for n in dir(kind) if not n.startswith("_") and callable(getattr(kind, n, None)))
    return ("test", kind.__name__, methods, False)


class Client:
    """The test process's connection to its engine process; restarts the process after it ends."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.exports = Exports()
        self.proxies = ProxyTable()
        self.endpoint: Endpoint | None = None
        self.process: subprocess.Popen | None = None
        self.generation = 0
        self.hung_imports: dict[str, str] = {}
        self.contract = Contract.from_json(settings.contract)
        self.made_elsewhere: Callable[[str, str | None, tuple, dict], Any] | None = None
        """What makes some objects in engine processes of their own (see ``Endpoint.made_elsewhere``)."""
        self.module_patches: dict[tuple[str, str], Any] = {}
        """Per ``(module, name)``, the value a test set on a day's module and has not yet restored."""
        self._start_lock = threading.Lock()

    # -- the engine process -----------------------------------------------------------------
    def _command(self, fd: int) -> list[str]:
        settings = self.settings
        config = {
            "fd": fd,
            "memory_limit_mb": settings.memory_limit_mb,
            "read_paths": settings.read_paths,
            "write_paths": settings.write_paths,
            "scratch": settings.scratch,
            "tree": settings.tree,
            "environment": settings.environment,
            "student_dirs": settings.student_dirs,
            "threads_only": settings.threads_only,
            "code_roots": settings.code_roots,
            "no_capabilities": settings.drop_capabilities,
        }
        boot = (
            f"import sys; sys.path.insert(0, sys.argv[1]); from {settings.worker_package}.worker import main; "
            "main(sys.argv[2])"
        )
        command = [sys.executable, "-I", "-B", "-c", boot, settings.tree, json.dumps(config)]
        if settings.drop_capabilities:
            command = [settings.setpriv, "--bounding-set=-all", "--inh-caps=-all", "--", *command]
        if settings.pid_namespace:
            command = [settings.unshare, "--pid", "--fork", "--kill-child", "--", *command]
        if settings.setpriv and sys.platform.startswith("linux"):
            command = [settings.setpriv, "--pdeathsig", "KILL", "--", *command]
        return command

    def _start(self) -> Endpoint:
        ours, theirs = socket.socketpair()
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **self.settings.environment}
        self.process = subprocess.Popen(
            self._command(theirs.fileno()),
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            cwd=self.settings.scratch,
            env=environment,
            start_new_session=True,
        )
        theirs.close()
        endpoint = Endpoint(
            ours,
            "t",
            self.serve,
            self.encode,
            self.decode,
            self.describe_error,
            self.rebuild_error,
            self.exports.release,
            peer="the engine process (your code)",
        )
        endpoint.contract = self.contract
        endpoint.made_elsewhere = self.made_elsewhere
        endpoint.start()
        self.generation += 1
        return endpoint

    def connection(self) -> Endpoint:
        """The live engine process, started (again) when there is none."""
        with self._start_lock:
            if self.endpoint is None or self.endpoint.gone or self.endpoint.abandoned:
                if self.process is not None:
                    self.stop()
                self.endpoint = self._start()
            return self.endpoint

    def stop(self) -> None:
        """End the engine process (and, through its namespace or session, all it started)."""
        if self.endpoint is not None:
            self.endpoint.end_expected = True  # a call still waiting on it (a writer thread) failed by design
        process = self.process
        if process is not None and process.poll() is None:
            exit_watch = self._exit_watch()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                process.kill()
            process.wait()
            if exit_watch is not None:
                # in a PID namespace the process started here is not the engine process but
                # its parent, killed with it: wait for the engine process's own end, after
                # which it holds no file (a database's LOCK) that the next test may open
                select.select([exit_watch], [], [], STOP_TIMEOUT)
                os.close(exit_watch)
        if self.endpoint is not None:
            # the wire closes when the last process holding it has ended: only then are its
            # files (and a database's LOCK) released
            self.endpoint.wait_until_gone(STOP_TIMEOUT)
            self.endpoint.gone = True

    def _exit_watch(self) -> int | None:
        """A descriptor that becomes readable when the engine process has ended, if it is not ``self.process``."""
        endpoint = self.endpoint
        if not self.settings.pid_namespace or endpoint is None or endpoint.gone or not hasattr(os, "pidfd_open"):
            return None
        try:
            pid = endpoint.call("status", timeout=STATUS_TIMEOUT)["pid"]
            # the answer comes from where the student's code runs: a wrong one costs only time
            return os.pidfd_open(pid) if type(pid) is int and pid > 1 and pid != os.getpid() else None
        except Exception:
            return None

    # -- encoding -----------------------------------------------------------------------------
    def _persistent_id(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in PLAIN_TYPES:
            return None
        if kind is Proxy:
            return ("W", self._oid_here(obj))
        if kind is BoundMethod:
            return ("M", self._oid_here(obj.target), obj.name)
        if kind in ALLOWED_TYPES or (isinstance(obj, type) and obj in ALLOWED_TYPES):
            return None
        if not _may_leave(obj):
            raise TypeError(
                f"{kind.__module__}.{kind.__qualname__} objects of the tests cannot be handed to the engine"
            )
        return ("T", self.exports.export(obj), _describe(obj))

    def _oid_here(self, proxy: Proxy) -> int:
        """The id of ``proxy``'s object in this client's engine process, which must be where the object lives."""
        current = proxy._proxy_current()
        if object.__getattribute__(current, "_proxy_endpoint") is not self.endpoint:
            raise TypeError(
                f"an object of the class {current._proxy_info[1]} lives in another engine process (each database"
                " a test opens has one of its own), and cannot be handed to this one"
            )
        return object.__getattribute__(current, "_proxy_oid")

    def encode(self, message: Any) -> bytes:
        return dumps(message, self._persistent_id)

    def decode(self, data: bytes) -> Any:
        return SafeUnpickler(data, self).load()

    def proxy(self, oid: int, info: tuple) -> Proxy:
        return self.proxies.proxy(self.endpoint, oid, info)

    def describe_error(self, error: BaseException) -> tuple:
        """An exception of this process, as the engine process sees it: class and message, no frames.

        The exception itself stays here; if it comes back (raised by a test's callback,
        passed on by the student's code), it is raised again as the same object.
        """
        lineage = tuple((k.__module__, k.__qualname__) for k in type(error).__mro__)
        return (lineage, str(error)[:2000], "", self.exports.export(error))

    def rebuild_error(self, description: Any) -> BaseException:
        """The engine process's exception as one of ours: the nearest allowed class, its message and frames."""
        if not (isinstance(description, tuple) and len(description) == 4):
            return RemoteFailure("the engine process answered with a malformed error")
        lineage, message, where, origin = description
        if type(origin) is int:
            try:
                original = self.exports.get(origin)
            except pickle.UnpicklingError:
                original = None
            if isinstance(original, BaseException):
                return original
        message = str(message)
        error: BaseException | None = None
        for entry in lineage if isinstance(lineage, tuple) else ():
            kind = ALLOWED_CLASSES.get(entry) if isinstance(entry, tuple) else None
            if kind is not None and issubclass(kind, Exception) and kind not in NOT_REBUILT:
                try:
                    error = kind(message)
                except Exception:
                    continue
                break
        if error is None:
            name = lineage[0][1] if lineage and isinstance(lineage[0], tuple) else "exception"
            error = RemoteFailure(f"{name}: {message}")
        if where:
            error.add_note("In your code:\n" + str(where))
        return error

    # -- requests of the engine process -----------------------------------------------------------
    def serve(self, op: str, args: tuple) -> Any:
        """What the engine process may ask of this one: call what the tests gave it, read plain attributes.

        Never write one: the tests assert on the objects they lend (a recorder's ``problems``).
        """
        if op == "call":
            target, positional, keywords = args
            self._check_given(target)
            return target(*positional, **keywords)
        if op == "method":
            target, name, positional, keywords = args
            self._check_given(target)
            method = public_method(target, name)
            return method(*positional, **keywords)
        if op == "getattr":
            target, name = args
            self._check_given(target)
            return getattr(target, public_name(name))  # what cannot cross is refused by the encoder
        if op == "record":
            (target,) = args
            self._check_given(target)
            return record_of(target)
        raise PermissionError(f"the engine process may not ask for {op!r}")

    def _check_given(self, target: Any) -> None:
        # Only what the tests lent: a value the engine process sent (a path, a class) would make
        # this process its deputy, reading and writing files or patching classes for it.
        if not (
            self.exports.holds(target) or (isinstance(target, types.MethodType) and self.exports.holds(target.__self__))
        ):
            raise PermissionError("only objects the tests handed over can be called")

    # -- what the tests use -----------------------------------------------------------------------
    def import_module(self, name: str) -> Proxy:
        """The engine process's module ``name``, importing it there within the import time limit."""
        if name in self.hung_imports:
            raise failed(EngineProcessError(self.hung_imports[name]))
        endpoint = self.connection()
        try:
            return endpoint.call("import", name, timeout=self.settings.import_time_limit)
        except TimeoutError:
            message = (
                f"importing {name} did not finish within {self.settings.import_time_limit:g} s: the module hangs "
                "while being imported (a loop or a blocking call at module level?)"
            )
            self.hung_imports[name] = message
            self.stop()
            raise EngineProcessError(message) from None
        except PeerGone:
            raise EngineProcessError(
                f"the engine process ended while importing {name} (an exit or a crash at import time?)"
            ) from None

    def call(self, op: str, *args: Any) -> Any:
        return self.connection().call(op, *args)


TEST_CODE_ROOTS: list[str] = []
"""Folders of the code the tests are made of (their test files and the provided core): set by ``install``."""


def _may_leave(obj: Any) -> bool:
    """Whether an object of this process may be lent to the engine process (by reference).

    Only the tests' own objects and functions, and those of the provided core: never
    a module, a class, or an object of pytest, hypothesis or the checker, through
    which the engine process could reach the grade.
    """
    if isinstance(obj, (types.ModuleType, type)):
        return False
    if type(obj).__module__ == "builtins" and isinstance(obj, collections.abc.Iterator):
        return True  # a generator or an iterator over the tests' data, read one item a request
    if isinstance(obj, (types.MethodType, functools.partial)):
        return _may_leave(obj.__self__ if isinstance(obj, types.MethodType) else obj.func)
    module_name = obj.__module__ if isinstance(obj, types.FunctionType) else type(obj).__module__
    module = sys.modules.get(module_name or "")
    path = os.path.realpath(getattr(module, "__file__", None) or "/")
    return any(path.startswith(root) for root in TEST_CODE_ROOTS)


class RemoteModule(types.ModuleType):
    """A module of a day, living in the engine process: attribute reads and writes go there."""

    def __init__(self, name: str, client: Client) -> None:
        super().__init__(name)
        object.__setattr__(self, "_remote_client", client)
        object.__setattr__(self, "_remote_handle", None)
        object.__setattr__(self, "_remote_generation", -1)
        object.__setattr__(self, "_remote_originals", {})

    def _remote(self) -> Proxy:
        client: Client = object.__getattribute__(self, "_remote_client")
        endpoint = client.endpoint
        if (
            object.__getattribute__(self, "_remote_generation") != client.generation
            or endpoint is None
            or endpoint.gone
            or endpoint.abandoned
        ):
            handle = client.import_module(self.__name__)
            object.__setattr__(self, "_remote_handle", handle)
            object.__setattr__(self, "_remote_generation", client.generation)
        return object.__getattribute__(self, "_remote_handle")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        contract: Contract = object.__getattribute__(self, "_remote_client").contract
        constant = contract.constant(self.__name__, name)
        if constant is not NOT_A_CONSTANT:
            return constant
        value = getattr(self._remote(), name)
        member = contract.member(self.__name__, name)
        if type(value) is Proxy:
            # a class or function of the module: after the engine process is started again
            # (a crash in an earlier test), the same name there stands in for it
            value._proxy_rebind_with(lambda: getattr(self._remote(), name))
            value._proxy_known_as(member)
        elif member is not None:
            # a class that crosses by copy (the core's options, pathlib's paths ...) would run here,
            # in the test process, where nothing the engine raises is counted as its refusal
            raise failed(
                TypeError(
                    f"{self.__name__}.{name} must be the day's own class or function, but the module gives"
                    f" {type(value).__name__} {value!r:.80}"
                )
            )
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("__") and name.endswith("__"):
            object.__setattr__(self, name, value)
            return
        remote = self._remote()
        originals: dict = object.__getattribute__(self, "_remote_originals")
        if name not in originals:
            originals[name] = getattr(remote, name, _MISSING)
        setattr(remote, name, value)
        object.__getattribute__(self, "_remote_client").module_patches[(self.__name__, name)] = value

    def __delattr__(self, name: str) -> None:
        # pytest's monkeypatch looks for the old value in the local __dict__, finds nothing,
        # and undoes a patch by deleting it: deleting a patched name restores the original
        originals: dict = object.__getattribute__(self, "_remote_originals")
        original = originals.pop(name, _MISSING)
        object.__getattribute__(self, "_remote_client").module_patches.pop((self.__name__, name), None)
        if original is _MISSING:
            delattr(self._remote(), name)
        else:
            setattr(self._remote(), name, original)


_MISSING = object()


class RemoteFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import tinylsm.<day module>`` give a ``RemoteModule``; the provided core stays local."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.names = {f"tinylsm.{name}" for name in client.settings.module_names}

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in self.names:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return RemoteModule(spec.name, self.client)

    def exec_module(self, module: types.ModuleType) -> None:
        module._remote()  # type: ignore[attr-defined]  (imports it over there, or raises why not)


def install(settings: WorkerSettings) -> Client:
    """Route the day modules of ``tinylsm`` to a new engine process; the provided core stays here."""
    client = Client(settings)
    here = Path(__file__).resolve().parents[3]  # the test tree: checker/grading/isolation/client.py
    TEST_CODE_ROOTS[:] = [str(here / "days") + os.sep, str(here / "tinylsm") + os.sep]
    finder = RemoteFinder(client)
    for name in finder.names & set(sys.modules):  # imported before grading began: the engine's copy must serve
        del sys.modules[name]
    sys.meta_path.insert(0, finder)
    return client


def installed_client() -> Client | None:
    """The client of this test process's engine process, when the checker grades; ``None`` otherwise."""
    for finder in sys.meta_path:
        if isinstance(finder, RemoteFinder):
            return finder.client
    return None
