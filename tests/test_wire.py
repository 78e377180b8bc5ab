"""The wire between the test process and the engine process (two endpoints over a socket pair), and the engine
process's own refusal to run code it cannot guard."""

from __future__ import annotations

import pickle
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checker.grading.isolation import limits
from checker.grading.isolation.client import Client
from checker.grading.isolation.engine import _local_settings
from checker.grading.isolation.protocol import Endpoint
from checker.grading.isolation.trees import python_paths

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
