"""The engine process: runs the composed ``tinylsm`` (the student's graded day) for a test process.

It is started by ``client.start_worker`` with one end of a socket pair, and does
only what the test process asks: import a module of ``tinylsm``, read or write an
attribute, call something. It holds the objects the test process uses through
proxies, and hands back plain values by copy.

Nothing here is trusted: the student's code runs in this process and may change
anything in it. What keeps the grade safe is on the other side of the socket
(the strict decoder of the test process) and around this process (another user,
Landlock, a PID namespace, limits). Only the standard library is used, since this
module is copied into the engine's own tree, away from the checker.
"""

from __future__ import annotations

import functools
import importlib
import io
import itertools
import json
import os
import pickle
import socket
import stat
import sys
import threading
import traceback
import types
from typing import Any

from tinylsm.testkit.group_commit import frame_waits_in

from . import limits
from .code_guard import guard_code
from .protocol import (
    DUNDER_OPS,
    PLAIN_TYPES,
    TEXT_LIMIT,
    WIRE_THREADS,
    BoundMethod,
    Endpoint,
    Proxy,
    ProxyTable,
    RemoteFailure,
    dumps,
    record_of,
)
from .protocol import operation as protocol_operation

ORIGIN_ATTRIBUTE = "_raised_by_the_tests"
"""Marks an exception that a test's callback raised, so that it goes back as that very exception."""

VALUE_CLASSES = {
    "tinylsm.options": None,  # every class of the module
    "tinylsm.state": ("SstInfo", "TreeShape", "LevelCompactionTask", "TieredCompactionTask", "CompactionRecord"),
    "tinylsm.lookup": ("Absent",),
    "tinylsm.errors": None,
    "pathlib": ("PosixPath", "PurePosixPath"),
    "tinylsm.testkit": ("ListIterator",),  # test data: copied, so that a merge over it needs no call back
}
"""Classes of the provided core whose instances cross by copy (the test process knows them too)."""


class Objects:
    """The objects of this process that the test process holds, with how many references it holds."""

    def __init__(self) -> None:
        self._held: dict[int, list] = {}
        self._lock = threading.Lock()

    def export(self, obj: Any) -> int:
        oid = id(obj)
        with self._lock:
            entry = self._held.get(oid)
            if entry is None:
                self._held[oid] = [obj, 1]
            else:
                entry[1] += 1
        return oid

    def get(self, oid: int) -> Any:
        with self._lock:
            return self._held[oid][0]

    def release(self, releases: list[tuple[int, int]]) -> None:
        with self._lock:
            for oid, count in releases:
                entry = self._held.get(oid)
                if entry is not None:
                    entry[1] -= count
                    if entry[1] <= 0:
                        del self._held[oid]


def describe_type(obj: Any) -> tuple:
    """``(module, qualname, methods, is_class)`` of an object sent by reference."""
    kind = obj if isinstance(obj, type) else type(obj)
    if isinstance(obj, types.ModuleType):
        return (obj.__name__, "<module>", (), False)
    methods = tuple(
        name
        for name in dir(kind)
        if not name.startswith("_")
        and callable(getattr(kind, name, None))
        and not isinstance(getattr(kind, name), type)
    )
    return (getattr(kind, "__module__", "?"), getattr(kind, "__qualname__", "?"), methods, isinstance(obj, type))


class Worker:
    """Serves the test process's requests on the composed engine."""

    def __init__(self, sock: socket.socket, student_dirs: list[str], status: dict) -> None:
        self.status = status
        self.refusal: str | None = None
        """Why no module may be imported here (the file guard asked for is not in force), if so."""
        self.objects = Objects()
        self.proxies = ProxyTable()
        self.student_dirs = tuple(os.path.realpath(d) + os.sep for d in student_dirs)
        self.value_types = self._value_types()
        self.endpoint = Endpoint(
            sock,
            "w",
            self.serve,
            self.encode,
            self.decode,
            self.describe_error,
            self.rebuild_error,
            self.objects.release,
            peer="the test process",
            peer_trusted=True,
        )

    @staticmethod
    def _value_types() -> frozenset:
        found = set()
        for module_name, names in VALUE_CLASSES.items():
            module = importlib.import_module(module_name)
            for name in names or [n for n in dir(module) if not n.startswith("_")]:
                value = getattr(module, name, None)
                if isinstance(value, type) and value.__module__ == module_name:
                    found.add(value)
        return frozenset(found)

    # -- encoding -------------------------------------------------------------------------
    def _persistent_id(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in PLAIN_TYPES or kind in self.value_types:
            return None
        if isinstance(obj, type) and (
            obj in self.value_types or (obj.__module__ == "builtins" and issubclass(obj, Exception))
        ):
            return None  # named, as the class of a value above
        if kind is Proxy:
            return ("T", object.__getattribute__(obj, "_proxy_oid"))
        if kind is BoundMethod and type(obj.target) is Proxy:
            return ("N", object.__getattribute__(obj.target, "_proxy_oid"), obj.name)
        return ("W", self.objects.export(obj), describe_type(obj))

    def encode(self, message: Any) -> bytes:
        return dumps(message, self._persistent_id)

    def decode(self, data: bytes) -> Any:
        unpickler = pickle.Unpickler(io.BytesIO(data))
        unpickler.persistent_load = self._persistent_load  # type: ignore[method-assign]
        return unpickler.load()

    def _persistent_load(self, pid: Any) -> Any:
        if pid[0] == "W":
            return self.objects.get(pid[1])
        if pid[0] == "M":
            return getattr(self.objects.get(pid[1]), pid[2])
        return self.proxies.proxy(self.endpoint, pid[1], pid[2])

    # -- errors -----------------------------------------------------------------------------
    def describe_error(self, error: BaseException) -> tuple:
        """Class path, message and the student's own frames of an exception raised here."""
        lineage = tuple((k.__module__, k.__qualname__) for k in type(error).__mro__)
        try:
            message = str(error)
        except Exception:  # a student's __str__ may raise too
            message = f"<{type(error).__name__} whose message could not be shown>"
        frames = [
            frame
            for frame in traceback.extract_tb(error.__traceback__)
            if os.path.realpath(frame.filename).startswith(self.student_dirs)
        ]
        where = "".join(traceback.format_list(frames))[-TEXT_LIMIT:]
        origin = getattr(error, ORIGIN_ATTRIBUTE, None)
        return (lineage, message[:TEXT_LIMIT], where, origin if type(origin) is int else None)

    @staticmethod
    def rebuild_error(description: tuple) -> BaseException:
        """A test's exception (raised by a callback) as the nearest class known here, marked with its origin."""
        lineage, message, _, origin = description
        error: BaseException = RemoteFailure(message)
        for module, qualname in lineage:
            kind = getattr(sys.modules.get(module), qualname, None)
            if isinstance(kind, type) and issubclass(kind, Exception):
                try:
                    error = kind(message)
                except Exception:
                    continue
                break
        setattr(error, ORIGIN_ATTRIBUTE, origin)
        return error

    # -- requests ---------------------------------------------------------------------------
    def serve(self, op: str, args: tuple) -> Any:
        if op == "import":
            (name,) = args
            if self.refusal:
                raise PermissionError(self.refusal)
            return importlib.import_module(name)
        if op == "call":
            target, positional, keywords = args
            return target(*positional, **keywords)
        if op == "method":
            target, name, positional, keywords = args
            return self._method(target, name)(*positional, **keywords)
        if op == "getattr":
            target, name = args
            return getattr(target, name)
        if op == "setattr":
            target, name, value = args
            setattr(target, name, value)
            return None
        if op == "delattr":
            target, name = args
            delattr(target, name)
            return None
        if op == "isinstance":
            return isinstance(*args)
        if op == "issubclass":
            return issubclass(*args)
        if op == "record":
            return record_of(*args)
        if op == "collect":
            return _collect(*args)
        if op == "call_each":
            target, name, arguments, unpack = args
            function = target if name is None else self._method(target, name)
            if unpack:
                return [function(*argument) for argument in arguments]
            return [function(argument) for argument in arguments]
        if op == "status":
            return self.status
        if op == "watch_file_calls":
            (file_call_hooks().watchers,) = args
            return None
        if op == "report_fsyncs":
            return report_fsyncs(*args)
        if op == "waiting_in":
            ident, function = args
            serving = self.endpoint.servants.get(("t", ident))
            return serving is not None and frame_waits_in(sys._current_frames().get(serving), function)
        if op == "threads":
            return thread_names()
        raise ValueError(f"unknown request {op!r}")

    @staticmethod
    def _method(target: Any, name: str) -> Any:
        if name in DUNDER_OPS:
            operation = protocol_operation(name)
            return lambda *args, **kwargs: operation(target, *args, **kwargs)
        if isinstance(target, (type, types.ModuleType)):
            return getattr(target, name)
        # the class's method, even when the instance was patched: a patch that wraps
        # the original must be able to call it
        attribute = getattr(type(target), name, None)
        if hasattr(attribute, "__get__"):
            return attribute.__get__(target, type(target))
        return getattr(target, name)


FILE_CALLS = ("fsync", "replace", "rename", "unlink", "remove")
"""The calls of ``os`` by which an engine makes its files durable or removes them."""


def _describe_argument(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        status = os.fstat(value)
        return {
            "inode": status.st_ino,
            "device": status.st_dev,
            "size": status.st_size,
            "folder": stat.S_ISDIR(status.st_mode),
        }
    return os.fspath(value) if isinstance(value, (str, bytes, os.PathLike)) else repr(value)


def file_call_wrappers(callback: Any) -> dict[str, Any]:
    """Wrappers of ``os.fsync``, ``os.replace``, ... that report each call to ``callback`` around the real one.

    ``callback("before" | "after", name, arguments)`` gets a file descriptor as its
    inode, device, size and kind, and a path as a string: what a test needs to learn
    which file was made durable, in which order. For tests run without an engine
    process (``pytest days/dayN``); an engine process keeps ``FileCallHooks`` instead.
    """
    return {name: functools.partial(_watched, callback, name, getattr(os, name)) for name in FILE_CALLS}


def _watched(watcher: Any, name: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    watcher("before", name, [_describe_argument(a) for a in args])
    result = call(*args, **kwargs)
    watcher("after", name, [_describe_argument(a) for a in args])
    return result


class FileCallHooks:
    """This process's ``os.fsync``, ``os.replace``, ...: installed before any graded code runs, never swapped.

    A test that watches the engine's file calls, or takes its fsyncs over for a power
    cut, sets ``watchers`` or ``report`` here; the functions in ``os`` stay the same
    objects. So graded code cannot tell whether a test is looking, and cannot do its
    fsyncs only while one is.
    """

    def __init__(self) -> None:
        self.watchers: tuple[Any, ...] = ()
        """Callbacks as ``file_call_wrappers`` takes them, the newest outermost."""
        self.report: Any = None
        """When set, an fsync only reports the file's inode to it (see ``report_fsyncs``)."""
        self._real = {name: getattr(os, name) for name in FILE_CALLS}
        for name in FILE_CALLS:
            setattr(os, name, self._hooked(name))

    def _hooked(self, name: str) -> Any:
        real = self._real[name]

        def hooked(*args: Any, **kwargs: Any) -> Any:
            report = self.report if name == "fsync" else None
            call = real if report is None else (lambda fd: report(os.fstat(fd).st_ino))
            for watcher in self.watchers:
                call = functools.partial(_watched, watcher, name, call)
            return call(*args, **kwargs)

        hooked.__name__ = hooked.__qualname__ = name
        hooked.__module__ = real.__module__
        hooked.__doc__ = real.__doc__
        return hooked


FILE_CALL_HOOKS: FileCallHooks | None = None
"""This process's hooks, once ``main`` (or the first test that needs them) installed them."""


def file_call_hooks() -> FileCallHooks:
    """The hooks of this process, installed on first use."""
    global FILE_CALL_HOOKS
    if FILE_CALL_HOOKS is None:
        FILE_CALL_HOOKS = FileCallHooks()
    return FILE_CALL_HOOKS


def thread_names() -> list[str]:
    """The names of this process's live threads, without the wire's own."""
    return sorted(t.name for t in threading.enumerate() if t not in WIRE_THREADS)


def report_fsyncs(report: Any) -> None:
    """From now on, each ``os.fsync`` of this process only tells ``report`` which file it made durable.

    ``report`` is the test process's: it decides what survives, and when the power
    goes (``tinylsm.testkit.power_cut``). The disk's own fsync would only cost time.
    """

    file_call_hooks().report = report


def _is_valid(iterator: Any) -> bool:
    valid = iterator.is_valid()
    if type(valid) is not bool:  # the test process trusts no other object's truth (see Proxy.__bool__)
        raise TypeError(f"is_valid() returned an object of the class {type(valid).__qualname__}, not a bool")
    return valid


def _collect(iterator: Any, limit: int) -> list:
    """Every entry of a storage iterator, or every item of a Python iterator, read here in one request.

    See ``testkit.collect``.
    """
    if not hasattr(iterator, "is_valid"):
        items = list(itertools.islice(iterator, limit + 1))
        if len(items) > limit:
            raise AssertionError(f"the iterator yielded more than {limit} items (does it ever end?)")
        return items
    entries = []
    while _is_valid(iterator):
        if len(entries) >= limit:
            raise AssertionError(f"the iterator yielded more than {limit} entries (does next() move?)")
        entries.append((iterator.key(), iterator.value()))
        iterator.next()
    return entries


def _pid_seen_by_the_checker() -> int:
    """This process's id in the checker's view: in a PID namespace of its own, it is 1 to itself."""
    try:
        return int(os.readlink("/proc/self"))  # /proc is the checker's, so it names the checker's id
    except (OSError, ValueError):
        return os.getpid()


def _effective_capabilities() -> int:
    """This process's effective capabilities (``CapEff``), or -1 where they cannot be read."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return -1


def main(config_text: str) -> None:
    """Set up this process's limits from ``config_text`` (JSON), then serve until the wire closes."""
    config = json.loads(config_text)
    sock = socket.socket(fileno=config["fd"])
    pid = _pid_seen_by_the_checker()  # before file access is limited: it reads /proc
    capabilities = _effective_capabilities()
    limits.die_with_parent()
    limits.limit_memory(config["memory_limit_mb"])
    file_access = (
        limits.restrict(config["read_paths"], config["write_paths"]) if config["read_paths"] else "not limited"
    )
    # before any thread starts: a seccomp filter covers only the threads started after it
    processes = limits.threads_only() if config["threads_only"] else "not limited"
    # last: the guard refuses ctypes, which the limits above are set with
    code = (
        guard_code(config["code_roots"], [*config["student_dirs"], *config["write_paths"]])
        if config["code_roots"]
        else "not limited"
    )
    file_call_hooks()  # before any graded code is imported: it must find os as every test leaves it
    os.chdir(config["scratch"])
    os.environ.clear()
    os.environ.update(config["environment"])
    status = {"file access": file_access, "processes": processes, "code": code, "user": os.getuid(), "pid": pid}
    worker = Worker(sock, config["student_dirs"], status)
    if config["read_paths"] and not file_access.startswith("landlock ABI"):
        # asked for a file guard and did not get one: fail closed, never run the code graded unguarded
        worker.refusal = (
            f"the engine process could not limit its file access ({file_access}), so it runs none of the code "
            "graded: report this to the instructor, with the machine it was graded on"
        )
    if config["no_capabilities"] and capabilities > 0:  # -1: unreadable where the test process starts it
        worker.refusal = (
            f"the engine process was to run without root's powers, but holds capabilities {capabilities:#x}, so it "
            "runs none of the code graded: report this to the instructor, with the machine it was graded on"
        )
    worker.endpoint.start()
    worker.endpoint.wait_until_gone()
    os._exit(0)
