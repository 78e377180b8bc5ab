"""Day 7 hidden tests, task 4: errors, many callers, one fsync at a time, and the extension point.

The fake log and the callers are those of the visible tests: ``fsync`` records the
newest write made before it began, and the first ``fsync`` can hold still until the
other callers wait inside ``sync``. No test sleeps.
"""

from __future__ import annotations

import errno
import sys
import threading
from collections.abc import Callable

import pytest

from tinylsm.extensions import sync_function
from tinylsm.group_commit import GroupCommit
from tinylsm.testkit import options_for_day
from tinylsm.testkit.group_commit import (
    JOIN_TIMEOUT,
    FakeLog,
    Outcome,
    assert_covered,
    call_sync,
    run_with_latecomers,
)


def group_commit(fsync):
    return GroupCommit(fsync).sync


@pytest.mark.day7_task4
def test_an_error_of_an_fsync_in_flight_does_not_reach_callers_who_came_later() -> None:
    """An fsync error reached callers that called sync after that fsync began (they must share the next fsync)."""
    log = FakeLog(fail=frozenset({1}))
    first, rest = run_with_latecomers(log, 5, group_commit)
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
    _, rest = run_with_latecomers(log, 9, group_commit)
    described = [(getattr(o.error, "errno", None), str(o.error)) for o in rest]
    expected = (errno.EIO, "[Errno 5] fsync number 2 failed")
    assert described == [expected] * 9, f"expected each of the 9 callers to raise {expected}, got {described}"


class Interrupted(BaseException):
    """An fsync stopped by something other than an ``Exception`` (as ``KeyboardInterrupt`` is)."""


@pytest.mark.day7_task4
def test_every_caller_sharing_an_fsync_stopped_by_a_base_exception_gets_it() -> None:
    """An fsync that raised a BaseException (not an Exception) left the callers that shared it believing it worked."""

    def interrupted(fsync: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fsync()
            except OSError as error:
                raise Interrupted(str(error)) from error

        return GroupCommit(run).sync

    log = FakeLog(fail=frozenset({2}))
    _, rest = run_with_latecomers(log, 5, interrupted)
    returned = [o.write for o in rest if o.error is None]
    assert not returned, (
        f"the fsync the callers shared was interrupted, yet the callers of writes {returned} returned as if it had "
        "succeeded: catch BaseException, not only Exception, when you hand the round's outcome to its callers"
    )


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


@pytest.mark.day7_task4
def test_callers_sharing_a_failed_fsync_do_not_run_it_again() -> None:
    """After the fsync of a round raised, a caller that shared that round ran fsync again (and raised that
    later fsync's error) instead of raising the round's own error: a failed round is over, like a successful one."""
    log = FakeLog(fail=frozenset(range(2, 10)))  # the first fsync works, every later one fails
    _, rest = run_with_latecomers(log, 2, group_commit)
    described = sorted(str(o.error) for o in rest)
    expected = "[Errno 5] fsync number 2 failed"
    assert described == [expected] * 2, (
        f"the 2 callers that came while fsync number 1 ran share fsync number 2, which failed: each should raise "
        f"{expected!r}, got {described}"
    )
    assert log.fsyncs == 2, (
        f"expected 2 fsyncs (the first caller's, then the one the 2 later callers shared), got {log.fsyncs}: "
        "a caller ran fsync again for a round that had already failed"
    )
