"""Day 7 visible tests, task 4: group commit. Run with ``pytest days/day7 -m day7_task4``.

A fake log stands in for the file: ``write`` numbers each write, and ``fsync``
records the newest write made before it *began*, which is the newest write it makes
durable. A caller is covered when, by the time its ``sync`` returns, some finished
``fsync`` began after the caller's write. No test sleeps: the first ``fsync`` holds
still until the other callers are waiting inside ``sync``.
"""

from __future__ import annotations

import errno
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tinylsm.group_commit import GroupCommit

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


def call_sync(log: FakeLog, group: GroupCommit, outcomes: list[Outcome]) -> None:
    """One caller: write, then sync; record what it saw."""
    number = log.write()
    try:
        group.sync()
    except Exception as error:
        outcomes.append(Outcome(number, error, log.durable()))
    else:
        outcomes.append(Outcome(number, None, log.durable()))


def waiting_in_sync(thread: threading.Thread) -> bool:
    """Whether ``thread`` is blocked in a ``wait`` called (directly or not) from ``sync``."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None or frame.f_code.co_name != "wait":
        return False
    while frame is not None:
        if frame.f_code.co_name == "sync":
            return True
        frame = frame.f_back
    return False


def run_with_latecomers(log: FakeLog, latecomers: int) -> tuple[Outcome, list[Outcome]]:
    """One caller starts an fsync; while it is in flight, ``latecomers`` more callers call ``sync``.

    The first fsync finishes only once every latecomer waits inside ``sync`` (or after
    ``HOLD_LIMIT`` seconds, for a ``sync`` that waits in some other way).
    """
    group = GroupCommit(log.fsync)
    first: list[Outcome] = []
    rest: list[Outcome] = []
    in_flight = threading.Event()
    others = [threading.Thread(target=call_sync, args=(log, group, rest), daemon=True) for _ in range(latecomers)]

    def hold() -> None:
        in_flight.set()
        deadline = time.monotonic() + HOLD_LIMIT
        while not all(waiting_in_sync(thread) for thread in others) and time.monotonic() < deadline:
            time.sleep(0)  # only hands the interpreter to the other threads

    def first_caller() -> None:
        try:
            call_sync(log, group, first)
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
    for outcome in outcomes:
        assert outcome.write <= outcome.durable_on_return, (
            f"a caller whose write was #{outcome.write} returned from sync() when the finished fsyncs covered only "
            f"writes up to #{outcome.durable_on_return}: sync() must wait for an fsync that began after it was called"
        )


@pytest.mark.day7_task4
def test_sequential_calls_each_run_one_fsync() -> None:
    log = FakeLog()
    group = GroupCommit(log.fsync)
    outcomes: list[Outcome] = []
    for _ in range(5):
        call_sync(log, group, outcomes)
    assert [o.error for o in outcomes] == [None] * 5, f"sync() raised: {[o.error for o in outcomes]}"
    assert log.fsyncs == 5, f"5 calls of sync(), one after another, should run 5 fsyncs, ran {log.fsyncs}"
    assert_covered(outcomes)


@pytest.mark.day7_task4
def test_callers_arriving_during_an_fsync_share_the_next_one() -> None:
    log = FakeLog()
    first, rest = run_with_latecomers(log, latecomers=7)
    errors = [o.error for o in [first, *rest] if o.error is not None]
    assert not errors, f"sync() raised although fsync never failed: {errors[0]!r}"
    assert log.fsyncs == 2, (
        "8 callers, 7 of which called sync() while the first one's fsync was in flight, should need exactly "
        f"2 fsyncs (the one in flight, then one shared by the 7), got {log.fsyncs}"
    )
    assert_covered([first, *rest])
    assert not log.overlapped, "two fsyncs ran at the same time: GroupCommit must run one fsync at a time"


@pytest.mark.day7_task4
def test_an_fsync_error_reaches_every_caller_that_shared_it() -> None:
    log = FakeLog(fail=frozenset({2}))
    first, rest = run_with_latecomers(log, latecomers=5)
    assert first.error is None, f"the first fsync succeeded, but its caller got {first.error!r}"
    got = [type(o.error).__name__ if o.error else "returned normally" for o in rest]
    assert all(isinstance(o.error, OSError) for o in rest), (
        f"the second fsync, shared by 5 callers, raised OSError: each of them should raise it, got {got}"
    )
