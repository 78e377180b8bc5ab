"""Day 7 visible tests, task 4: group commit. Run with ``pytest days/day7 -m day7_task4``.

A fake log stands in for the file: ``write`` numbers each write, and ``fsync``
records the newest write made before it *began*, which is the newest write it makes
durable. A caller is covered when, by the time its ``sync`` returns, some finished
``fsync`` began after the caller's write. No test sleeps: the first ``fsync`` holds
still until the other callers are waiting inside ``sync``.
"""

from __future__ import annotations

import pytest

from tinylsm.group_commit import GroupCommit
from tinylsm.testkit.group_commit import FakeLog, Outcome, assert_covered, call_sync, run_with_latecomers


@pytest.mark.day7_task4
def test_sequential_calls_each_run_one_fsync() -> None:
    """GroupCommit.sync calls made one after another each run one fsync that covers the caller's writes."""
    log = FakeLog()
    group = GroupCommit(log.fsync)
    outcomes: list[Outcome] = []
    for _ in range(5):
        call_sync(log, group.sync, outcomes)
    assert [o.error for o in outcomes] == [None] * 5, f"sync() raised: {[o.error for o in outcomes]}"
    assert log.fsyncs == 5, f"5 calls of sync(), one after another, should run 5 fsyncs, ran {log.fsyncs}"
    assert_covered(outcomes)


@pytest.mark.day7_task4
def test_callers_arriving_during_an_fsync_share_the_next_one() -> None:
    """Callers of sync arriving during an fsync share one next fsync that covers them all; fsyncs never overlap."""
    log = FakeLog()
    first, rest = run_with_latecomers(log, 7, lambda fsync: GroupCommit(fsync).sync)
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
    """When a shared fsync raises OSError, every caller of sync that shared it raises it too."""
    log = FakeLog(fail=frozenset({2}))
    first, rest = run_with_latecomers(log, 5, lambda fsync: GroupCommit(fsync).sync)
    assert first.error is None, f"the first fsync succeeded, but its caller got {first.error!r}"
    got = [type(o.error).__name__ if o.error else "returned normally" for o in rest]
    assert all(isinstance(o.error, OSError) for o in rest), (
        f"the second fsync, shared by 5 callers, raised OSError: each of them should raise it, got {got}"
    )
