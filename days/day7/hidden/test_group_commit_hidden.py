"""Day 7 hidden tests, task 4: errors, many callers, one fsync at a time, and the extension point.

The fake log and the callers are those of the visible tests: ``fsync`` records the
newest write made before it began, and the first ``fsync`` can hold still until the
other callers wait inside ``sync``. No test sleeps.
"""

from __future__ import annotations

import errno
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tinylsm.extensions import sync_function
from tinylsm.group_commit import GroupCommit
from tinylsm.testkit import options_for_day

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


def run_with_latecomers(
    log: FakeLog, latecomers: int, make_sync: Callable[[Callable[[], None]], Callable[[], None]] | None = None
) -> tuple[Outcome, list[Outcome]]:
    """One caller starts an fsync; while it is in flight, ``latecomers`` more callers call ``sync``.

    The first fsync finishes only once every latecomer waits inside ``sync`` (or after
    ``HOLD_LIMIT`` seconds, for a ``sync`` that waits in some other way).
    """
    sync = make_sync(log.fsync) if make_sync is not None else GroupCommit(log.fsync).sync
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
    for outcome in outcomes:
        assert outcome.write <= outcome.durable_on_return, (
            f"a caller whose write was #{outcome.write} returned from sync() when the finished fsyncs covered only "
            f"writes up to #{outcome.durable_on_return}: sync() must wait for an fsync that began after it was called"
        )


@pytest.mark.day7_task4
def test_an_error_of_an_fsync_in_flight_does_not_reach_callers_who_came_later() -> None:
    """An fsync error reached callers that called sync after that fsync began (they must share the next fsync)."""
    log = FakeLog(fail=frozenset({1}))
    first, rest = run_with_latecomers(log, latecomers=5)
    assert isinstance(first.error, OSError), (
        f"the first caller's fsync failed: it should raise OSError, got {first.error!r}"
    )
    errors = [o.error for o in rest if o.error is not None]
    assert not errors, f"callers who came after the failed fsync began got its error: {errors[0]!r}"
    assert log.fsyncs == 2, f"expected the failed fsync and one shared retry, got {log.fsyncs} fsyncs"
    assert_covered(rest)


@pytest.mark.day7_task4
def test_every_caller_sharing_a_failed_fsync_gets_its_error() -> None:
    """Callers that shared a failed fsync did not all raise that fsync's OSError (same errno, same message)."""
    log = FakeLog(fail=frozenset({2}))
    _, rest = run_with_latecomers(log, latecomers=9)
    described = [(getattr(o.error, "errno", None), str(o.error)) for o in rest]
    expected = (errno.EIO, "[Errno 5] fsync number 2 failed")
    assert described == [expected] * 9, f"expected each of the 9 callers to raise {expected}, got {described}"


@pytest.mark.day7_task4
def test_a_sync_after_a_failed_fsync_runs_a_new_fsync() -> None:
    """After an fsync raised, the next sync did not run a fresh fsync (it stayed stuck, or repeated the old error)."""
    log = FakeLog(fail=frozenset({1}))
    group = GroupCommit(log.fsync)
    outcomes: list[Outcome] = []
    call_sync(log, group.sync, outcomes)
    call_sync(log, group.sync, outcomes)
    assert isinstance(outcomes[0].error, OSError), (
        f"the first fsync failed: sync should raise, got {outcomes[0].error!r}"
    )
    assert outcomes[1].error is None, f"the second fsync succeeded, but sync raised {outcomes[1].error!r}"
    assert log.fsyncs == 2, f"expected 2 fsyncs, got {log.fsyncs}"
    assert_covered(outcomes[1:])


@pytest.mark.day7_task4
def test_many_callers_are_all_covered_and_fsyncs_never_overlap() -> None:
    """Under many concurrent callers, a sync returned before its write was covered, or two fsyncs overlapped."""
    log = FakeLog()
    group = GroupCommit(log.fsync)
    outcomes: list[Outcome] = []
    start = threading.Barrier(8)

    def caller() -> None:
        start.wait(JOIN_TIMEOUT)
        for _ in range(25):
            call_sync(log, group.sync, outcomes)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so that callers interleave in many ways
    try:
        threads = [threading.Thread(target=caller, daemon=True) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads), "some callers were stuck in sync()"
    errors = [o.error for o in outcomes if o.error is not None]
    assert not errors, f"sync() raised although fsync never failed: {errors[0]!r}"
    assert len(outcomes) == 200, f"expected 200 calls to return, {len(outcomes)} did"
    assert_covered(outcomes)
    assert not log.overlapped, "two fsyncs ran at the same time: GroupCommit must run one fsync at a time"
    assert log.fsyncs <= 200, f"200 calls ran {log.fsyncs} fsyncs: never more than one per call"


@pytest.mark.day7_task4
def test_the_engine_extension_point_returns_a_grouping_sync() -> None:
    """sync_function(options with group_commit) did not let concurrent callers share one fsync."""
    log = FakeLog()
    first, rest = run_with_latecomers(
        log, latecomers=6, make_sync=lambda fsync: sync_function(options_for_day(7), fsync)
    )
    assert log.fsyncs == 2, f"7 callers through sync_function(...) should share 2 fsyncs, got {log.fsyncs}"
    assert_covered([first, *rest])


@pytest.mark.day7_task4
def test_a_sync_alone_fails_with_its_fsyncs_error() -> None:
    """A single caller's sync returned normally although its fsync raised."""
    log = FakeLog(fail=frozenset({1}))
    group = GroupCommit(log.fsync)
    with pytest.raises(OSError, match="fsync number 1 failed"):
        group.sync()
