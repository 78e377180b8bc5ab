"""The wire between the grader's test process and the engine process that runs the student's code.

It is one concept that reads better whole: the message format, the endpoint that
sends and routes messages, and the proxy that turns attribute access into them
each make sense only with the other two in view.

Both ends speak the same protocol; only the standard library is used here, since
this module is copied into the engine process's own tree.

A message is a length-prefixed pickle of ``(kind, lane, call_id, body)``:

* ``kind`` is ``"call"`` (a request), ``"ok"`` or ``"err"`` (its answer), or
  ``"release"`` (proxies the other side dropped);
* ``lane`` names a pair of threads, one on each side, that talk to each other:
  ``("t", n)`` for a thread of the test process, ``("w", n)`` for a thread the engine
  started itself (a background compaction calling back into a test, say). Every
  request of a lane runs on the same thread at the other end, so locks, thread
  identity and nested calls (a test's callback that calls the engine again) behave
  as they would in one process.

What a side may send is decided by its encoder: plain values cross by copy, every
other object stays where it lives and crosses as a reference that the other side
turns into a proxy. What a side accepts is decided by its decoder, which the test
process keeps strict (see ``decoding.SafeUnpickler``): a message from the engine
process can never name a function to run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import operator
import pickle
import queue
import select
import socket
import struct
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct("<Q")
MAX_MESSAGE_BYTES = 1 << 30
"""A bound on one message, so that a hostile peer cannot make the other side allocate without limit."""

PLAIN_TYPES = frozenset(
    {type(None), bool, int, float, complex, str, bytes, bytearray, tuple, list, dict, set, frozenset}
)
"""Types that always cross by copy (their contents are encoded one by one)."""


FOLLOWER_WAIT = 0.05
"""How long a thread waits for the reading thread to hand it a message before it tries to read itself."""

BACKGROUND_POLL = 0.5
"""How often the background reader looks whether the wire went down while nobody read."""

SERVANT_IDLE_SECONDS = 20.0
"""A thread that served a lane ends after this long without a request (threads of tests come and go)."""


TEXT_LIMIT = 2000
"""Characters of a text (a repr, a message, a traceback) that cross at most."""

COLLECT_LIMIT = 10_000_000
"""Entries ``collect`` reads before it decides the iterator never ends."""

WIRE_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
"""The threads that carry the wire: not the engine's, whatever their names."""

FAILED_CALLS = [0]
"""How many calls made here ended in an exception caused by the other side: its error, its end (unless this
side was told to expect it), or an answer refused here. The test process's grading reads it around each test: a
test that passes while the engine's side failed may have passed on a refusal (see ``run.share_refusals``)."""


def failed(error: BaseException) -> BaseException:
    """``error``, counted in ``FAILED_CALLS``: raised here because of what the other side answered."""
    FAILED_CALLS[0] += 1
    return error


class PeerGone(ConnectionError):
    """The other process ended (or closed the wire) before answering."""


class RemoteFailure(Exception):
    """An exception from the other side whose class cannot be rebuilt here."""


Lane = tuple[str, int]


class Endpoint:
    """One side of the wire: sends requests, routes answers, serves the other side's requests.

    ``serve(op, args)`` runs a request of the other side and returns its result (or
    raises); ``encode(message)`` and ``decode(data)`` turn messages into bytes and back.

    Reading is leader/follower: a thread that waits for a message reads the socket
    itself when no other thread does, and hands on what belongs to other lanes. A
    call from one thread therefore costs one round trip and no thread switch; a
    background thread reads when nobody else does (a callback from a thread the
    other side started while this side is busy with something else).
    """

    def __init__(
        self,
        sock: socket.socket,
        side: str,
        serve: Callable[[str, tuple], Any],
        encode: Callable[[Any], bytes],
        decode: Callable[[bytes], Any],
        describe_error: Callable[[BaseException], tuple],
        rebuild_error: Callable[[Any], BaseException],
        on_release: Callable[[Any], None],
        peer: str = "the other process",
        peer_trusted: bool = False,
    ) -> None:
        self._sock = sock
        self.peer_trusted = peer_trusted
        """Whether the other side's objects may say what they equal and whether they are true (the tests' may)."""
        self.contract: Any = None
        """In the test process, the course's ``contract.Contract``: what each call of the engine may return."""
        self.made_elsewhere: Callable[[str, str | None, tuple, dict], Any] | None = None
        """In the test process, what makes some objects of a contract's class in another engine process:
        called with the class key, the method called on the class (``None``: the class itself), and the
        arguments; it answers ``NOT_MADE_ELSEWHERE`` for a call it leaves to this process."""
        self._peer = peer
        self._side = side
        self._serve = serve
        self._encode = encode
        self._decode = decode
        self._describe_error = describe_error
        self._rebuild_error = rebuild_error
        self._on_release = on_release
        self._send_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._inboxes: dict[Lane, queue.SimpleQueue] = {}
        self._inbox_lock = threading.Lock()
        self._local = threading.local()
        self._call_ids = itertools.count(1)
        self._pending_releases: list[tuple[int, int]] = []
        self._release_lock = threading.Lock()
        self._decoding = threading.local()
        self.gone = False
        self.gone_reason = ""
        self.abandoned = False
        self.end_expected = False
        """Whether this side asked for the other side's end (a simulated power cut): then it is no failure."""
        self._gone_event = threading.Event()
        self.servants: dict[Lane, int] = {}
        """The thread serving each lane of the other side (a lane's thread on this side: its ident)."""
        self._background = threading.Thread(target=self._background_reader, name=f"wire-{side}", daemon=True)
        WIRE_THREADS.add(self._background)

    def start(self) -> None:
        """Begin reading the other side's messages."""
        self._background.start()

    def wait_until_gone(self, timeout: float | None = None) -> bool:
        """Block until the other side closes the wire (or ``timeout`` passes); whether it did."""
        return self._gone_event.wait(timeout)

    # -- sending ------------------------------------------------------------------------
    def _send_bytes(self, data: bytes) -> None:
        with self._send_lock:
            self._sock.sendall(HEADER.pack(len(data)) + data)

    def release_later(self, oid: int, count: int) -> None:
        """Note that ``count`` references to the other side's object ``oid`` were dropped here.

        Called from ``__del__``, which may run anywhere (even inside a send), so the
        note is only queued; the next request carries it.
        """
        self._pending_releases.append((oid, count))

    def _flush_releases(self) -> None:
        if self._pending_releases:
            with self._release_lock:  # two threads must never send the same releases
                taken, self._pending_releases = self._pending_releases, []
            if taken:
                self._send_bytes(self._encode(("release", None, 0, taken)))

    def _lane(self) -> Lane:
        lane = getattr(self._local, "lane", None)
        if lane is None:
            lane = (self._side, threading.get_ident())
            self._local.lane = lane
        return lane

    def _inbox(self, lane: Lane) -> queue.SimpleQueue:
        with self._inbox_lock:
            inbox = self._inboxes.get(lane)
            if inbox is None:
                inbox = self._inboxes[lane] = queue.SimpleQueue()
            return inbox

    def call(self, op: str, *args: Any, timeout: float | None = None) -> Any:
        """Ask the other side to run ``op``; serve its nested requests while waiting.

        With ``timeout``, raises ``TimeoutError`` when no answer came in time (the
        request may still be running over there). Every exception it raises is counted
        in ``FAILED_CALLS``, whatever its class: an exception of this side's own that
        comes back through the other is the other side's answer too.
        """
        try:
            return self._call(op, args, timeout)
        except PeerGone:
            if not self.end_expected:
                FAILED_CALLS[0] += 1
            raise
        except BaseException:
            FAILED_CALLS[0] += 1
            raise

    def _call(self, op: str, args: tuple, timeout: float | None) -> Any:
        if getattr(self._decoding, "active", False):
            # only a crafted message makes decoding call something; refuse, and drop the wire
            raise pickle.UnpicklingError("a message tried to make a call while being decoded")
        if self.gone:
            raise PeerGone(f"{self._peer} had already ended ({self.gone_reason or 'it closed the connection'})")
        lane = self._lane()
        inbox = self._inbox(lane)
        call_id = next(self._call_ids)
        try:
            self._flush_releases()
            self._send_bytes(self._encode(("call", lane, call_id, (op, args))))
        except OSError as error:
            raise PeerGone(f"{self._peer} has ended ({error})") from None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                kind, _, answered, body = self._next_message(lane, inbox, deadline)
                if kind == "call":
                    self._run_request(lane, answered, body)
                elif kind == "gone":
                    inbox.put(("gone", lane, 0, None))  # later calls of this lane see it too
                    raise PeerGone(
                        f"{self._peer} ended before it answered: an exit, a crash or a kill ({self.gone_reason})"
                    )
                elif answered == call_id:
                    break
                # else: the answer to a call that was abandoned; drop it
        except (PeerGone, TimeoutError):
            raise
        except BaseException:
            # interrupted while the other side works on it (a test's time limit): that side
            # is busy for good on this lane, so it must be started again before the next call
            self.abandoned = True
            raise
        if kind == "ok":
            return body
        raise self._rebuild_error(body)

    # -- receiving ----------------------------------------------------------------------
    def _read_exactly(self, size: int) -> bytes:
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            count = self._sock.recv_into(view[received:], size - received)
            if count == 0:
                raise PeerGone("end of stream")
            received += count
        return bytes(buffer)

    def _read_message(self) -> tuple:
        """Read and decode one message; called with the read lock held."""
        (size,) = HEADER.unpack(self._read_exactly(HEADER.size))
        if size > MAX_MESSAGE_BYTES:
            raise PeerGone(f"a message of {size} bytes is over the limit")
        data = self._read_exactly(size)
        self._decoding.active = True
        try:
            message = self._decode(data)
        finally:
            self._decoding.active = False
        if not (isinstance(message, tuple) and len(message) == 4):
            raise PeerGone("a malformed message")
        if message[0] != "release" and not (isinstance(message[1], tuple) and len(message[1]) == 2):
            raise PeerGone("a message without a lane")
        return message

    def _read_one(self) -> tuple | None:
        """Read one message (read lock held); ``None`` once the wire is down."""
        try:
            return self._read_message()
        except (OSError, PeerGone, pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error) as error:
            self._go(f"{type(error).__name__}: {error}")
            return None

    def _go(self, reason: str) -> None:
        if not self.gone:
            self.gone_reason = reason
            self.gone = True
        with self._inbox_lock:
            inboxes = list(self._inboxes.values())
        for inbox in inboxes:
            inbox.put(("gone", None, 0, None))
        self._gone_event.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def _route(self, message: tuple) -> None:
        """Hand a request or an answer to its lane's thread, starting a thread for a new lane of the other side.

        Called with the read lock held. A thread that takes the lock next and finds its
        inbox empty must know its message is still on the wire: were it routed after
        the lock was let go, that thread could block reading the socket for an answer
        already read, while the other side, waiting on that thread, sends nothing more.
        (Releases are handled after the lock is let go: dropping an object may run its
        ``__del__``, which must not run with the socket's reading held.)
        """
        kind, lane = message[0], message[1]
        with self._inbox_lock:
            inbox = self._inboxes.get(lane)
            new_lane = inbox is None
            if new_lane:
                inbox = self._inboxes[lane] = queue.SimpleQueue()
            inbox.put(message)
        if kind == "call" and new_lane and lane[0] != self._side:
            servant = threading.Thread(target=self._servant, args=(lane,), name=f"lane-{lane[1]}", daemon=True)
            WIRE_THREADS.add(servant)
            servant.start()

    def _next_message(self, lane: Lane, inbox: queue.SimpleQueue, deadline: float | None) -> tuple:
        """The next message of ``lane``: read it from the socket when nobody else reads."""
        while True:
            try:
                return inbox.get_nowait()
            except queue.Empty:
                pass
            if self.gone:
                return ("gone", lane, 0, None)
            if deadline is None and self._read_lock.acquire(blocking=False):
                try:
                    try:
                        return inbox.get_nowait()  # handed over while we took the lock
                    except queue.Empty:
                        pass
                    message = self._read_one()
                    if message is not None and message[0] != "release":
                        if message[1] == lane:
                            return message
                        self._route(message)
                finally:
                    self._read_lock.release()
                if message is not None and message[0] == "release":
                    self._on_release(message[3])
                continue
            # another thread reads (or a deadline applies): wait for what it hands over
            wait = FOLLOWER_WAIT if deadline is None else max(0.0, min(FOLLOWER_WAIT, deadline - time.monotonic()))
            try:
                return inbox.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError("no answer in time") from None

    def _background_reader(self) -> None:
        """Read whenever the socket has data and no waiting thread is reading it."""
        while not self.gone:
            try:
                readable, _, _ = select.select([self._sock], [], [], BACKGROUND_POLL)
            except (OSError, ValueError):
                self._go("the socket closed")
                return
            if not readable:
                continue
            with self._read_lock:
                try:
                    ready, _, _ = select.select([self._sock], [], [], 0)
                except (OSError, ValueError):
                    ready = [self._sock]
                message = self._read_one() if ready else None
                if message is not None and message[0] != "release":
                    self._route(message)
            if message is not None and message[0] == "release":
                self._on_release(message[3])

    def _servant(self, lane: Lane) -> None:
        """Serve every request of one lane of the other side, on this one thread."""
        self._local.lane = lane
        self.servants[lane] = threading.get_ident()
        inbox = self._inbox(lane)
        while True:
            try:
                kind, _, call_id, body = self._next_message(lane, inbox, time.monotonic() + SERVANT_IDLE_SECONDS)
            except TimeoutError:
                with self._inbox_lock:
                    if inbox.empty():
                        del self._inboxes[lane]
                        self.servants.pop(lane, None)
                        return
                continue
            if kind == "gone":
                return
            if kind == "call":
                self._run_request(lane, call_id, body)

    def _run_request(self, lane: Lane, call_id: int, body: Any) -> None:
        result = None
        try:
            op, args = body
            result = self._serve(op, args)
            data = self._encode(("ok", lane, call_id, result))
        except BaseException as error:  # every failure goes back to the caller, as the caller's exception
            try:
                data = self._encode(("err", lane, call_id, self._describe_error(error)))
            except Exception as unencodable:
                data = self._encode(("err", lane, call_id, self._describe_error(RemoteFailure(repr(unencodable)))))
        try:
            # the answer goes first: a proxy in it may be dropped here, and its release must not overtake it
            self._send_bytes(data)
            del result
            self._flush_releases()
        except OSError as error:
            self._go(f"sending failed: {error}")


def dumps(value: Any, persistent_id: Callable[[Any], Any]) -> bytes:
    """Pickle ``value``, letting ``persistent_id`` decide which objects cross by reference."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.persistent_id = persistent_id  # type: ignore[method-assign]
    pickler.dump(value)
    return buffer.getvalue()


DUNDER_OPS = frozenset(
    {
        "__iter__",
        "__next__",
        "__len__",
        "__getitem__",
        "__setitem__",
        "__delitem__",
        "__contains__",
        "__bool__",
        "__eq__",
        "__ne__",
        "__hash__",
        "__enter__",
        "__exit__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__repr__",
        "__str__",
        "__call__",
    }
)
"""Special methods a proxy forwards (each runs as the operation it names, e.g. ``len(obj)``)."""


NOT_MADE_ELSEWHERE = object()
"""What ``Endpoint.made_elsewhere`` answers for a call it leaves to the endpoint's own process."""


def operation(name: str) -> Callable[..., Any]:
    """The operation a special method of ``DUNDER_OPS`` stands for, as a function of the object."""
    return _OPERATIONS[name]


_OPERATIONS: dict[str, Callable[..., Any]] = {
    "__iter__": iter,
    "__next__": next,
    "__len__": len,
    "__getitem__": operator.getitem,
    "__setitem__": operator.setitem,
    "__delitem__": operator.delitem,
    "__contains__": lambda obj, item: item in obj,
    "__bool__": bool,
    "__eq__": operator.eq,
    "__ne__": operator.ne,
    "__hash__": hash,
    "__lt__": operator.lt,
    "__le__": operator.le,
    "__gt__": operator.gt,
    "__ge__": operator.ge,
    "__repr__": lambda obj: repr(obj)[:TEXT_LIMIT],
    "__str__": lambda obj: str(obj)[:TEXT_LIMIT],
    "__call__": lambda obj, *args, **kwargs: obj(*args, **kwargs),
    "__enter__": lambda obj: type(obj).__enter__(obj),
    "__exit__": lambda obj, *args: type(obj).__exit__(obj, *args),
}


def record_of(obj: Any, fields_by_class: dict[str, tuple[str, ...]] | None = None) -> tuple | None:
    """``(class key, field values)`` of a record, so that the other side can compare records; else None.

    With ``fields_by_class`` (the contract's records, which the engine's side is sent) the
    fields are those the contract lists for the object's class; without it (an object the
    tests lent) they are the dataclass's own.
    """
    if isinstance(obj, type):
        return None
    kind = type(obj)
    key = f"{kind.__module__.rpartition('.')[2]}.{kind.__qualname__}"
    if fields_by_class is not None:
        names = fields_by_class.get(key)
        return None if names is None else (key, tuple(getattr(obj, name) for name in names))
    if not dataclasses.is_dataclass(obj):
        return None
    return (key, tuple(getattr(obj, field.name) for field in dataclasses.fields(obj)))


class ProxyTable:
    """One proxy per object of the other side, so that ``is`` means there what it means here."""

    def __init__(self) -> None:
        self._proxies: weakref.WeakValueDictionary[int, Proxy] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def proxy(self, endpoint: Endpoint, oid: int, info: tuple) -> Proxy:
        """The proxy of ``oid``, counting one more reference the other side gave out."""
        with self._lock:
            existing = self._proxies.get(oid)
            if existing is not None and object.__getattribute__(existing, "_proxy_endpoint") is endpoint:
                object.__setattr__(existing, "_proxy_count", existing._proxy_count + 1)
                return existing
            created = Proxy(endpoint, oid, info)
            self._proxies[oid] = created
            return created


class Proxy:
    """An object of the other process, used here as if it were local.

    Method calls, attribute reads and writes, calls and the special methods in
    ``DUNDER_OPS`` are forwarded. ``info`` is ``(module, qualname, methods, is_class)``:
    methods are called in one round trip, other attributes are read in one.
    """

    __slots__ = (
        "__weakref__",
        "_proxy_contract",
        "_proxy_count",
        "_proxy_endpoint",
        "_proxy_info",
        "_proxy_made_with",
        "_proxy_oid",
        "_proxy_rebind",
        "_proxy_rebound",
    )

    def __init__(self, endpoint: Endpoint, oid: int, info: tuple) -> None:
        object.__setattr__(self, "_proxy_endpoint", endpoint)
        object.__setattr__(self, "_proxy_oid", oid)
        object.__setattr__(self, "_proxy_info", info)
        object.__setattr__(self, "_proxy_count", 1)
        object.__setattr__(self, "_proxy_rebind", None)
        object.__setattr__(self, "_proxy_rebound", None)
        object.__setattr__(self, "_proxy_contract", None)
        object.__setattr__(self, "_proxy_made_with", None)

    def __del__(self) -> None:
        endpoint = self._proxy_endpoint
        if not endpoint.gone:
            endpoint.release_later(self._proxy_oid, self._proxy_count)

    def _proxy_rebind_with(self, find_again: Callable[[], Any]) -> None:
        """How to find this object again in a new process of the other side (for module-level names)."""
        object.__setattr__(self, "_proxy_rebind", find_again)

    def _proxy_current(self) -> Proxy:
        """This proxy, or, once its process has ended, the same name found again in the new one."""
        endpoint = self._proxy_endpoint
        if not (endpoint.gone or endpoint.abandoned) or self._proxy_rebind is None:
            return self
        rebound = self._proxy_rebound
        if rebound is None or rebound._proxy_endpoint.gone or rebound._proxy_endpoint.abandoned:
            rebound = self._proxy_rebind()
            object.__setattr__(self, "_proxy_rebound", rebound)
        return rebound

    def _proxy_call(self, op: str, *args: Any) -> Any:
        target = self._proxy_current()
        return target._proxy_endpoint.call(op, target, *args)

    def _proxy_answer_of_protocol(self, method: str, answer: type[Exception]) -> Any:
        """Call ``method``, whose exception ``answer`` is part of Python's protocol, not a failure of the engine.

        ``StopIteration`` is how an iterator ends, and ``TypeError`` from ``len()`` is how
        an object says it has none, which ``list()`` asks every iterable before reading
        it: a test that read a scan to its end did not pass on a refusal.
        """
        try:
            return self._proxy_call("method", method, (), {})
        except answer:
            FAILED_CALLS[0] -= 1  # the one count of this call (another thread's failures stay counted)
            raise

    def _proxy_known_as(self, key: str | None) -> Proxy:
        """Tell this proxy which class or function of the contract it is (the engine's word is not taken)."""
        object.__setattr__(self, "_proxy_contract", key)
        return self

    def _proxy_returned(self, method: str | None, result: Any) -> Any:
        """``result`` of calling this object (or its ``method``), checked against the contract when it has one."""
        contract = self._proxy_endpoint.contract
        if contract is None or self._proxy_contract is None:
            return result
        try:
            known_as = contract.checked(self._proxy_contract, method, result, lambda value: type(value) is Proxy)
        except TypeError:
            FAILED_CALLS[0] += 1
            raise
        return result._proxy_known_as(known_as) if type(result) is Proxy and known_as else result

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            # special names that introspection (pytest, inspect) probes: answered here, not over there
            if name == "__name__":
                return self._proxy_info[1].rpartition(".")[2]
            if name == "__qualname__":
                return self._proxy_info[1]
            if name == "__module__":
                return self._proxy_info[0]
            raise AttributeError(name)
        if name.startswith("_proxy_"):
            raise AttributeError(name)
        contract = self._proxy_endpoint.contract
        if (
            contract is not None
            and self._proxy_contract is not None
            and contract.has_method(self._proxy_contract, name)
        ):
            return BoundMethod(self, name)  # a method the contract names is called as one, checked
        if name in self._proxy_info[2]:
            return BoundMethod(self, name)
        return self._proxy_call("getattr", name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._proxy_call("setattr", name, value)

    def __delattr__(self, name: str) -> None:
        self._proxy_call("delattr", name)

    def _proxy_made_elsewhere(self, method: str | None, args: tuple, kwargs: dict) -> Any:
        """What calling this class or function (or a class's ``method``) made in another engine process, or
        ``NOT_MADE_ELSEWHERE``."""
        made_elsewhere = self._proxy_endpoint.made_elsewhere
        if made_elsewhere is None or self._proxy_contract is None or (method is not None and not self._proxy_info[3]):
            return NOT_MADE_ELSEWHERE
        return made_elsewhere(self._proxy_contract, method, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        elsewhere = self._proxy_made_elsewhere(None, args, kwargs)
        if elsewhere is not NOT_MADE_ELSEWHERE:
            return elsewhere
        result = self._proxy_returned(None, self._proxy_call("call", args, kwargs))
        contract = self._proxy_endpoint.contract
        if type(result) is Proxy and contract is not None and result._proxy_contract in contract.records:
            names = contract.records[result._proxy_contract]
            given = {**dict(zip(names, args, strict=False)), **kwargs}  # more arguments than fields: not set
            if len(args) <= len(names) and given.keys() == set(names):
                # a record the tests made is what they made it of, whatever the engine's object keeps
                object.__setattr__(
                    result, "_proxy_made_with", (result._proxy_contract, tuple(given[name] for name in names))
                )
        return result

    def collect_remotely(self) -> list:
        """Every remaining entry of a storage iterator over there, read in one request.

        Each key and value is checked as ``key()`` and ``value()`` would be.
        """
        entries = self._proxy_call("collect", COLLECT_LIMIT)
        if self._proxy_contract is not None and self._proxy_endpoint.contract is not None:
            for entry in entries:
                if type(entry) is tuple and len(entry) == 2:
                    self._proxy_returned("key", entry[0])
                    self._proxy_returned("value", entry[1])
        return entries

    def call_each_remotely(self, arguments: list, unpack: bool) -> list:
        """This function over there called with each of ``arguments``, in one request (``testkit.call_each``)."""
        return [self._proxy_returned(None, result) for result in self._proxy_call("call_each", None, arguments, unpack)]

    def __mro_entries__(self, bases: tuple) -> tuple:
        raise TypeError(f"{self._proxy_info[1]} lives in the engine process: a test cannot subclass it")

    def __instancecheck__(self, instance: Any) -> bool:
        target = self._proxy_current()
        return target._proxy_endpoint.call("isinstance", instance, target)

    def __subclasscheck__(self, subclass: Any) -> bool:
        target = self._proxy_current()
        return target._proxy_endpoint.call("issubclass", subclass, target)

    def __repr__(self) -> str:
        return self._proxy_call("method", "__repr__", (), {})

    def __str__(self) -> str:
        return self._proxy_call("method", "__str__", (), {})

    # Equality, hashing and truth of the engine's objects are decided here, never by their own
    # methods: an object of the student's code that says it equals everything, or is always
    # true (or always false), would otherwise pass every assertion made about it. They are
    # equal when they are the same object, or records of the same class whose fields are
    # equal: the record classes and their fields are the contract's, and a record a test made
    # holds the values the test gave, not what the engine's object reports. They have no
    # truth value (the contract's answers are plain values). The tests' objects, lent to the
    # engine, keep their own methods.
    def _proxy_record(self) -> tuple | None:
        if self._proxy_made_with is not None:
            return self._proxy_made_with
        contract = self._proxy_endpoint.contract
        if contract is None:
            return self._proxy_call("record")
        return self._proxy_call("record", contract.records)

    def __hash__(self) -> int:
        if self._proxy_endpoint.peer_trusted:
            return self._proxy_call("method", "__hash__", (), {})
        record = self._proxy_record()
        return hash(record) if record is not None else hash(self._proxy_oid)

    def __bool__(self) -> bool:
        if self._proxy_endpoint.peer_trusted:
            return self._proxy_call("method", "__bool__", (), {})
        raise failed(
            TypeError(
                f"an object of the class {self._proxy_info[1]} from the engine was used as true or false,"
                " where the contract asks for a plain value (such as a bool)"
            )
        )

    def __iter__(self) -> Any:
        return self._proxy_call("method", "__iter__", (), {})

    def __next__(self) -> Any:
        return self._proxy_answer_of_protocol("__next__", StopIteration)

    def __len__(self) -> int:
        return self._proxy_answer_of_protocol("__len__", TypeError)

    def __getitem__(self, key: Any) -> Any:
        return self._proxy_call("method", "__getitem__", (key,), {})

    def __setitem__(self, key: Any, value: Any) -> None:
        self._proxy_call("method", "__setitem__", (key, value), {})

    def __delitem__(self, key: Any) -> None:
        self._proxy_call("method", "__delitem__", (key,), {})

    def __contains__(self, item: Any) -> bool:
        return self._proxy_call("method", "__contains__", (item,), {})

    def __enter__(self) -> Any:
        return self._proxy_call("method", "__enter__", (), {})

    def __exit__(self, *exc_info: Any) -> bool:
        # the exception stays here, and the other side may not swallow it: it only learns to clean up
        self._proxy_call("method", "__exit__", (None, None, None), {})
        return False

    def __eq__(self, other: object) -> bool:
        if self._proxy_endpoint.peer_trusted:
            return self._proxy_call("method", "__eq__", (other,), {})
        if not isinstance(other, Proxy):
            return NotImplemented
        mine, theirs = self._proxy_current(), other._proxy_current()
        if mine._proxy_endpoint is theirs._proxy_endpoint and mine._proxy_oid == theirs._proxy_oid:
            return True
        record = mine._proxy_record()
        return record is not None and record == theirs._proxy_record()

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def _proxy_order(self, name: str, other: object) -> bool:
        if self._proxy_endpoint.peer_trusted:
            return self._proxy_call("method", name, (other,), {})
        # as with truth: an engine's object that says it is greater than anything would pass any bound
        raise failed(
            TypeError(
                f"an object of the class {self._proxy_info[1]} from the engine was ordered (<, >),"
                " where the contract asks for a plain value (such as an int)"
            )
        )

    def __lt__(self, other: object) -> bool:
        return self._proxy_order("__lt__", other)

    def __le__(self, other: object) -> bool:
        return self._proxy_order("__le__", other)

    def __gt__(self, other: object) -> bool:
        return self._proxy_order("__gt__", other)

    def __ge__(self, other: object) -> bool:
        return self._proxy_order("__ge__", other)


class BoundMethod:
    """``proxy.name``, ready to be called in one round trip."""

    __slots__ = ("name", "target")

    def __init__(self, target: Proxy, name: str) -> None:
        self.target = target
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        target = self.target
        elsewhere = target._proxy_made_elsewhere(self.name, args, kwargs)
        if elsewhere is not NOT_MADE_ELSEWHERE:
            return elsewhere
        return target._proxy_returned(self.name, target._proxy_call("method", self.name, args, kwargs))

    def call_each_remotely(self, arguments: list, unpack: bool) -> list:
        """This method called with each of ``arguments``, in one request (``testkit.call_each``)."""
        target = self.target
        results = target._proxy_call("call_each", self.name, arguments, unpack)
        return [target._proxy_returned(self.name, result) for result in results]

    def __repr__(self) -> str:
        return f"<method {self.name} of a remote object>"
