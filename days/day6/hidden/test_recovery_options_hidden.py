"""Day 6 hidden tests: recovery of a leveled tree whose level lists its SSTs out of id order."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from tinylsm.engine import LsmStorage
from tinylsm.options import LeveledCompactionOptions
from tinylsm.testkit import options_for_day, show

SIZES = {"target_sst_size": 256, "block_size": 64, "num_memtable_limit": 2}
LEVELED = LeveledCompactionOptions(
    level_size_multiplier=4, level0_file_num_compaction_trigger=1, max_levels=2, base_level_size_mb=1.0
)


@pytest.mark.day6_task3
def test_reopened_leveled_tree_answers_keys_of_a_level_written_in_reverse_key_order(tmp_path: Path) -> None:
    """After reopen, a level whose newer SSTs hold smaller keys was not kept in key order: gets or scans went wrong."""
    options = options_for_day(6, compaction=LEVELED, background_work=False, **SIZES)
    model: dict[bytes, bytes] = {}
    db = LsmStorage.open(tmp_path, options)
    try:
        # Each round writes keys smaller than every earlier one, flushes, and the flush is
        # compacted into L1 without overlapping it: L1's newest (highest id) SSTs come first in key order.
        for round_ in range(6):
            for n in range(12):
                key = b"%c-key%02d" % (ord("z") - round_, n)
                model[key] = b"value-%d-%d" % (round_, n)
                db.put(key, model[key])
            db.force_flush()
        levels = db.state.levels
    finally:
        db.close()
    assert any(len(run) > 1 for run in levels), f"expected several SSTs in a level, got levels {levels}"
    db = LsmStorage.open(tmp_path, options)
    try:
        wrong = {key: db.get(key) for key in sorted(model) if db.get(key) != model[key]}
        assert not wrong, f"after reopen expected every key to read back, got wrong answers {show(wrong)}"
        got = list(db.scan())
        assert got == sorted(model.items()), (
            f"after reopen expected the scan {show(sorted(model.items()))}, got {show(got)}"
        )
        for key in (b"a", b"u-key05", b"w-key99", b"zz"):
            want = sorted(k for k in model if k >= key)[:1]
            got_first = [k for k, _ in db.scan(key)][:1]
            assert got_first == want, f"scan from {show(key)}: expected first key {show(want)}, got {show(got_first)}"
    finally:
        with contextlib.suppress(Exception):
            db.close()


@pytest.mark.day6_task3
def test_absolute_consistency_refuses_a_torn_manifest_tail(tmp_path: Path) -> None:
    """With wal_recovery_mode="absolute_consistency", a MANIFEST cut inside its last record was not refused."""
    from tinylsm.errors import CorruptionError

    manifest = tmp_path / "MANIFEST"
    db = LsmStorage.open(tmp_path, options_for_day(6, background_work=False, **SIZES))
    try:
        # Write until the memtable freezes, then stop: the MANIFEST's last record names the new memtable.
        n = 0
        while not db.state.imm_memtables:
            db.put(b"later%03d" % n, b"x" * 20)
            n += 1
    finally:
        db.close()
    size = manifest.stat().st_size
    with manifest.open("r+b") as file:
        file.truncate(size - 1)
    newest_wal = max(tmp_path.glob("*.wal"), key=lambda path: int(path.stem))
    newest_wal.write_bytes(b"")  # the new memtable's writes were never made: nothing relied on the record
    copy = tmp_path.parent / (tmp_path.name + "-tolerant")
    shutil.copytree(tmp_path, copy)
    LsmStorage.open(copy, options_for_day(6, background_work=False, **SIZES)).close()
    with pytest.raises(CorruptionError):
        LsmStorage.open(
            tmp_path, options_for_day(6, background_work=False, wal_recovery_mode="absolute_consistency", **SIZES)
        ).close()


@pytest.mark.day6_task1
def test_sync_with_the_wal_off_is_harmless(tmp_path: Path) -> None:
    """sync() failed, or lost data, when the WAL is switched off (there is no log to fsync)."""
    db = LsmStorage.open(tmp_path, options_for_day(6, background_work=False, enable_wal=False, **SIZES))
    try:
        db.put(b"a", b"1")
        db.sync()
        got = db.get(b"a")
        assert got == b"1", f"expected get(b'a') == b'1' after sync() with the WAL off, got {show(got)}"
    finally:
        db.close()


@pytest.mark.day6_task3
def test_a_flush_record_of_a_memtable_that_is_not_the_oldest_is_corruption() -> None:
    """A MANIFEST flush record naming a memtable other than the oldest live one was not refused as corruption."""
    from tinylsm.errors import CorruptionError
    from tinylsm.manifest import Flush, NewMemtable
    from tinylsm.recovery import ShapeLog

    log = ShapeLog(options_for_day(6, compaction=LEVELED))
    log.apply(NewMemtable(1))
    log.apply(NewMemtable(2))
    with pytest.raises(CorruptionError):
        log.apply(Flush(2))


@pytest.mark.day6_task3
def test_a_compaction_record_without_a_compaction_strategy_is_corruption() -> None:
    """Replaying a compaction record into a database that has no compaction strategy was not refused as corruption."""
    from tinylsm.errors import CorruptionError
    from tinylsm.manifest import Flush, NewMemtable
    from tinylsm.options import NoCompaction
    from tinylsm.recovery import ShapeLog
    from tinylsm.state import CompactionRecord, LevelCompactionTask

    log = ShapeLog(options_for_day(6, compaction=NoCompaction()))
    log.apply(NewMemtable(1))
    log.apply(Flush(1))
    task = LevelCompactionTask(upper_level=0, upper=(1,), lower_level=1, lower=(), is_bottom=True)
    with pytest.raises(CorruptionError):
        log.apply(CompactionRecord(task, (5,), False))
