"""Day 5 visible tests of compaction's execution and of the compactor in the engine.

Run with ``pytest days/day5/test_compaction.py``. The engine tests stay inside one
open database: before day 6 there is no manifest, so a reopened database would put
every SST back in L0 and forget the levels.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tinylsm.block_cache import BlockCache
from tinylsm.compaction import controller_for, merged_entries, write_compaction_output
from tinylsm.engine import LsmStorage
from tinylsm.files import sst_path
from tinylsm.leveled import LeveledController
from tinylsm.options import (
    CompactionOptions,
    LeveledCompactionOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.simple_leveled import SimpleLeveledController
from tinylsm.sstable import SsTable, SsTableBuilder, SsTableIterator
from tinylsm.state import LevelCompactionTask, TieredCompactionTask
from tinylsm.testkit import collect, options_for_day, show
from tinylsm.tiered import TieredController

Entries = list[tuple[bytes, bytes | None]]
MIB = 1 << 20


class Writer:
    """What the compactor passes to ``write_compaction_output``: new builders, and a build into ``directory``."""

    def __init__(self, directory: Path, block_size: int = 64) -> None:
        self.directory = directory
        self.options = options_for_day(5, block_size=block_size)
        self.ids = itertools.count(100)
        self.built: list[SsTable] = []

    def new_builder(self) -> SsTableBuilder:
        return SsTableBuilder(self.options)

    def build(self, builder: SsTableBuilder) -> SsTable:
        sst_id = next(self.ids)
        table = builder.build(sst_id, sst_path(self.directory, sst_id), None)
        self.built.append(table)
        return table

    def write(self, entries: Entries, *, is_bottom: bool, target_sst_size: int = 4096) -> list[SsTable]:
        return write_compaction_output(entries, is_bottom, target_sst_size, self.new_builder, self.build)


def table(directory: Path, sst_id: int, entries: Entries) -> SsTable:
    builder = SsTableBuilder(options_for_day(5, block_size=64))
    for key, value in sorted(entries):
        builder.add(key, value)
    return builder.build(sst_id, sst_path(directory, sst_id), None)


def contents(tables: list[SsTable]) -> Entries:
    return [entry for t in tables for entry in collect(SsTableIterator.create_and_seek_to_first(t))]


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip fsync: no test of day 5 crashes the engine, and each fsync costs milliseconds per SST written."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


# Task 1: merge and write outputs


@pytest.mark.day5_task1
def test_outputs_are_split_at_target_sst_size(tmp_path: Path) -> None:
    """write_compaction_output cuts SSTs of about target_sst_size that hold every entry once, in key order."""
    entries: Entries = [(b"key%04d" % n, b"value-%04d" % n) for n in range(300)]
    outputs = Writer(tmp_path, block_size=256).write(entries, is_bottom=False, target_sst_size=1024)
    sizes = [t.size for t in outputs]
    assert 4 <= len(outputs) <= 12, (
        f"300 entries of 21 bytes (about 7 KB of blocks) with target_sst_size=1024 should make about 7 tables, "
        f"got {len(outputs)} of sizes {show(sizes)}"
    )
    assert all(512 <= size <= 2048 for size in sizes[:-1]), (
        f"every output table but the last should be close to the 1024-byte target, got sizes {show(sizes)}"
    )
    assert contents(outputs) == entries, "the output tables, read in order, must hold every entry once, in key order"


@pytest.mark.day5_task1
def test_merge_keeps_only_the_newest_version_of_each_key(tmp_path: Path) -> None:
    """merged_entries of a leveled task keeps each key's newest version: L0 newest first, then the lower level."""
    tables = {
        3: table(tmp_path, 3, [(b"b", b"b-new"), (b"d", b"d-new")]),  # newest L0 file
        2: table(tmp_path, 2, [(b"a", b"a-mid"), (b"b", b"b-mid")]),
        1: table(tmp_path, 1, [(b"a", b"a-old"), (b"c", b"c-old"), (b"d", b"d-old")]),  # L1
    }
    task = LevelCompactionTask(upper_level=0, upper=(3, 2), lower_level=1, lower=(1,), is_bottom=True)
    merged = collect(merged_entries(task, tables))
    want = [(b"a", b"a-mid"), (b"b", b"b-new"), (b"c", b"c-old"), (b"d", b"d-new")]
    assert merged == want, f"L0 files 3 (newest), 2 over L1 file 1: expected {show(want)}, got {show(merged)}"


@pytest.mark.day5_task1
def test_tiered_merge_takes_each_key_from_the_newest_tier(tmp_path: Path) -> None:
    """merged_entries of a tiered task takes each key from the newest tier that holds it, tombstones included."""
    tables = {
        5: table(tmp_path, 5, [(b"c", b"c-new")]),
        4: table(tmp_path, 4, [(b"a", b"a-mid"), (b"b", b"b-mid")]),
        3: table(tmp_path, 3, [(b"c", b"c-mid"), (b"d", None)]),
        2: table(tmp_path, 2, [(b"a", b"a-old"), (b"b", b"b-old")]),
        1: table(tmp_path, 1, [(b"d", b"d-old"), (b"e", b"e-old")]),
    }
    task = TieredCompactionTask(tiers=((5,), (4, 3), (2, 1)), is_bottom=False)
    merged = collect(merged_entries(task, tables))
    want = [(b"a", b"a-mid"), (b"b", b"b-mid"), (b"c", b"c-new"), (b"d", None), (b"e", b"e-old")]
    assert merged == want, f"three tiers, newest first: expected {show(want)}, got {show(merged)}"


@pytest.mark.day5_task1
@pytest.mark.parametrize("inputs", ["L0 over L1", "L1 over L2", "tiers"])
def test_a_compaction_leaves_hot_blocks_in_the_cache(tmp_path: Path, inputs: str) -> None:
    """merged_entries kept the blocks it read in the block cache, evicting a hot block of another table."""
    cache = BlockCache(400)  # a few blocks of 64 bytes: a compaction's reads would evict a block read before them
    options = options_for_day(5, block_size=64)

    def cached_table(sst_id: int, first: int, count: int, step: int = 1) -> SsTable:
        builder = SsTableBuilder(options)
        for n in range(first, first + count * step, step):
            builder.add(b"key%05d" % n, b"value-%05d" % n)
        return builder.build(sst_id, sst_path(tmp_path, sst_id), cache)

    hot = cached_table(99, 0, 1)
    hot.read_block_cached(0)  # a block that reads keep coming back for
    tables = {
        1: cached_table(1, 0, 30),
        2: cached_table(2, 30, 30),
        3: cached_table(3, 0, 30, step=2),  # overlaps tables 1 and 2
        4: cached_table(4, 1, 30, step=2),  # overlaps tables 1, 2 and 3
    }
    task: LevelCompactionTask | TieredCompactionTask
    if inputs == "L0 over L1":
        task = LevelCompactionTask(upper_level=0, upper=(4, 3), lower_level=1, lower=(1, 2), is_bottom=False)
    elif inputs == "L1 over L2":
        task = LevelCompactionTask(upper_level=1, upper=(1, 2), lower_level=2, lower=(3,), is_bottom=False)
    else:  # the newest tier holds two tables that overlap
        task = TieredCompactionTask(tiers=((4, 3), (1, 2)), is_bottom=False)
    merged = collect(merged_entries(task, tables))
    keys = [key for key, _ in merged]
    want = [b"key%05d" % n for n in range(60)]
    assert keys == want, f"the merge of {inputs} should hold keys {show(want)}, got {show(keys)}"
    hits = cache.counters.block_cache_hits
    hot.read_block_cached(0)
    assert cache.counters.block_cache_hits == hits + 1, (
        f"after merging {inputs}, a block read just before the compaction was no longer cached: a compaction "
        "reads each block once, so it must read with fill_cache=False and keep none of them"
    )


@pytest.mark.day5_task1
def test_tombstones_are_kept_above_the_bottom(tmp_path: Path) -> None:
    """Above the bottom, write_compaction_output keeps tombstones: they may still hide older values below."""
    entries: Entries = [(b"apple", b"1"), (b"banana", None), (b"cherry", b"3")]
    got = contents(Writer(tmp_path).write(entries, is_bottom=False))
    assert got == entries, (
        "above the bottom a tombstone must be written: an older value below may still need hiding; "
        f"expected {show(entries)}, got {show(got)}"
    )


@pytest.mark.day5_task1
def test_tombstones_are_dropped_at_the_bottom(tmp_path: Path) -> None:
    """At the bottom, write_compaction_output drops tombstones and keeps every value."""
    entries: Entries = [(b"apple", b"1"), (b"banana", None), (b"cherry", b"3")]
    got = contents(Writer(tmp_path).write(entries, is_bottom=True))
    want = [(b"apple", b"1"), (b"cherry", b"3")]
    assert got == want, f"at the bottom nothing is older, so tombstones go: expected {show(want)}, got {show(got)}"


@pytest.mark.day5_task1
@pytest.mark.invariant
def test_only_tombstones_at_the_bottom_write_no_table(tmp_path: Path) -> None:
    """A compaction at the bottom whose input is only tombstones writes no SST."""
    writer = Writer(tmp_path)
    outputs = writer.write([(b"k%02d" % n, None) for n in range(40)], is_bottom=True, target_sst_size=128)
    assert outputs == [] and writer.built == [], (
        f"a bottom merge of nothing but tombstones must write no SST, got {len(writer.built)} table(s)"
    )


# Task 5: the compactor

STRATEGIES: dict[str, CompactionOptions] = {
    "simple": SimpleLeveledCompactionOptions(
        size_ratio_percent=200, level0_file_num_compaction_trigger=2, max_levels=3
    ),
    "tiered": TieredCompactionOptions(num_tiers=3, max_size_amplification_percent=200, size_ratio=1, min_merge_width=2),
    "leveled": LeveledCompactionOptions(
        level_size_multiplier=2, level0_file_num_compaction_trigger=2, max_levels=3, base_level_size_mb=1024 / MIB
    ),
}

OpenDb = Callable[[CompactionOptions], LsmStorage]


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[OpenDb]:
    """Opens an engine with small tables, so that a few hundred writes cause many flushes and compactions."""
    opened: list[LsmStorage] = []

    def open_(compaction: CompactionOptions) -> LsmStorage:
        options = options_for_day(5, compaction=compaction, target_sst_size=256, block_size=64, num_memtable_limit=2)
        db = LsmStorage.open(tmp_path, options)
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


@pytest.mark.day5_task5
def test_controller_for_picks_the_strategys_controller() -> None:
    """controller_for returns each compaction strategy's controller, and None for NoCompaction."""
    expected = {
        "simple": SimpleLeveledController,
        "tiered": TieredController,
        "leveled": LeveledController,
    }
    for name, options in STRATEGIES.items():
        controller = controller_for(options)
        assert isinstance(controller, expected[name]), (
            f"controller_for({options}) should be a {expected[name].__name__}, got {controller!r}"
        )
    assert controller_for(NoCompaction()) is None, "controller_for(NoCompaction()) must be None"


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_key_stays_readable_while_the_tree_is_compacted(open_db: OpenDb, strategy: str) -> None:
    """With every strategy, compaction runs and counts its bytes, and get and scan still return the newest values."""
    db = open_db(STRATEGIES[strategy])
    seed = 5
    rng = random.Random(seed)
    model: dict[bytes, bytes] = {}
    for n in range(400):
        key = b"key%03d" % rng.randrange(120)
        model[key] = b"v%d" % n
        db.put(key, model[key])
    stats = db.stats()
    assert stats["compaction_bytes_written"] > 0, (
        f"{strategy}: compaction_bytes_written is 0 after 400 writes into 256-byte memtables: "
        "no compaction ran, or the compactor did not count the bytes it wrote"
    )
    for key in sorted(model):
        got = db.get(key)
        assert got == model[key], f"{strategy} (seed {seed}): get({key!r}) expected {model[key]!r}, got {got!r}"
    scanned = list(db.scan())
    want = sorted(model.items())
    assert scanned == want, f"{strategy} (seed {seed}): the full scan expected {show(want)}, got {show(scanned)}"


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_force_full_compaction_leaves_everything_in_the_bottom_level(open_db: OpenDb, strategy: str) -> None:
    """With every strategy, force_full_compaction leaves every SST in the bottom level and a scan sees every key."""
    db = open_db(STRATEGIES[strategy])
    model: dict[bytes, bytes] = {}
    for n in range(150):
        model[b"key%03d" % (n % 60)] = b"value%d" % n
        db.put(b"key%03d" % (n % 60), b"value%d" % n)
    db.force_flush()
    db.force_full_compaction()
    levels = [level["ssts"] for level in db.stats()["levels"]]  # L0 first, then L1.. (or the tiers)
    assert levels[0] == 0 and levels[-1] > 0 and not any(levels[1:-1]), (
        f"{strategy}: after force_full_compaction every SST should be in the last level, got SSTs per level {levels}"
    )
    if strategy != "tiered":
        assert len(levels) - 1 == STRATEGIES[strategy].max_levels, (
            f"{strategy}: the bottom is L{STRATEGIES[strategy].max_levels}, but the tree has {len(levels) - 1} levels"
        )
    got = list(db.scan())
    want = sorted(model.items())
    assert got == want, f"{strategy}: after the full compaction expected {show(want)}, got {show(got)}"


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", ["simple", "leveled"])
def test_ssts_that_meet_nothing_below_move_down_without_a_rewrite(open_db: OpenDb, strategy: str) -> None:
    """SSTs with nothing below them in their key range move down as they are (a trivial move), in key order."""
    db = open_db(STRATEGIES[strategy])
    model: dict[bytes, bytes] = {}
    for n in range(300):  # ascending keys: every flush lands after everything already in the tree
        model[b"key%04d" % n] = b"value%d" % n
        db.put(b"key%04d" % n, b"value%d" % n)
    stats = db.stats()
    levels = db.state.levels
    assert any(levels), f"{strategy}: 300 writes into 256-byte memtables, yet no SST left L0 (levels {levels})"
    for number, level in enumerate(levels, start=1):
        first_keys = [db.state.sstables[sst_id].first_key for sst_id in level]
        assert first_keys == sorted(first_keys), (
            f"{strategy}: L{number} must hold its SSTs in key order, got first keys {show(first_keys)}"
        )
    if strategy == "leveled":  # it compacts only what overlaps, and ascending keys overlap nothing below
        written, flushed, live = stats["compaction_bytes_written"], stats["flush_bytes_written"], stats["sst_bytes"]
        assert written == 0 and live == flushed, (
            f"leveled: every compaction of ascending keys is a trivial move, so compactions write nothing and the "
            f"tree is the flushed SSTs: expected compaction_bytes_written 0 and sst_bytes = flush_bytes_written "
            f"({flushed}), got {written} and {live}"
        )
    got = list(db.scan())
    assert got == sorted(model.items()), (
        f"{strategy}: after the moves expected {show(sorted(model.items()))}, got {show(got)}"
    )
