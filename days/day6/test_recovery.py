"""Day 6 visible tests for recovery and crash safety (task 3). Run with ``pytest days/day6``."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from checker.grading.isolation.engine import engine_process
from tinylsm.engine import LsmStorage
from tinylsm.errors import LsmError
from tinylsm.files import wal_path
from tinylsm.options import (
    CompactionOptions,
    LeveledCompactionOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.testkit import options_for_day, show
from tinylsm.wal import RECORD_HEADER, Wal, decode_ops, decode_records

SIZES = {"target_sst_size": 1024, "block_size": 256, "num_memtable_limit": 5}
STRATEGIES: dict[str, CompactionOptions] = {
    "no-compaction": NoCompaction(),
    "simple-leveled": SimpleLeveledCompactionOptions(level0_file_num_compaction_trigger=2),
    "tiered": TieredCompactionOptions(num_tiers=3),
    "leveled": LeveledCompactionOptions(
        level_size_multiplier=4, level0_file_num_compaction_trigger=2, base_level_size_mb=0.004
    ),
}
FILE_ID = re.compile(r"^(\d+)\.(sst|wal)$")
OpenDb = Callable[..., LsmStorage]


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[OpenDb]:
    """Opens engines (day 6 options, small sizes); closes what a test leaves open, ignoring errors."""
    opened: list[LsmStorage] = []

    def open_(path: Path | None = None, **overrides: object) -> LsmStorage:
        db = LsmStorage.open(path or tmp_path, options_for_day(6, **{**SIZES, **overrides}))
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


def write_history(db: LsmStorage) -> dict[bytes, bytes]:
    """Enough writes for flushes and compactions, then overwrites that stay in memtables; the model."""
    model: dict[bytes, bytes] = {}
    for n in range(100):
        key = b"key%03d" % (n % 70)
        model[key] = b"first-%d-" % n + b"x" * 20
        db.put(key, model[key])
    for n in range(0, 70, 6):
        db.delete(b"key%03d" % n)
        model.pop(b"key%03d" % n, None)
    db.force_flush()
    for round_ in range(3):  # each round fills about one memtable: several immutable memtables at close
        for n in range(1, 70, 2):
            key = b"key%03d" % n
            model[key] = b"round-%d-" % round_ + b"y" * 30
            db.put(key, model[key])
    db.write_batch([(b"batch-a", b""), (b"key001", None), (b"batch-b", b"b")])
    model.update({b"batch-a": b"", b"batch-b": b"b"})
    model.pop(b"key001")
    return model


def file_ids(path: Path) -> list[int]:
    return sorted(int(m[1]) for name in os.listdir(path) if (m := FILE_ID.match(name)))


@pytest.mark.day6_task3
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_reopen_after_close_keeps_data_and_tree_shape(strategy: str, open_db: OpenDb, tmp_path: Path) -> None:
    """With every strategy, close and reopen keep each write, revive no deleted key, and keep L0 and the levels."""
    compaction = STRATEGIES[strategy]
    db = open_db(compaction=compaction, num_memtable_limit=6)  # 4 immutable memtables at close, none flushed
    model = write_history(db)
    shape = (db.state.l0_sstables, db.state.levels)
    db.close()
    db = open_db(compaction=compaction, num_memtable_limit=6)
    got = dict(db.scan())
    lost = sorted(k for k in model if got.get(k) != model[k])
    back = sorted(k for k in got if k not in model)
    assert not lost and not back, (
        f"after close and reopen ({strategy}), keys with a missing or wrong value: {show(lost)}; "
        f"deleted keys that came back: {show(back)}"
    )
    reopened = (db.state.l0_sstables, db.state.levels)
    assert reopened == shape, (
        f"the manifest must bring back the tree as it was ({strategy}): L0 and levels were {show(shape)} "
        f"before close, {show(reopened)} after reopen"
    )


def synced_model() -> dict[bytes, bytes]:
    model = {b"key%03d" % n: b"first-%d" % n for n in range(120)}
    for n in range(0, 120, 5):
        del model[b"key%03d" % n]
    model.update({b"key%03d" % n: b"second-%d" % n for n in range(0, 120, 7)})
    model.update({b"batch%02d" % n: b"b" * n for n in range(30)})
    return model


@pytest.mark.day6_task3
def test_reopen_after_a_sigkill_keeps_every_synced_write(open_db: OpenDb, tmp_path: Path) -> None:
    """After a SIGKILL a reopen keeps every write made before sync(), and an unsynced batch whole or not at all."""
    # An engine in a process of its own writes enough to freeze and flush memtables, syncs,
    # writes one more batch that is never synced, and is killed: no close(), as in a crash.
    with engine_process() as engine:
        db = engine.module("tinylsm.engine").LsmStorage.open(tmp_path, options_for_day(6, **SIZES))
        for n in range(120):
            db.put(b"key%03d" % n, b"first-%d" % n)
        for n in range(0, 120, 5):
            db.delete(b"key%03d" % n)
        for n in range(0, 120, 7):
            db.put(b"key%03d" % n, b"second-%d" % n)
        db.write_batch([(b"batch%02d" % n, b"b" * n) for n in range(30)])
        db.sync()
        db.write_batch([(b"late%03d" % n, b"x" * 90) for n in range(120)])
        engine.kill()
    db = open_db()
    got = dict(db.scan())
    want = synced_model()
    lost = sorted(k for k in want if got.get(k) != want[k])
    assert not lost, f"{len(lost)} writes made before sync() were lost or wrong after the kill, e.g. {show(lost[:4])}"
    back = sorted(k for k in got if not k.startswith(b"late") and k not in want)
    assert not back, f"keys deleted before sync() came back after the kill: {show(back)}"
    late = [k for k in got if k.startswith(b"late")]
    assert len(late) in (0, 120), (
        f"a write_batch of 120 puts made after the last sync() must survive the kill entirely or not at all; "
        f"{len(late)} of its puts survived"
    )


@pytest.mark.day6_task3
def test_write_batch_is_one_wal_record(open_db: OpenDb, tmp_path: Path) -> None:
    """write_batch is logged as one WAL record, so a log cut inside it replays none of the batch."""
    db = open_db(target_sst_size=1 << 20)
    db.put(b"before", b"1")
    batch = [(b"k%02d" % n, None if n % 4 == 0 else b"v%d" % n) for n in range(20)]
    db.write_batch(batch)
    db.sync()
    path = wal_path(tmp_path, db.state.memtable.id)
    payloads = decode_records(path.read_bytes(), path.name)
    assert len(payloads) == 2, (
        f"a put and then a write_batch of 20 operations should be 2 records in {path.name}, found {len(payloads)}: "
        "a batch must be one record, so that a crash keeps all of it or none"
    )
    got = decode_ops(payloads[1], path.name)
    assert got == batch, f"the batch's record should hold its 20 operations in order, got {show(got)}"
    data = path.read_bytes()
    batch_start = len(data) - RECORD_HEADER.size - len(payloads[1])
    for cut in range(batch_start, len(data), 5):
        torn = tmp_path / "torn.wal"
        torn.write_bytes(data[:cut])
        ops = Wal.replay(torn)
        assert ops == [(b"before", b"1")], (
            f"a WAL cut at byte {cut}, inside the batch's record, replayed {len(ops)} operations: a crash in the "
            "middle of a batch's record must keep none of the batch (and the put before it)"
        )


@pytest.mark.day6_task3
def test_second_open_of_an_open_directory_raises_lsm_error(open_db: OpenDb, tmp_path: Path) -> None:
    """A second LsmStorage.open of an open directory raises LsmError; after close the directory opens again."""
    db = open_db()
    db.put(b"key", b"value")
    with pytest.raises(LsmError, match=r"already open|LOCK|lock"):
        open_db()
        raise AssertionError("a second LsmStorage.open of a directory that is open must raise LsmError")
    assert db.get(b"key") == b"value", "the failed second open must not disturb the database that is open"
    db.close()
    again = open_db()
    assert again.get(b"key") == b"value", "after close, the directory must open again with its data"


@pytest.mark.day6_task3
def test_ids_continue_after_the_highest_id_seen(open_db: OpenDb, tmp_path: Path) -> None:
    """After a reopen, new memtables and SSTs get ids above every id of a file already on disk."""
    db = open_db()
    for n in range(70):
        db.put(b"key%03d" % n, b"v" * 30)
    db.close()
    highest = max(file_ids(tmp_path))
    db = open_db()
    assert db.state.memtable.id > highest, (
        f"after reopening, the new memtable got id {db.state.memtable.id}, but files up to id {highest} "
        "exist: ids must continue after the highest id seen"
    )
    before = set(file_ids(tmp_path))
    for n in range(40):
        db.put(b"new%03d" % n, b"w" * 30)
    db.force_flush()
    new = sorted(set(file_ids(tmp_path)) - before)
    reused = [i for i in new if i <= highest]
    assert new and not reused, f"files created after the reopen reused old ids {reused} (highest before: {highest})"
    assert db.get(b"key005") == b"v" * 30 and db.get(b"new005") == b"w" * 30, "data written before and after reopen"
