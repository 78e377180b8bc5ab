"""The wire between the test process and the engine process (two endpoints over a socket pair), and the engine
process's own refusal to run code it cannot guard."""

from __future__ import annotations

import pickle
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from checker.grading.isolation import limits, protocol
from checker.grading.isolation.client import Client, Exports, RemoteModule
from checker.grading.isolation.contract import course_contract
from checker.grading.isolation.engine import _local_settings
from checker.grading.isolation.protocol import Endpoint
from checker.grading.isolation.trees import python_paths
from tests.helpers import ROOT

CALLERS, CALLS_EACH = 4, 15
HANDOVER_DELAY = 0.06
"""Seconds each hand-over of a message to another thread is held up (as when the reading thread is descheduled):
longer than a waiting thread takes to look at the socket again (``FOLLOWER_WAIT``)."""


def _endpoint(sock: socket.socket, side: str, serve: Any) -> Endpoint:
    return Endpoint(
        sock,
        side,
        serve,
        pickle.dumps,
        pickle.loads,
        lambda error: (type(error).__name__, str(error)),
        lambda description: RuntimeError(description),
        lambda releases: None,
    )


@pytest.fixture
def wire() -> Iterator[tuple[Endpoint, Endpoint]]:
    """A caller's side, and a server's whose every request calls back into the caller's side once."""
    ours, theirs = socket.socketpair()
    endpoints: dict[str, Endpoint] = {}

    def serve_caller(op: str, args: tuple) -> Any:
        return "fsynced"

    def serve_server(op: str, args: tuple) -> Any:
        return endpoints["server"].call("fsync")  # a nested call, answered on the caller's lane

    endpoints["caller"] = _endpoint(ours, "t", serve_caller)
    endpoints["server"] = _endpoint(theirs, "w", serve_server)
    for endpoint in endpoints.values():
        endpoint.start()
    yield endpoints["caller"], endpoints["server"]
    ours.close()
    theirs.close()


def test_many_threads_with_nested_calls_never_wait_for_an_answer_already_read(wire: tuple[Endpoint, Endpoint]) -> None:
    """Answers are handed to their thread before the socket's reading is let go.

    Were an answer routed after, the thread it belongs to could take the socket in
    between and block reading it for an answer already read, while the other side
    waits on that thread: a hang that struck about one grading run in a hundred.
    """
    caller, _ = wire
    answers: list[str] = []
    route = caller._route

    def slow_route(message: tuple) -> None:
        time.sleep(HANDOVER_DELAY)  # widens the window in which the answer's own thread may take the socket
        route(message)

    caller._route = slow_route  # type: ignore[method-assign]

    def calls() -> None:
        for _ in range(CALLS_EACH):
            answers.append(caller.call("sync"))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch often, so the wire's readers interleave in many ways
    try:
        threads = [threading.Thread(target=calls, daemon=True) for _ in range(CALLERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    finally:
        sys.setswitchinterval(interval)
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} of {CALLERS} threads still wait for an answer after 20 s"
    assert answers == ["fsynced"] * (CALLERS * CALLS_EACH)


@pytest.mark.skipif(limits.abi_version() == 0, reason="needs a kernel with Landlock")
def test_an_engine_process_whose_file_guard_failed_runs_none_of_the_code(tmp_path: Path) -> None:
    """Asked for Landlock and refused it (here: a rule on a namespace file), the engine imports nothing."""
    settings = _local_settings(str(tmp_path))
    settings.read_paths = [*python_paths(), settings.tree, "/proc/self/ns/pid"]  # Landlock refuses a rule on nsfs
    settings.write_paths = [str(tmp_path)]
    client = Client(settings)
    try:
        with pytest.raises(Exception, match="could not limit its file access") as refused:
            client.import_module("tinylsm.options")
        assert "runs none of the code graded" in str(refused.value)
        assert client.call("status")["file access"].startswith("not in force")
    finally:
        client.stop()


class _Recorder:
    """A test's object lent to the engine, whose list the test asserts on."""

    def __init__(self) -> None:
        self.problems = ["the WAL was deleted before the flush was recorded"]

    def note(self, problem: str) -> None:
        self.problems.append(problem)


def _pickled(*parts: Any) -> bytes:
    """Protocol 2 pickle bodies (no frames) glued together: a message crafted opcode by opcode."""
    return b"\x80\x02" + b"".join(part if isinstance(part, bytes) else pickle.dumps(part, 2)[2:-1] for part in parts)


@pytest.mark.parametrize(
    "reference,steps",
    [
        (("T",), [{"problems": []}, b"b"]),  # BUILD: set attributes of the lent object
        (("N", "note"), [("forged",), b"R"]),  # REDUCE: call a method of the lent object
        (("T",), [b"(", "x", b"e"]),  # APPENDS onto the lent object
    ],
    ids=["build", "reduce", "appends"],
)
def test_a_message_from_the_engine_cannot_change_or_call_an_object_the_tests_lent(
    reference: tuple, steps: list[Any]
) -> None:
    client = Client.__new__(Client)  # only its exports are used to decode
    client.exports = Exports()
    recorder = _Recorder()
    oid = client.exports.export(recorder)
    data = _pickled((reference[0], oid, *reference[1:]), b"Q", *steps, b".")
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do: the point is what did not happen
        client.decode(data)
    assert recorder.problems == ["the WAL was deleted before the flush was recorded"], recorder.problems


def test_an_object_the_tests_lent_comes_back_as_itself_inside_containers() -> None:
    client = Client.__new__(Client)
    client.exports = Exports()
    recorder = _Recorder()
    oid = client.exports.export(recorder)
    data = _pickled(b"(", ("T", oid), b"Q", b"l", b".")  # [recorder]
    decoded = client.decode(data)
    assert decoded == [recorder] and decoded[0] is recorder, decoded


def _module_of_an_engine(name: str, **attributes: Any) -> RemoteModule:
    """A day's module as the test process sees it, whose engine process answers with ``attributes`` (by copy)."""
    client = Client.__new__(Client)
    client.contract = course_contract(ROOT)
    module = RemoteModule(name, client)
    object.__setattr__(module, "_remote", lambda: SimpleNamespace(**attributes))
    return module


def test_a_constant_of_the_course_is_read_from_the_contract_not_from_the_engine() -> None:
    module = _module_of_an_engine("tinylsm.compaction", STALL_FACTOR=10**9, MAX_COMPACTIONS_PER_SETTLE=1)
    assert module.STALL_FACTOR == 2 and module.MAX_COMPACTIONS_PER_SETTLE == 10_000
    header = _module_of_an_engine("tinylsm.wal", RECORD_HEADER=struct.Struct("<B")).RECORD_HEADER
    assert header.format == "<III" and header.size == 12, header.format
    assert _module_of_an_engine("tinylsm.sstable", MAGIC=b"fake").MAGIC == b"TLSM-SST"


def test_a_class_of_the_day_that_crosses_by_copy_is_refused_and_counted() -> None:
    from tinylsm.options import LsmStorageOptions

    module = _module_of_an_engine("tinylsm.block_cache", BlockCache=LsmStorageOptions, helper_value=7)
    before = protocol.FAILED_CALLS[0]
    with pytest.raises(TypeError, match="BlockCache must be the day's own class"):
        module.BlockCache  # noqa: B018 - reading it is the refused step
    assert protocol.FAILED_CALLS[0] == before + 1, "the refusal must count as a failed call of the engine"
    assert module.helper_value == 7, "a name the contract does not know crosses as the engine gives it"


@pytest.mark.parametrize(
    ("owner", "method", "answer", "allowed"),
    [
        ("bloom.Bloom", "may_contain", True, True),
        ("bloom.Bloom", "may_contain", 0.0081, False),  # truthy, and a sum of them is a false positive rate
        ("bloom.Bloom", "may_contain", 1, False),
        ("block.BlockIterator", "value", None, True),
        ("block.BlockIterator", "value", b"v", True),
        ("block.BlockIterator", "value", bytearray(b"v"), False),
        ("block.BlockBuilder", "estimated_size", True, False),  # a bool is no int
        ("bloom.false_positive_rate", None, 1, True),  # an int is a float, as in typing
    ],
)
def test_an_answer_annotated_with_scalars_must_be_of_exactly_one_of_them(
    owner: str, method: str | None, answer: object, allowed: bool
) -> None:
    contract = course_contract(ROOT)
    check = lambda: contract.checked(owner, method, answer, lambda value: False)  # noqa: E731
    if allowed:
        assert check() is None
    else:
        with pytest.raises(TypeError, match=f"returned {type(answer).__name__}, where the contract asks for"):
            check()
