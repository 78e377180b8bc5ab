"""Day 5 hidden tests: the compactor without a strategy, on an empty tree, and when a background compaction fails."""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tinylsm.compaction import Compactor
from tinylsm.engine import LsmStorage
from tinylsm.errors import LsmError
from tinylsm.files import sst_path
from tinylsm.options import (
    LeveledCompactionOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.state import CompactionRecord, TieredCompactionTask, TreeShape
from tinylsm.testkit import options_for_day, show
from tinylsm.tiered import TieredController

MIB = 1 << 20
SIZES = {"target_sst_size": 256, "block_size": 64, "num_memtable_limit": 2}
TIERED = TieredCompactionOptions(num_tiers=3, max_size_amplification_percent=200, size_ratio=1, min_merge_width=2)
LEVELED = LeveledCompactionOptions(
    level_size_multiplier=2, level0_file_num_compaction_trigger=2, max_levels=3, base_level_size_mb=1024 / MIB
)


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip fsync: no test here crashes the engine."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[list[LsmStorage]]:
    dbs: list[LsmStorage] = []
    yield dbs
    for db in reversed(dbs):
        with contextlib.suppress(Exception):
            db.close()


def open_db(tmp_path: Path, opened: list[LsmStorage], **overrides: object) -> LsmStorage:
    db = LsmStorage.open(tmp_path, options_for_day(5, **{**SIZES, **overrides}))
    opened.append(db)
    return db


@pytest.mark.day5_task5
@pytest.mark.invariant
def test_a_compactor_without_a_strategy_leaves_l0_alone(tmp_path: Path, opened: list[LsmStorage]) -> None:
    """With NoCompaction, after_flush or compact_once failed or changed the tree."""
    db = open_db(tmp_path, opened, compaction=NoCompaction(), background_work=False)
    for n in range(60):
        db.put(b"key%03d" % n, b"value-%d" % n)
    db.force_flush()
    before = (db.state.l0_sstables, db.state.levels)
    compactor = Compactor(db)
    compactor.after_flush()
    ran = compactor.compact_once()
    assert ran is False, f"expected compact_once() == False without a strategy, got {show(ran)}"
    after = (db.state.l0_sstables, db.state.levels)
    assert after == before, f"expected the tree unchanged (L0, levels) {before}, got {after}"


@pytest.mark.day5_task5
@pytest.mark.parametrize("compaction", [LEVELED, TIERED, NoCompaction()], ids=["leveled", "tiered", "none"])
@pytest.mark.invariant
def test_full_compaction_of_an_empty_tree_does_nothing(
    tmp_path: Path, opened: list[LsmStorage], compaction: object
) -> None:
    """force_full_compaction failed, or wrote SSTs, when the tree holds no SST."""
    db = open_db(tmp_path, opened, compaction=compaction, background_work=False)
    db.put(b"a", b"1")
    db.force_full_compaction()
    s = db.state
    assert s.l0_sstables == () and not any(s.levels), f"expected no SST, got L0 {s.l0_sstables}, levels {s.levels}"
    assert db.get(b"a") == b"1", "the memtable's key must still be readable"


@pytest.mark.day5_task5
@pytest.mark.invariant
def test_tiered_after_flush_without_a_new_table_adds_no_tier(tmp_path: Path, opened: list[LsmStorage]) -> None:
    """Under tiered compaction, after_flush with nothing new in L0 added an (empty) tier or changed the tiers."""
    db = open_db(tmp_path, opened, compaction=TIERED, background_work=False)
    for n in range(40):
        db.put(b"key%03d" % n, b"value-%d" % n)
    db.force_flush()
    before = (db.state.l0_sstables, db.state.levels)
    Compactor(db).after_flush()
    after = (db.state.l0_sstables, db.state.levels)
    assert after == before, f"expected (L0, tiers) {before}, got {after}"
    assert all(after[1]), f"expected no empty tier, got tiers {after[1]}"


@pytest.mark.day5_task3
def test_tiered_apply_result_refuses_tiers_that_are_gone() -> None:
    """apply_result of a tiered task whose tiers are no longer in the tree did not raise ValueError."""
    controller = TieredController(TIERED)
    task = TieredCompactionTask(tiers=((4,), (3,)), is_bottom=False)
    with pytest.raises(ValueError):
        controller.apply_result(TreeShape((), ((9,), (4,)), {}), task, [10])


class FailingDurability:
    """Passes every call through, but fails the first compaction a background thread records."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.main = threading.current_thread()
        self.failed = threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def compacted(self, record: CompactionRecord, removed_ids: list[int]) -> None:
        if threading.current_thread() is not self.main and not self.failed.is_set():
            self.failed.set()
            raise OSError("no space left on device (simulated)")
        self.inner.compacted(record, removed_ids)


@pytest.mark.day5_task5
def test_close_reports_a_failed_background_compaction(tmp_path: Path, opened: list[LsmStorage]) -> None:
    """A background compaction failed and close() did not raise LsmError: the failure was lost."""
    db = open_db(tmp_path, opened, compaction=LEVELED, background_work=True, num_memtable_limit=1)
    failing = FailingDurability(db.durability)
    db.durability = failing
    n = 0
    while not failing.failed.is_set() and n < 2000:
        db.put(b"key%04d" % n, b"value")
        n += 1
    assert failing.failed.wait(10), "with L0 at its trigger, the background thread never started a compaction"
    with pytest.raises(LsmError):
        db.close()


@pytest.mark.day5_task5
def test_compaction_that_does_not_settle_raises_lsm_error(
    tmp_path: Path, opened: list[LsmStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """compact_until_settled ran past MAX_COMPACTIONS_PER_SETTLE tasks in a row without raising LsmError."""
    monkeypatch.setattr(importlib.import_module("tinylsm.compaction"), "MAX_COMPACTIONS_PER_SETTLE", 1)
    db = open_db(tmp_path, opened, compaction=LEVELED, background_work=False)
    with pytest.raises(LsmError):  # the first compaction is already one task too many
        for n in range(2000):
            db.put(b"key%04d" % n, b"value-%d" % n)


class RecordingDurability:
    """Passes every call through, and records the flushes and compactions handed to it."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.flushed: list[int] = []
        self.compacted_inputs: list[list[int]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def memtable_flushed(self, memtable_id: int, sst_id: int) -> None:
        self.flushed.append(sst_id)
        self.inner.memtable_flushed(memtable_id, sst_id)

    def compacted(self, record: CompactionRecord, removed_ids: list[int]) -> None:
        self.compacted_inputs.append(sorted(removed_ids))
        self.inner.compacted(record, removed_ids)


@pytest.mark.day5_task5
@pytest.mark.invariant
def test_close_runs_no_compaction_after_stopping_the_compactor(tmp_path: Path, opened: list[LsmStorage]) -> None:
    """close() compacted the tree after it had stopped the compactor: the flush that close() does still ran
    a whole compaction, instead of leaving the tree as that flush left it (its SST in L0)."""
    compaction = SimpleLeveledCompactionOptions(level0_file_num_compaction_trigger=1)
    db = open_db(tmp_path, opened, compaction=compaction, background_work=False)
    recorder = RecordingDurability(db.durability)
    db.durability = recorder
    db.put(b"key", b"value")  # stays in the memtable: the flush happens in close()
    db.close()
    assert len(recorder.flushed) == 1, (
        f"close() should flush the memtable into one SST, but durability.memtable_flushed() was called "
        f"{len(recorder.flushed)} times"
    )
    assert recorder.compacted_inputs == [], (
        "close() flushes the memtable into L0 after stopping the compactor, and must not compact it: "
        f"a compaction of SSTs {recorder.compacted_inputs[0]} ran during close()"
    )
    flushed = sst_path(tmp_path, recorder.flushed[0])
    assert flushed.exists(), f"the SST that close() flushed, {flushed.name}, is no longer on disk"
    db = open_db(tmp_path, opened, compaction=compaction, background_work=False)
    got = db.get(b"key")
    assert got == b"value", f"the key written before close() should read b'value' after reopening, got {show(got)}"
