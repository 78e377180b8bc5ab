"""Test support for group commit (day 7): a fake log and callers racing to ``sync``.

``FakeLog.write`` numbers each write, and ``FakeLog.fsync`` records the newest write
made before it *began*, which is the newest write it makes durable. A caller is
covered when, by the time its ``sync`` returns, some finished ``fsync`` began after
the caller's write. No test sleeps: the first ``fsync`` can hold still until the
other callers are waiting inside ``sync``.
"""

from __future__ import annotations

import errno
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

JOIN_TIMEOUT = 10.0
"""Seconds to wait for a caller thread before the test reports it as stuck."""

HOLD_LIMIT = 5.0
"""At most this long, the first fsync waits for the other callers to be waiting in ``sync``."""


@dataclass
class FakeLog:
    """Numbered writes, and an fsync that records which writes it covers."""

    fail: frozenset[int] = frozenset()
    """Which fsync calls (1 for the first) raise ``OSError``."""
    hold_first: Callable[[], None] | None = None
    """Run inside the first fsync, before it finishes."""
    written: int = 0
    fsyncs: int = 0
    covered: list[int] = field(default_factory=list)
    running: int = 0
    overlapped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self) -> int:
        with self.lock:
            self.written += 1
            return self.written

    def fsync(self) -> None:
        with self.lock:
            self.fsyncs += 1
            number, newest = self.fsyncs, self.written
            self.running += 1
            self.overlapped |= self.running > 1
        try:
            if number == 1 and self.hold_first is not None:
                self.hold_first()
            if number in self.fail:
                raise OSError(errno.EIO, f"fsync number {number} failed")
            with self.lock:
                self.covered.append(newest)
        finally:
            with self.lock:
                self.running -= 1

    def durable(self) -> int:
        """The newest write that a finished, successful fsync covers."""
        with self.lock:
            return max(self.covered, default=0)


@dataclass
class Outcome:
    write: int
    error: BaseException | None
    durable_on_return: int


def call_sync(log: FakeLog, sync: Callable[[], None], outcomes: list[Outcome]) -> None:
    """One caller: write, then sync; record what it saw."""
    number = log.write()
    try:
        sync()
    except BaseException as error:  # an fsync may fail with any exception, and each caller must see it
        outcomes.append(Outcome(number, error, log.durable()))
    else:
        outcomes.append(Outcome(number, None, log.durable()))


def frame_waits_in(frame: FrameType | None, function: str) -> bool:
    """Whether ``frame`` is a ``wait`` called (directly or not) from ``function``."""
    if frame is None or frame.f_code.co_name != "wait":
        return False
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


ENGINE_SIDE_WAITING: Callable[[int, str], bool] | None = None
"""Set when the engine runs in another process (the checker's grading): asks that process
whether the thread serving this process's thread ``ident`` waits inside ``function``."""


def waiting_in_sync(thread: threading.Thread) -> bool:
    """Whether ``thread`` is blocked in a ``wait`` called (directly or not) from ``sync``."""
    if frame_waits_in(sys._current_frames().get(thread.ident or -1), "sync"):
        return True
    return ENGINE_SIDE_WAITING is not None and thread.ident is not None and ENGINE_SIDE_WAITING(thread.ident, "sync")


def run_with_latecomers(
    log: FakeLog, latecomers: int, make_sync: Callable[[Callable[[], None]], Callable[[], None]]
) -> tuple[Outcome, list[Outcome]]:
    """One caller starts an fsync; while it is in flight, ``latecomers`` more callers call ``sync``.

    The first fsync finishes only once every latecomer waits inside ``sync`` (or after
    ``HOLD_LIMIT`` seconds, for a ``sync`` that waits in some other way).
    """
    sync = make_sync(log.fsync)
    first: list[Outcome] = []
    rest: list[Outcome] = []
    in_flight = threading.Event()
    others = [threading.Thread(target=call_sync, args=(log, sync, rest), daemon=True) for _ in range(latecomers)]

    def hold() -> None:
        in_flight.set()
        deadline = time.monotonic() + HOLD_LIMIT
        while not all(waiting_in_sync(thread) for thread in others) and time.monotonic() < deadline:
            time.sleep(0)  # only hands the interpreter to the other threads

    def first_caller() -> None:
        try:
            call_sync(log, sync, first)
        finally:
            in_flight.set()

    log.hold_first = hold
    leader = threading.Thread(target=first_caller, daemon=True)
    leader.start()
    in_flight.wait(JOIN_TIMEOUT)
    assert log.fsyncs == 1, f"the first caller's sync() should have started one fsync, but {log.fsyncs} started"
    for thread in others:
        thread.start()
    for thread in [leader, *others]:
        thread.join(JOIN_TIMEOUT)
    stuck = sum(thread.is_alive() for thread in [leader, *others])
    assert not stuck, f"{stuck} of {latecomers + 1} callers were still inside sync() after {JOIN_TIMEOUT} s"
    return first[0], rest


def assert_covered(outcomes: list[Outcome]) -> None:
    """Every caller returned only after an fsync that began after its write had finished."""
    for outcome in outcomes:
        assert outcome.write <= outcome.durable_on_return, (
            f"a caller whose write was #{outcome.write} returned from sync() when the finished fsyncs covered only "
            f"writes up to #{outcome.durable_on_return}: sync() must wait for an fsync that began after it was called"
        )
