"""Day 4 hidden tests: writes, flushes and scans at the same time, from several threads or one.

The threaded tests are bounded (a fixed number of calls per thread, joins with a
time limit) and check only what must hold for every interleaving of the threads,
so their outcome never depends on the scheduler.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from tinylsm.engine import LsmStorage
from tinylsm.files import sst_path
from tinylsm.sstable import SsTableBuilder
from tinylsm.testkit import options_for_day, show

JOIN_SECONDS = 60
MAX_ROUNDS = 400
"""A reader thread stops after this many rounds even if the writers are not done yet."""
SWITCH_INTERVAL = 1e-4
"""Seconds between the interpreter's thread switches during a threaded test (the default is 5 ms)."""
OpenDb = Callable[..., LsmStorage]


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[OpenDb]:
    opened: list[LsmStorage] = []

    def open_(**sizes: int) -> LsmStorage:
        db = LsmStorage.open(tmp_path, options_for_day(4, **sizes))
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


def run_threads(targets: list[Callable[[], None]]) -> list[str]:
    """Start every target at once (a barrier), join them all, and return what went wrong.

    Threads switch more often than usual meanwhile, so that they really interleave.
    """
    errors: list[str] = []
    barrier = threading.Barrier(len(targets))

    def guarded(target: Callable[[], None]) -> None:
        try:
            barrier.wait()
            target()
        except BaseException as error:  # reported by the main thread
            errors.append(f"{threading.current_thread().name} raised {error!r}")

    threads = [threading.Thread(target=guarded, args=(t,), name=f"thread {n}") for n, t in enumerate(targets)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=JOIN_SECONDS)
    finally:
        sys.setswitchinterval(interval)
    hung = [thread.name for thread in threads if thread.is_alive()]
    if hung:
        errors.append(f"{hung} did not finish within {JOIN_SECONDS} s (a lock that is never released?)")
    return errors


@pytest.mark.day4_task3
def test_scans_racing_writers_and_deleters_see_every_earlier_write(open_db: OpenDb) -> None:
    """A scan running alongside writer threads raised, came out of order, or missed a write that completed before it."""
    writers, per_writer, scanners = 3, 150, 2
    db = open_db(target_sst_size=512, block_size=128, num_memtable_limit=2)
    doomed = [b"pre-%04d" % n for n in range(120)]
    for key in doomed:
        db.put(key, b"doomed")
    done = [0] * writers  # puts each writer has completed
    deleted = [0]  # deletes the deleter has completed, in the order of doomed
    problems: list[str] = []

    def writer(w: int) -> Callable[[], None]:
        def run() -> None:
            for n in range(per_writer):
                db.put(b"w%d-%04d" % (w, n), b"%d" % n)
                done[w] = n + 1

        return run

    def deleter() -> None:
        for n, key in enumerate(doomed):
            db.delete(key)
            deleted[0] = n + 1

    def scanner() -> None:
        for _ in range(MAX_ROUNDS):
            written, gone = list(done), deleted[0]  # completed before the scan starts
            entries = list(db.scan())
            keys = [key for key, _ in entries]
            if any(a >= b for a, b in pairwise(keys)):
                problems.append(f"a scan came out of order or repeated a key: {show(keys)}")
                return
            seen = dict(entries)
            for w in range(writers):
                for n in range(written[w]):
                    if seen.get(b"w%d-%04d" % (w, n)) != b"%d" % n:
                        problems.append(f"a scan missed put #{n} of writer {w}, which completed before it started")
                        return
            shown = [key for key in doomed[:gone] if key in seen]
            if shown:
                problems.append(f"a scan showed {show(shown)}, deleted before it started")
                return
            if sum(written) == writers * per_writer and gone == len(doomed):
                return  # the writers had finished before this scan: nothing more to race

    targets = [writer(w) for w in range(writers)] + [deleter] + [scanner] * scanners
    errors = run_threads(targets)
    assert not errors, errors[0]
    assert not problems, problems[0]
    want = sorted((b"w%d-%04d" % (w, n), b"%d" % n) for w in range(writers) for n in range(per_writer))
    got = list(db.scan())
    assert got == want, f"after the threads, a full scan should hold every write and no deleted key: got {show(got)}"


@pytest.mark.day4_task4
def test_writers_racing_force_flush_and_sync_lose_nothing(open_db: OpenDb) -> None:
    """Writes made while other threads called force_flush or sync were lost, or a thread raised or hung."""
    writers, per_writer, limit = 3, 120, 2
    db = open_db(target_sst_size=256, block_size=64, num_memtable_limit=limit)

    def writer(w: int) -> Callable[[], None]:
        def run() -> None:
            for n in range(per_writer):
                db.put(b"w%d-%04d" % (w, n), b"%d" % n)
                if n % 10 == 9:
                    db.delete(b"w%d-%04d" % (w, n - 5))

        return run

    def flusher() -> None:
        for n in range(30):
            if n % 3:
                db.force_flush()
            else:
                db.sync()

    errors = run_threads([writer(w) for w in range(writers)] + [flusher, flusher])
    assert not errors, errors[0]
    want = {b"w%d-%04d" % (w, n): b"%d" % n for w in range(writers) for n in range(per_writer) if n % 10 != 4}
    wrong = [key for key in sorted(want) if db.get(key) != want[key]]
    assert not wrong, f"{len(wrong)} writes were lost or came back wrong, e.g. {show(wrong[:3])}"
    got = list(db.scan())
    assert got == sorted(want.items()), (
        f"a full scan after the threads expected {show(sorted(want.items()))}, got {show(got)}"
    )
    memtables = db.stats()["memtables"]
    assert memtables <= limit, f"{memtables} memtables remain, over num_memtable_limit={limit}"


@pytest.mark.day4_task2
@pytest.mark.invariant
def test_gets_racing_a_writer_find_every_completed_write(open_db: OpenDb) -> None:
    """A get running alongside a writer (and its freezes and flushes) missed a write that had completed."""
    count = 600
    db = open_db(target_sst_size=256, block_size=64, num_memtable_limit=2)
    done = [0]
    problems: list[str] = []

    def writer() -> None:
        for n in range(count):
            db.put(b"key%04d" % n, b"%d" % n)
            done[0] = n + 1

    def reader() -> None:
        for _ in range(MAX_ROUNDS * 10):
            n = done[0] - 1
            if n == count - 1:
                return
            if n < 0:
                continue
            got = db.get(b"key%04d" % n)
            if got != b"%d" % n:
                problems.append(f"get(b'key{n:04d}') gave {show(got)} after its put had completed")
                return

    errors = run_threads([writer, reader, reader])
    assert not errors, errors[0]
    assert not problems, problems[0]


@pytest.mark.day4_task3
def test_writes_and_flushes_during_a_scan_never_break_it(open_db: OpenDb, tmp_path: Path) -> None:
    """Writes, deletes or flushes made halfway through a scan made it raise, reorder, or drop an earlier key."""
    builder = SsTableBuilder(options_for_day(4, block_size=64))
    for n in range(0, 100, 2):
        builder.add(b"key%03d" % n, b"sst-%d" % n)
    builder.build(1, sst_path(tmp_path, 1), None).close()
    db = open_db(target_sst_size=200, block_size=64, num_memtable_limit=3)
    before = {b"key%03d" % n: b"sst-%d" % n for n in range(0, 100, 2)}
    for n in range(1, 100, 2):  # odd keys in memtables (some frozen, some flushed)
        db.put(b"key%03d" % n, b"mem-%d" % n)
        before[b"key%03d" % n] = b"mem-%d" % n
    for n in (10, 11, 90, 91):  # deleted before the scan starts
        db.delete(b"key%03d" % n)
        del before[b"key%03d" % n]
    during: dict[bytes, set[bytes]] = {}

    scan = iter(db.scan())
    got = [next(scan) for _ in range(40)]
    for n in range(60, 80):  # ahead of the scan: delete, overwrite, insert new keys
        key = b"key%03d" % n
        if n % 3 == 0:
            db.delete(key)
        else:
            db.put(key, b"new-%d" % n)
            during.setdefault(key, set()).add(b"new-%d" % n)
        db.put(key + b"+", b"inserted")
        during.setdefault(key + b"+", set()).add(b"inserted")
    db.force_flush()
    for n in range(30):
        db.put(b"zz%03d" % n, b"late")
    got.extend(scan)

    keys = [key for key, _ in got]
    assert all(a < b for a, b in pairwise(keys)), f"the scan came out of order: {show(keys)}"
    missing = [key for key in sorted(before) if key not in dict(got)]
    assert not missing, (
        f"keys written before the scan started (and deleted only during it) are missing: {show(missing)}"
    )
    for key, value in got:
        allowed = ({before[key]} if key in before else set()) | during.get(key, set())
        assert value in allowed, f"the scan gave {key!r} = {value!r}, which was never written to it"
