"""Day 5 hidden tests of compaction's execution and of the compactor inside the engine."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.grading.isolation.engine import engine_threads
from tinylsm.compaction import (
    STALL_FACTOR,
    apply_full_compaction,
    full_compaction_task,
    merged_entries,
    write_compaction_output,
)
from tinylsm.engine import LsmStorage
from tinylsm.files import sst_path
from tinylsm.memtable import MemTable
from tinylsm.options import (
    CompactionOptions,
    LeveledCompactionOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.sstable import SsTable, SsTableBuilder, SsTableIterator
from tinylsm.state import (
    CompactionRecord,
    LevelCompactionTask,
    LsmStorageState,
    TieredCompactionTask,
    TreeShape,
)
from tinylsm.testkit import collect, options_for_day, show

Entries = list[tuple[bytes, bytes | None]]
MIB = 1 << 20


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip fsync: no test of day 5 crashes the engine, and each fsync costs milliseconds per SST written."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def write_outputs(directory: Path, entries: Entries, *, is_bottom: bool, target: int) -> list[SsTable]:
    options = options_for_day(5, block_size=128)
    ids = itertools.count(1000 + len(list(directory.iterdir())))

    def build(builder: SsTableBuilder) -> SsTable:
        sst_id = next(ids)
        return builder.build(sst_id, sst_path(directory, sst_id), None)

    return write_compaction_output(entries, is_bottom, target, lambda: SsTableBuilder(options), build)


def table(directory: Path, sst_id: int, entries: Entries) -> SsTable:
    builder = SsTableBuilder(options_for_day(5, block_size=64))
    for key, value in sorted(entries):
        builder.add(key, value)
    return builder.build(sst_id, sst_path(directory, sst_id), None)


def contents(tables: list[SsTable]) -> Entries:
    return [entry for t in tables for entry in collect(SsTableIterator.create_and_seek_to_first(t))]


# Task 1: merge and write outputs


@pytest.mark.day5_task1
@settings(max_examples=25)
@given(
    st.dictionaries(st.binary(min_size=1, max_size=8), st.one_of(st.none(), st.binary(max_size=40)), max_size=120),
    st.sampled_from([200, 700, 2000]),
    st.booleans(),
)
def test_outputs_hold_every_entry_once_in_disjoint_ascending_tables(
    tmp_path_factory: pytest.TempPathFactory, model: dict[bytes, bytes | None], target: int, is_bottom: bool
) -> None:
    """The output tables of a compaction lost, repeated or reordered entries, or overlapped each other."""
    entries = sorted(model.items())
    outputs = write_outputs(tmp_path_factory.mktemp("out"), entries, is_bottom=is_bottom, target=target)
    want = [(k, v) for k, v in entries if v is not None or not is_bottom]
    got = contents(outputs)
    assert got == want, f"target {target}, is_bottom={is_bottom}: expected {show(want)}, got {show(got)}"
    for left, right in itertools.pairwise(outputs):
        assert left.last_key < right.first_key, (
            f"output tables overlap or are out of order: {left.first_key!r}..{left.last_key!r} "
            f"then {right.first_key!r}..{right.last_key!r}"
        )
    assert all(t.size <= 2 * target + 700 for t in outputs[:-1]), (
        f"target_sst_size={target}: an output table is far too large: {show([t.size for t in outputs])}"
    )


@pytest.mark.day5_task1
def test_a_huge_entry_does_not_stop_the_split(tmp_path: Path) -> None:
    """An entry larger than target_sst_size made the compaction put everything after it in one table."""
    entries: Entries = [(b"a", b"x" * 3000)] + [(b"b%03d" % n, b"v" * 20) for n in range(60)]
    outputs = write_outputs(tmp_path, entries, is_bottom=False, target=256)
    assert len(outputs) >= 6, f"a 3000-byte entry then 60 entries of 24 bytes, target 256: got {len(outputs)} tables"
    assert contents(outputs) == entries, "the output tables must hold every entry once, in order"


@pytest.mark.day5_task1
@pytest.mark.invariant
def test_an_empty_merge_writes_no_table(tmp_path: Path) -> None:
    """A compaction of nothing wrote an (empty) SST."""
    for is_bottom in (False, True):
        outputs = write_outputs(tmp_path, [], is_bottom=is_bottom, target=256)
        assert outputs == [], f"no entries (is_bottom={is_bottom}): expected no table, got {len(outputs)}"


@pytest.mark.day5_task1
def test_tombstones_among_values_at_the_bottom_are_all_dropped(tmp_path: Path) -> None:
    """A bottom compaction kept some tombstones (for example the first or last of a table)."""
    entries: Entries = [(b"k%03d" % n, None if n % 3 else b"live") for n in range(90)]
    got = contents(write_outputs(tmp_path, entries, is_bottom=True, target=128))
    want = [(k, v) for k, v in entries if v is not None]
    assert got == want, f"expected only the {len(want)} live entries, got {show(got)}"


@pytest.mark.day5_task1
def test_merge_of_a_level_sst_reads_the_lower_run_in_key_order(tmp_path: Path) -> None:
    """A compaction of one SST into the level below did not prefer the upper SST or skipped part of the run."""
    tables = {
        10: table(tmp_path, 10, [(b"c", b"c-up"), (b"f", None), (b"h", b"h-up")]),
        1: table(tmp_path, 1, [(b"a", b"a-low"), (b"c", b"c-low")]),
        2: table(tmp_path, 2, [(b"d", b"d-low"), (b"f", b"f-low")]),
        3: table(tmp_path, 3, [(b"g", b"g-low"), (b"h", b"h-low"), (b"j", b"j-low")]),
    }
    task = LevelCompactionTask(upper_level=1, upper=(10,), lower_level=2, lower=(1, 2, 3), is_bottom=False)
    got = collect(merged_entries(task, tables))
    want = [
        (b"a", b"a-low"),
        (b"c", b"c-up"),
        (b"d", b"d-low"),
        (b"f", None),
        (b"g", b"g-low"),
        (b"h", b"h-up"),
        (b"j", b"j-low"),
    ]
    assert got == want, f"L1 SST 10 over L2 SSTs 1, 2, 3: expected {show(want)}, got {show(got)}"


@pytest.mark.day5_task1
def test_merge_of_a_full_compaction_prefers_the_higher_level(tmp_path: Path) -> None:
    """A full compaction's merge, whose lower list spans several overlapping levels, let an older level win."""
    tables = {
        9: table(tmp_path, 9, [(b"b", b"b-l0")]),
        5: table(tmp_path, 5, [(b"a", b"a-l1"), (b"c", b"c-l1")]),  # L1
        6: table(tmp_path, 6, [(b"d", b"d-l1")]),  # L1
        1: table(tmp_path, 1, [(b"a", b"a-l2"), (b"b", b"b-l2"), (b"e", b"e-l2")]),  # L2
        2: table(tmp_path, 2, [(b"c", b"c-l3"), (b"d", b"d-l3")]),  # L3
    }
    task = LevelCompactionTask(upper_level=0, upper=(9,), lower_level=3, lower=(5, 6, 1, 2), is_bottom=True)
    got = collect(merged_entries(task, tables))
    want = [(b"a", b"a-l1"), (b"b", b"b-l0"), (b"c", b"c-l1"), (b"d", b"d-l1"), (b"e", b"e-l2")]
    assert got == want, f"L0 9, L1 (5, 6), L2 (1,), L3 (2,): expected {show(want)}, got {show(got)}"


@pytest.mark.day5_task1
def test_merge_reads_each_source_a_block_at_a_time(tmp_path: Path) -> None:
    """merged_entries read blocks it did not need yet: a merge holds one decoded block per source, not every input."""
    tables = {
        sst_id: table(tmp_path, sst_id, [(b"key%05d" % n, b"value-%d" % sst_id) for n in range(first, 400, step)])
        for sst_id, first, step in ((3, 0, 3), (2, 1, 3), (1, 2, 3))
    }
    blocks = sum(t.num_blocks() for t in tables.values())
    task = LevelCompactionTask(upper_level=0, upper=(3, 2), lower_level=1, lower=(1,), is_bottom=False)
    merged = merged_entries(task, tables)
    first = next(iter(merged))
    read = sum(t.counters.blocks_read for t in tables.values())
    assert first == (b"key00000", b"value-3"), f"the merge should start with (b'key00000', b'value-3'), got {first!r}"
    assert read <= len(tables), (
        f"before its first entry the merge of 3 tables ({blocks} blocks in all) had read {read} blocks: a "
        "compaction's inputs can be far larger than memory, so each source is read a block at a time, as the "
        "merge reaches it (at most one block per table here)"
    )
    rest = collect(merged)
    assert len(rest) == 399, f"the merge should give 400 keys in all, got {1 + len(rest)}"


@pytest.mark.day5_task1
def test_merge_of_runs_that_meet_at_one_key_keeps_the_newer_value(tmp_path: Path) -> None:
    """A full compaction failed, or let the older value win, when the last key of a level was the first of the next."""
    tables = {
        5: table(tmp_path, 5, [(b"a", b"a-l1"), (b"c", b"c-l1")]),  # L1: [a .. c]
        1: table(tmp_path, 1, [(b"c", b"c-l2"), (b"e", b"e-l2")]),  # L2: [c .. e], older
    }
    task = LevelCompactionTask(upper_level=0, upper=(), lower_level=2, lower=(5, 1), is_bottom=True)
    want = [(b"a", b"a-l1"), (b"c", b"c-l1"), (b"e", b"e-l2")]
    try:
        got = collect(merged_entries(task, tables))
    except NotImplementedError:
        raise
    except Exception as error:
        raise AssertionError(
            f"L1 SST 5 [a .. c] over L2 SST 1 [c .. e], both in a full compaction's lower list: the merge raised "
            f"{type(error).__name__}: {error}; tables that share a key (5's last, 1's first) overlap, so they are "
            "no sorted run that can be read one table after the other, and must be merged"
        ) from None
    assert got == want, f"L1 SST 5 [a .. c] over L2 SST 1 [c .. e]: expected {show(want)}, got {show(got)}"


# Task 5: full compaction as shapes

STRATEGIES: dict[str, CompactionOptions] = {
    "simple": SimpleLeveledCompactionOptions(
        size_ratio_percent=200, level0_file_num_compaction_trigger=2, max_levels=3
    ),
    "tiered": TieredCompactionOptions(num_tiers=3, max_size_amplification_percent=200, size_ratio=1, min_merge_width=2),
    "leveled": LeveledCompactionOptions(
        level_size_multiplier=2, level0_file_num_compaction_trigger=2, max_levels=3, base_level_size_mb=1024 / MIB
    ),
}


def state(l0: tuple[int, ...], levels: tuple[tuple[int, ...], ...]) -> LsmStorageState:
    return LsmStorageState(memtable=MemTable(100, options_for_day(5)), l0_sstables=l0, levels=levels)


@pytest.mark.day5_task5
def test_full_compaction_task_takes_every_sst_into_the_last_level() -> None:
    """force_full_compaction's task left out some SSTs, or did not write into the last level as the bottom."""
    leveled = LeveledCompactionOptions(max_levels=4)
    task = full_compaction_task(state((9, 8), ((5, 6), (), (1, 2))), leveled)
    want = LevelCompactionTask(upper_level=0, upper=(9, 8), lower_level=4, lower=(5, 6, 1, 2), is_bottom=True)
    assert task == want, f"L0 (9, 8), L1 (5, 6), L3 (1, 2), 4 levels: expected {want}, got {task}"
    task = full_compaction_task(state((), ((3,),)), SimpleLeveledCompactionOptions(max_levels=2))
    want = LevelCompactionTask(upper_level=0, upper=(), lower_level=2, lower=(3,), is_bottom=True)
    assert task == want, f"only L1 (3,), 2 levels: expected {want}, got {task}"
    task = full_compaction_task(state((), ((4,), (3, 2), (1,))), TieredCompactionOptions())
    want = TieredCompactionTask(tiers=((4,), (3, 2), (1,)), is_bottom=True)
    assert task == want, f"tiers (4,), (3, 2), (1,): expected {want}, got {task}"
    task = full_compaction_task(state((7,), ((1,),)), NoCompaction())
    want = LevelCompactionTask(upper_level=0, upper=(7,), lower_level=1, lower=(1,), is_bottom=True)
    assert task == want, f"no compaction strategy, L0 (7,) and L1 (1,): expected {want}, got {task}"
    for options in (*STRATEGIES.values(), NoCompaction()):
        task = full_compaction_task(state((), ((), ())), options)
        assert task is None, f"a tree without SSTs needs no full compaction ({options}): expected None, got {task}"


@pytest.mark.day5_task5
def test_apply_full_compaction_keeps_newer_l0_files_and_empties_the_rest() -> None:
    """Applying a full compaction lost L0 files flushed during it, or left compacted SSTs in the tree."""
    task = LevelCompactionTask(upper_level=0, upper=(9, 8), lower_level=3, lower=(5, 1, 2), is_bottom=True)
    after = apply_full_compaction(TreeShape((12, 11, 9, 8), ((5,), (1, 2)), {}), task, [20, 21])
    assert after.l0 == (12, 11) and after.levels == ((), (), (20, 21)), (
        f"expected L0 (12, 11) and levels ((), (), (20, 21)), got L0 {after.l0} and levels {after.levels}"
    )
    task = TieredCompactionTask(tiers=((4,), (3, 2)), is_bottom=True)
    after = apply_full_compaction(TreeShape((), ((7,), (6,), (4,), (3, 2)), {}), task, [30])
    assert after.levels == ((7,), (6,), (30,)), (
        f"tiers (7,) and (6,) arrived during the full compaction of (4,), (3, 2): expected ((7,), (6,), (30,)), "
        f"got {after.levels}"
    )


# Task 5: the compactor in the engine

OpenDb = Callable[..., LsmStorage]


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[OpenDb]:
    opened: list[LsmStorage] = []

    def open_(compaction: CompactionOptions, **overrides: object) -> LsmStorage:
        fields = {"target_sst_size": 256, "block_size": 64, "num_memtable_limit": 2, **overrides}
        db = LsmStorage.open(tmp_path, options_for_day(5, compaction=compaction, **fields))
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


def load(db: LsmStorage, count: int, seed: int, keys: int = 100) -> dict[bytes, bytes]:
    rng = random.Random(seed)
    model: dict[bytes, bytes] = {}
    for n in range(count):
        key = b"key%03d" % rng.randrange(keys)
        model[key] = b"value-%d" % n
        db.put(key, model[key])
    return model


def live_ids(s: LsmStorageState) -> set[int]:
    return {*s.l0_sstables, *(sst_id for run in s.levels for sst_id in run)}


def files_on_disk(path: Path) -> set[int]:
    return {int(p.stem) for p in path.iterdir() if re.fullmatch(r"\d+\.sst", p.name)}


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_the_tree_is_in_shape_after_a_heavy_load(open_db: OpenDb, strategy: str) -> None:
    """After many flushes with inline compaction, the tree was not in the shape its strategy promises."""
    options = STRATEGIES[strategy]
    db = open_db(options)
    load(db, 600, seed=7)
    s = db.state
    counts = [len(s.l0_sstables), *(len(run) for run in s.levels)]
    if isinstance(options, TieredCompactionOptions):
        assert s.l0_sstables == () and len(s.levels) < options.num_tiers, (
            f"tiered: expected an empty L0 and fewer than {options.num_tiers} tiers, got SSTs per run {counts}"
        )
    elif isinstance(options, SimpleLeveledCompactionOptions):
        counts += [0] * (options.max_levels + 1 - len(counts))
        for upper in range(options.max_levels):
            if upper == 0 and counts[0] < options.level0_file_num_compaction_trigger:
                continue
            assert counts[upper + 1] * 100 >= options.size_ratio_percent * counts[upper], (
                f"simple leveled: L{upper} has too many files for the level below: SSTs per level {counts}"
            )
    else:
        sizes = [sum(s.sstables[i].size for i in run) for run in s.levels]
        assert counts[0] < options.level0_file_num_compaction_trigger, f"leveled: L0 is at its trigger: {counts}"
        base = int(options.base_level_size_mb * MIB)
        target = max(sizes[-1], base)
        for number in range(len(sizes) - 1, 0, -1):
            target = target // options.level_size_multiplier if target > base else 0
            assert sizes[number - 1] <= target, (
                f"leveled: L{number} holds {sizes[number - 1]} bytes over its target {target} (bytes per level {sizes})"
            )


@pytest.mark.day5_task5
def test_compaction_bytes_are_counted_in_the_stats(open_db: OpenDb) -> None:
    """stats() did not count the bytes that compactions wrote."""
    db = open_db(STRATEGIES["leveled"])
    load(db, 300, seed=3)
    stats = db.stats()
    assert stats["compaction_bytes_written"] > 0, f"300 writes with compaction: stats {show(stats)}"
    flush_only = stats["flush_bytes_written"] / stats["user_bytes_written"]
    assert stats["write_amplification"] > flush_only, (
        f"write amplification {stats['write_amplification']:.2f} must count compactions on top of flushes "
        f"({flush_only:.2f})"
    )
    db.force_flush()
    before = db.stats()["compaction_bytes_written"]
    db.force_full_compaction()
    after = db.stats()
    grew = after["compaction_bytes_written"] - before
    assert grew == after["sst_bytes"], (
        f"a full compaction rewrote the whole tree ({after['sst_bytes']} bytes), but compaction_bytes_written "
        f"grew by {grew}"
    )


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", ["simple", "tiered"])
@pytest.mark.invariant
def test_compacted_input_files_are_deleted(open_db: OpenDb, tmp_path: Path, strategy: str) -> None:
    """SST files that a compaction replaced stayed on disk, or a live SST's file disappeared."""
    db = open_db(STRATEGIES[strategy])
    load(db, 300, seed=11)
    live, on_disk = live_ids(db.state), files_on_disk(tmp_path)
    assert on_disk == live, (
        f"{strategy}: the .sst files should be exactly the live SSTs {sorted(live)}; "
        f"extra {sorted(on_disk - live)}, missing {sorted(live - on_disk)}"
    )


@pytest.mark.day5_task5
def test_full_compaction_of_levels_that_meet_at_one_key_keeps_the_newest_value(open_db: OpenDb) -> None:
    """force_full_compaction failed, or brought an older value back, when L1 ended on the key where L2 began."""
    db = open_db(
        SimpleLeveledCompactionOptions(size_ratio_percent=100, level0_file_num_compaction_trigger=1, max_levels=2)
    )
    db.put(b"c", b"old")
    db.put(b"e", b"e")
    db.force_flush()
    db.force_full_compaction()  # L2: [c .. e]
    db.put(b"a", b"a")
    db.put(b"c", b"new")
    db.force_flush()  # L1: [a .. c]
    s = db.state
    levels = [[(s.sstables[i].first_key, s.sstables[i].last_key) for i in run] for run in s.levels]
    assert levels == [[(b"a", b"c")], [(b"c", b"e")]], (
        f"setup: expected L1 [a .. c] above L2 [c .. e], got the key ranges per level {show(levels)}"
    )
    try:
        db.force_full_compaction()
    except NotImplementedError:
        raise
    except Exception as error:
        raise AssertionError(
            f"L1 [a .. c] above L2 [c .. e]: force_full_compaction raised {type(error).__name__}: {error}; "
            "the two levels share the key c, so their tables overlap and must be merged, not concatenated"
        ) from None
    entries = list(db.scan())
    want = [(b"a", b"a"), (b"c", b"new"), (b"e", b"e")]
    assert entries == want, (
        f"after the full compaction of L1 [a .. c] and L2 [c .. e] expected the scan {show(want)}, got {show(entries)}"
    )


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_the_state_keeps_no_table_that_a_compaction_replaced(open_db: OpenDb, strategy: str) -> None:
    """After compactions, state.sstables still held SSTs that no level lists (their files deleted, kept open)."""
    db = open_db(STRATEGIES[strategy])
    load(db, 300, seed=37)
    assert db.stats()["compaction_bytes_written"] > 0, f"{strategy}: 300 writes never compacted"
    for when in ("after 300 writes", "after a full compaction"):
        if when == "after a full compaction":
            db.force_flush()
            db.force_full_compaction()
        s = db.state
        listed, held = live_ids(s), set(s.sstables)
        assert held == listed, (
            f"{strategy}, {when}: state.sstables must hold exactly the SSTs of L0 and the levels "
            f"{show(sorted(listed))}; it also held {show(sorted(held - listed))} (replaced by a compaction) and "
            f"lacked {show(sorted(listed - held))}"
        )


class RecordingDurability:
    """Wraps the engine's durability layer and notes what the tree looked like at each compacted()."""

    def __init__(self, db: LsmStorage, path: Path) -> None:
        self.inner = db.durability
        self.db = db
        self.path = path
        self.problems: list[str] = []
        self.records: list[CompactionRecord] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def compacted(self, record: CompactionRecord, removed_ids: list[int]) -> None:
        self.records.append(record)
        if not isinstance(record, CompactionRecord):
            self.problems.append(f"compacted() got {record!r}, not a CompactionRecord")
            return
        task = record.task
        if isinstance(task, TieredCompactionTask):
            inputs = {sst_id for tier in task.tiers for sst_id in tier}
        else:
            inputs = {*task.upper, *task.lower}
        if set(removed_ids) != inputs:
            self.problems.append(f"removed_ids {sorted(removed_ids)} are not the task's inputs {sorted(inputs)}")
        gone = [i for i in (*removed_ids, *record.output) if not sst_path(self.path, i).exists()]
        if gone:
            self.problems.append(f"at compacted() the files of SSTs {gone} were already missing (task {task})")
        unlisted = sorted(set(removed_ids) - live_ids(self.db.state))
        if unlisted:
            self.problems.append(f"the state no longer listed inputs {unlisted} before compacted() was called")
        self.inner.compacted(record, removed_ids)


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", ["leveled", "tiered"])
def test_each_compaction_is_recorded_before_the_state_changes_or_files_go(
    open_db: OpenDb, tmp_path: Path, strategy: str
) -> None:
    """A compaction was not handed to the durability layer, or only after publishing or deleting its inputs."""
    db = open_db(STRATEGIES[strategy])
    recorder = RecordingDurability(db, tmp_path)
    db.durability = recorder
    load(db, 250, seed=13)
    assert recorder.records, f"{strategy}: 250 writes compacted, but durability.compacted() was never called"
    assert not any(r.full for r in recorder.records), "a compaction the controller asked for is not full=True"
    db.force_flush()
    count = len(recorder.records)
    db.force_full_compaction()
    assert len(recorder.records) == count + 1 and recorder.records[-1].full, (
        "force_full_compaction must call durability.compacted() once, with a record whose full is True"
    )
    assert not recorder.problems, f"{strategy}: {recorder.problems[0]} ({len(recorder.problems)} problem(s))"


class AnnouncementWatch:
    """Wraps the engine's durability layer and notes which SST files exist at each compaction_started()."""

    def __init__(self, db: LsmStorage, path: Path) -> None:
        self.inner = db.durability
        self.path = path
        self.files_at_announcements: list[set[str]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def compaction_started(self) -> None:
        self.files_at_announcements.append({found.name for found in self.path.glob("*.sst")})
        self.inner.compaction_started()


@pytest.mark.day5_task5
def test_a_compaction_announces_itself_before_its_first_output_exists(open_db: OpenDb, tmp_path: Path) -> None:
    """A compaction wrote an output before calling durability.compaction_started(): without a manifest, a crash
    then leaves outputs whose newer ids hide the writes of a memtable flushed meanwhile."""
    db = open_db(NoCompaction())
    load(db, 120, seed=29)
    db.force_flush()
    watch = AnnouncementWatch(db, tmp_path)
    db.durability = watch
    inputs = {found.name for found in tmp_path.glob("*.sst")}
    db.force_full_compaction()
    outputs = {found.name for found in tmp_path.glob("*.sst")} - inputs
    assert outputs, "test setup: the full compaction should write new SSTs"
    assert watch.files_at_announcements == [inputs], (
        f"force_full_compaction should call engine.durability.compaction_started() once, before it writes its first "
        f"output; the SST files at each call were {watch.files_at_announcements}, the inputs {sorted(inputs)}, the "
        f"outputs {sorted(outputs)}"
    )


@pytest.mark.day5_task5
def test_no_published_state_lists_an_sst_whose_file_is_gone(
    open_db: OpenDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction deleted its input files while the engine's state still listed them."""
    db = open_db(STRATEGIES["simple"])
    problems: list[str] = []
    replace_state = db.replace_state

    def checked(change: Callable[[LsmStorageState], LsmStorageState]) -> LsmStorageState:
        missing = sorted(i for i in live_ids(db.state) if not sst_path(tmp_path, i).exists())
        if missing:
            problems.append(f"the state listed SSTs {missing}, whose files were already deleted")
        return replace_state(change)

    monkeypatch.setattr(db, "replace_state", checked)
    load(db, 250, seed=17)
    db.force_full_compaction()
    assert db.stats()["compaction_bytes_written"] > 0, "250 writes with compaction never compacted"
    assert not problems, problems[0]


def entries_after_a_full_compaction(db: LsmStorage) -> Entries:
    """Flush, compact everything, and return every entry the SSTs hold (tombstones too), table by table."""
    db.force_flush()
    db.force_full_compaction()
    s = db.state
    return [
        entry
        for sst_id in live_ids(s)
        for entry in collect(SsTableIterator.create_and_seek_to_first(s.sstables[sst_id]))
    ]


@pytest.mark.day5_task5
def test_tombstones_are_gone_after_a_full_compaction(open_db: OpenDb) -> None:
    """A full compaction into the bottom kept tombstones (or lost live keys)."""
    db = open_db(STRATEGIES["leveled"])
    model = load(db, 200, seed=19, keys=60)
    for key in sorted(model)[::2]:
        db.delete(key)
        del model[key]
    entries = entries_after_a_full_compaction(db)
    tombstones = [key for key, value in entries if value is None]
    assert not tombstones, f"after a full compaction no SST should hold a tombstone, found {show(tombstones)}"
    assert sorted(entries) == sorted(model.items()), f"expected exactly the live keys {show(sorted(model.items()))}"


@pytest.mark.day5_task5
def test_full_compaction_works_without_a_compaction_strategy(open_db: OpenDb) -> None:
    """force_full_compaction failed, or left L0 files, when the options ask for no compaction."""
    db = open_db(NoCompaction())
    model = load(db, 120, seed=23)
    db.force_flush()
    assert len(db.state.l0_sstables) > 2, "with NoCompaction every flush should stay in L0"
    db.force_full_compaction()
    s = db.state
    assert s.l0_sstables == () and len(s.levels) == 1 and s.levels[0], (
        f"expected every SST in L1, got L0 {s.l0_sstables} and levels {s.levels}"
    )
    assert list(db.scan()) == sorted(model.items()), "after the full compaction the scan must return every key"


@pytest.mark.day5_task5
def test_tiered_flushes_become_tiers(open_db: OpenDb) -> None:
    """Under tiered compaction a flushed SST stayed in L0 instead of becoming the newest tier."""
    db = open_db(TieredCompactionOptions(num_tiers=100))
    db.put(b"a", b"1")
    db.force_flush()
    db.put(b"b", b"2")
    db.force_flush()
    s = db.state
    assert s.l0_sstables == () and len(s.levels) == 2 and all(len(tier) == 1 for tier in s.levels), (
        f"two flushes under tiered compaction (num_tiers=100): expected L0 () and two one-SST tiers, got L0 "
        f"{s.l0_sstables} and tiers {s.levels}"
    )
    newest = s.sstables[s.levels[0][0]]
    assert newest.first_key == b"b", "the newest flush must be the first tier"


@pytest.mark.day5_task5
def test_a_scan_survives_the_compaction_of_its_tables(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan broke, or changed, when compactions deleted the SST files it was reading."""
    db = open_db(STRATEGIES["simple"])
    snapshot = load(db, 200, seed=29, keys=80)
    db.force_flush()
    held = live_ids(db.state)
    scan = db.scan()
    first = [next(scan) for _ in range(5)]
    for n in range(200):
        db.put(b"key%03d" % (n % 80), b"later-%d" % n)
    db.force_flush()
    db.force_full_compaction()
    assert not any(sst_path(tmp_path, i).exists() for i in held), "the compactions should have deleted every old SST"
    rest = list(scan)
    assert first + rest == sorted(snapshot.items()), (
        f"a scan started before the compactions must return the data as it was: expected "
        f"{show(sorted(snapshot.items()))}, got {show(first + rest)}"
    )


def stall_trigger(options: CompactionOptions) -> int:
    """How many flushed runs start a compaction: the write stall begins at ``STALL_FACTOR`` times this."""
    if isinstance(options, TieredCompactionOptions):
        return options.num_tiers
    return options.level0_file_num_compaction_trigger


def flushed_runs_waiting(s: LsmStorageState, options: CompactionOptions) -> int:
    """The runs a compaction has yet to take in: L0's SSTs, and under tiered compaction every tier."""
    return len(s.l0_sstables) + (len(s.levels) if isinstance(options, TieredCompactionOptions) else 0)


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", ["leveled", "tiered"])
def test_background_compaction_keeps_the_engine_correct_and_close_stops_it(open_db: OpenDb, strategy: str) -> None:
    """With background work the engine returned wrong data, let flushes pile up, or left its thread running."""
    options = STRATEGIES[strategy]
    before = Counter(engine_threads())
    db = open_db(options, background_work=True)
    trigger = stall_trigger(options)
    rng = random.Random(31)
    model: dict[bytes, bytes] = {}
    for n in range(300):
        key = b"key%03d" % rng.randrange(80)
        model[key] = b"value-%d" % n
        db.put(key, model[key])
        waiting = flushed_runs_waiting(db.state, options)
        assert waiting <= STALL_FACTOR * trigger + 2, (
            f"{strategy}: {waiting} flushed SSTs wait for compaction after write {n}; a writer should help "
            f"compact once {STALL_FACTOR} x the trigger ({trigger}) are waiting"
        )
        if n % 50 == 49:
            probe = rng.choice(sorted(model))
            assert db.get(probe) == model[probe], f"{strategy}: get({probe!r}) after write {n} is wrong"
    assert list(db.scan()) == sorted(model.items()), f"{strategy}: the scan after 300 writes is wrong"
    db.close()
    leftover = sorted((Counter(engine_threads()) - before).elements())
    assert not leftover, f"{strategy}: close() must stop the background thread, but {leftover} still run"


class HoldingDurability:
    """Holds the first compaction of a background thread inside compacted() for a moment.

    If the engine closes its durability layer while that compaction is still held,
    close() did not wait for the background thread.
    """

    def __init__(self, inner: object, hold_seconds: float = 0.3) -> None:
        self.inner = inner
        self.hold_seconds = hold_seconds
        self.main = threading.current_thread()
        self.inside = threading.Event()
        self.finished = threading.Event()
        self.release = threading.Event()
        self.problems: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def compacted(self, record: CompactionRecord, removed_ids: list[int]) -> None:
        hold = threading.current_thread() is not self.main and not self.inside.is_set()
        if hold:
            self.inside.set()
            self.release.wait(self.hold_seconds)
        self.inner.compacted(record, removed_ids)
        if hold:
            self.finished.set()

    def close(self) -> None:
        if self.inside.is_set() and not self.finished.is_set():
            self.problems.append("the durability layer was closed while a background compaction was still running")
        self.release.set()
        self.inner.close()


@pytest.mark.day5_task5
def test_close_waits_for_a_background_compaction_in_progress(open_db: OpenDb) -> None:
    """close() returned (and closed the durability layer) while the background thread was still compacting."""
    options = STRATEGIES["leveled"]
    db = open_db(options, background_work=True, num_memtable_limit=1)
    holder = HoldingDurability(db.durability)
    db.durability = holder
    n = 0
    while len(db.state.l0_sstables) < options.level0_file_num_compaction_trigger and not holder.inside.is_set():
        db.put(b"key%04d" % n, b"value")
        n += 1
    assert holder.inside.wait(10), "with L0 at its trigger, the background thread never started a compaction"
    db.close()
    assert not holder.problems, holder.problems[0]


STUCK_SECONDS = 1.5


def held_background_thread(open_db: OpenDb, strategy: str) -> tuple[LsmStorage, HoldingDurability, CompactionOptions]:
    """An engine with background work, whose background thread is held inside its first compaction."""
    options = STRATEGIES[strategy]
    db = open_db(options, background_work=True, num_memtable_limit=1)
    holder = HoldingDurability(db.durability, hold_seconds=60)
    db.durability = holder
    return db, holder, options


@contextlib.contextmanager
def released_when_stuck(holder: HoldingDurability, stuck: Callable[[], bool]) -> Iterator[None]:
    """Let the held compaction go once ``stuck()`` says the writer waits for it (and, at the latest, on leaving)."""

    def watch() -> None:
        while not holder.release.wait(0.02):
            if holder.inside.is_set() and stuck():
                holder.release.set()

    watchdog = threading.Thread(target=watch, daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        holder.release.set()
        watchdog.join()


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", ["leveled", "tiered"])
def test_a_writer_helps_compact_while_the_background_thread_is_busy(open_db: OpenDb, strategy: str) -> None:
    """With the background thread held inside a long compaction, writers kept flushing: no write stall."""
    db, holder, options = held_background_thread(open_db, strategy)
    trigger = stall_trigger(options)
    bound = STALL_FACTOR * trigger + 2
    last_put = [time.monotonic()]
    # a writer that stalls waits for the held compaction: let it go once the writer has made no progress for a while
    with released_when_stuck(holder, lambda: time.monotonic() - last_put[0] > STUCK_SECONDS):
        model: dict[bytes, bytes] = {}
        for n in range(600):
            key = b"key%04d" % (n * 7919 % 600)
            model[key] = b"value-%d" % n
            db.put(key, model[key])
            last_put[0] = time.monotonic()
            waiting = flushed_runs_waiting(db.state, options)
            assert waiting <= bound, (
                f"{strategy}: the background thread was busy in one compaction and {waiting} flushed SSTs waited "
                f"after write {n}; once {STALL_FACTOR} x the trigger ({trigger}) wait, a writer must help compact"
            )
    assert holder.inside.is_set(), f"{strategy}: 600 writes never started a background compaction"
    assert list(db.scan()) == sorted(model.items()), f"{strategy}: the scan after the write stall is wrong"


FULL_COMPACTION_WAIT_SECONDS = 1.0
"""A forced full compaction that takes this long while the background thread is held is taken as waiting for it."""


@pytest.mark.day5_task5
def test_a_full_compaction_waits_for_a_background_compaction_in_progress(open_db: OpenDb) -> None:
    """force_full_compaction ran while the background thread was compacting: both merged the same SSTs."""
    db, holder, options = held_background_thread(open_db, "leveled")
    model: dict[bytes, bytes] = {}
    n = 0
    while len(db.state.l0_sstables) < options.level0_file_num_compaction_trigger and not holder.inside.is_set():
        key = b"key%04d" % (n % 40)
        model[key] = b"value-%d" % n
        db.put(key, model[key])
        n += 1
    assert holder.inside.wait(10), "with L0 at its trigger, the background thread never started a compaction"
    started: list[float | None] = [None]

    def full_compaction_waits() -> bool:  # a correct one waits for the held compaction to finish
        begun = started[0]
        return begun is not None and time.monotonic() - begun > FULL_COMPACTION_WAIT_SECONDS

    with released_when_stuck(holder, full_compaction_waits):
        started[0] = time.monotonic()
        db.force_full_compaction()
    db.close()  # joins the background thread, whose compaction is then published
    tables, levels = db.state.sstables, db.state.levels
    for number, level in enumerate(levels, 1):
        ranges = [(tables[i].first_key, tables[i].last_key) for i in level]
        overlapping = [(a, b) for a, b in itertools.pairwise(ranges) if a[1] >= b[0]]
        assert not overlapping, (
            f"after a full compaction raced a background compaction, L{number} holds SSTs whose key ranges "
            f"overlap or are out of order: {show(overlapping)} (expected one sorted run per level)"
        )
    ids = [i for level in (db.state.l0_sstables, *levels) for i in level]
    missing = [i for i in ids if not sst_path(db.path, i).exists()]
    assert not missing, f"the tree names SSTs {missing} whose files were deleted by the other compaction"
    reopened = open_db(options)
    got = dict(reopened.scan())
    assert got == model, f"after the two compactions and a reopen, expected {show(model)}, got {show(got)}"


STALL_PUT_SECONDS = 1.0
"""A put that takes this long while the background thread is held is taken as stalled, and the hold is let go."""


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", ["leveled", "tiered"])
def test_the_write_stall_starts_exactly_at_stall_factor_times_the_trigger(open_db: OpenDb, strategy: str) -> None:
    """The write stall did not begin exactly when STALL_FACTOR x the trigger flushed runs waited (one late or early)."""
    db, holder, options = held_background_thread(open_db, strategy)
    bound = STALL_FACTOR * stall_trigger(options)
    put_started: list[float | None] = [None]

    def a_put_is_stuck() -> bool:  # a stalled writer waits for the held compaction
        started = put_started[0]
        return started is not None and time.monotonic() - started > STALL_PUT_SECONDS

    most_while_held = 0
    with released_when_stuck(holder, a_put_is_stuck):
        for n in range(400):
            held = holder.inside.is_set()
            put_started[0] = time.monotonic()
            db.put(b"key%04d" % (n * 7919 % 400), b"value-%d" % n)
            put_started[0] = None
            waiting = flushed_runs_waiting(db.state, options)
            if held and not holder.release.is_set():  # the whole put ran with the background thread held
                most_while_held = max(most_while_held, waiting)
                assert waiting < bound, (
                    f"{strategy}: with the background thread busy, a write returned with {waiting} flushed SSTs "
                    f"waiting; the stall starts when {STALL_FACTOR} x the trigger ({stall_trigger(options)}) = "
                    f"{bound} wait (>=, not >): the writer that flushes the {bound}th must help compact first"
                )
            if holder.release.is_set():
                break
            if not held and waiting >= stall_trigger(options):
                assert holder.inside.wait(10), (
                    f"{strategy}: {waiting} flushed SSTs wait, at the trigger, but the background thread never "
                    "started a compaction"
                )
    assert most_while_held == bound - 1, (
        f"{strategy}: with the background thread busy, writers should run freely until {bound - 1} flushed SSTs "
        f"wait and stall at {bound}; at most {most_while_held} waited after a write"
    )


def load_ascending(db: LsmStorage, count: int) -> dict[bytes, bytes]:
    """Keys in ascending order: every flush lands after the whole tree, so compactions can move SSTs down."""
    model = {b"key%04d" % n: b"value-%d" % n for n in range(count)}
    for key, value in model.items():
        db.put(key, value)
    return model


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", ["simple", "leveled"])
@pytest.mark.invariant
def test_a_trivial_move_keeps_the_moved_files(open_db: OpenDb, tmp_path: Path, strategy: str) -> None:
    """A trivial move deleted the file of an SST it moved down (or kept a file no SST uses)."""
    db = open_db(STRATEGIES[strategy])
    model = load_ascending(db, 300)
    live, on_disk = live_ids(db.state), files_on_disk(tmp_path)
    assert on_disk == live, (
        f"{strategy}: after moving SSTs down the .sst files should be exactly the live SSTs {sorted(live)}; "
        f"extra {sorted(on_disk - live)}, missing {sorted(live - on_disk)}"
    )
    assert list(db.scan()) == sorted(model.items()), f"{strategy}: after the moves the scan lost or changed keys"


@pytest.mark.day5_task5
def test_a_full_compaction_rewrites_even_ssts_it_could_move(open_db: OpenDb) -> None:
    """A full compaction moved a sorted run down as it was, keeping its tombstones, instead of rewriting it."""
    db = open_db(NoCompaction())
    model: dict[bytes, bytes] = {}
    for n in range(120):  # ascending, a delete among the puts: disjoint L0 files that hold tombstones
        key = b"key%04d" % n
        if n % 3:
            model[key] = b"value-%d" % n
            db.put(key, model[key])
        else:
            db.delete(key)
    entries = entries_after_a_full_compaction(db)
    tombstones = [key for key, value in entries if value is None]
    assert not tombstones, (
        f"L0 held a sorted run that nothing overlapped, but a full compaction must still rewrite it into the "
        f"bottom and drop its tombstones; found {show(tombstones)}"
    )
    assert sorted(entries) == sorted(model.items()), f"expected exactly the live keys {show(sorted(model.items()))}"


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", ["simple", "leveled"])
@pytest.mark.invariant
def test_l0_ssts_that_share_a_boundary_key_are_merged_not_moved(open_db: OpenDb, strategy: str) -> None:
    """Two L0 SSTs whose ranges meet at one key were moved down as a sorted run: the level held that key twice."""
    db = open_db(STRATEGIES[strategy])
    db.put(b"a", b"1")
    db.put(b"m", b"old")
    db.force_flush()  # L0: [a .. m]
    db.put(b"m", b"new")
    db.put(b"z", b"2")
    db.force_flush()  # L0: [m .. z], newer; the trigger of 2 starts a compaction into an empty level
    got = db.get(b"m")
    assert got == b"new", (
        f"{strategy}: the SSTs [a..m] and [m..z] overlap at m (a range includes its last key), so they must be "
        f"merged, keeping the newer m; get(b'm') gave {got!r}, expected b'new'"
    )
    entries = list(db.scan())
    expected = [(b"a", b"1"), (b"m", b"new"), (b"z", b"2")]
    assert entries == expected, f"{strategy}: expected the scan {show(expected)}, got {show(entries)}"


@pytest.mark.day5_task5
def test_the_background_thread_flushes_frozen_memtables(open_db: OpenDb) -> None:
    """With background work on, a frozen memtable stayed in memory: the background thread never flushed it."""
    db = open_db(STRATEGIES["leveled"], background_work=True, num_memtable_limit=4)
    for n in range(20):  # more than the 256-byte target: at least one memtable freezes, none is flushed inline
        db.put(b"key%02d" % n, b"v" * 20)
    deadline = time.monotonic() + 10
    while db.state.imm_memtables and time.monotonic() < deadline:
        time.sleep(0.02)
    waiting = len(db.state.imm_memtables)
    assert waiting == 0, (
        f"{waiting} frozen memtable(s) were still in memory 10 s after the writes: the background thread must "
        "flush them (and then compact), or they wait for the writer to reach num_memtable_limit"
    )


@pytest.mark.day5_task5
def test_a_compaction_drops_the_cached_blocks_of_the_tables_it_deleted(open_db: OpenDb) -> None:
    """After a compaction, blocks of the SSTs it deleted stayed in the block cache, taking the room of live ones."""
    db = open_db(NoCompaction(), block_cache_bytes=1 << 20)
    for round_ in range(3):
        for n in range(10):
            db.put(b"key%02d" % n, b"round-%d" % round_)
        db.force_flush()
    deleted = list(db.state.l0_sstables)
    for sst_id in deleted:  # every block of every table read once: all of them in the cache
        table = db.state.sstables[sst_id]
        for index in range(table.num_blocks()):
            table.read_block_cached(index)
    db.force_full_compaction()
    still_cached = []
    for sst_id in deleted:
        loaded: list[int] = []

        def load(sst_id: int = sst_id, loaded: list[int] = loaded) -> object:
            loaded.append(sst_id)
            return db.state.sstables[db.state.levels[-1][0]].read_block(0)

        db.block_cache.get_or_load(sst_id, 0, load)
        if not loaded:
            still_cached.append(sst_id)
    assert not still_cached, (
        f"the compaction deleted SSTs {deleted}, but the cache still held blocks of {still_cached}: a deleted "
        "table's blocks can never be read again, so they must be evicted (BlockCache.evict_table)"
    )


@pytest.mark.day5_task1
def test_an_output_is_cut_when_its_size_reaches_the_target_exactly(tmp_path: Path) -> None:
    """An output SST was cut only once its estimated size passed target_sst_size, not when it reached it."""
    entries = [(b"key%02d" % n, b"value-%02d" % n) for n in range(9)]
    probe = SsTableBuilder(options_for_day(5, block_size=128))
    for key, value in entries[:3]:
        probe.add(key, value)
    target = probe.estimated_size()  # what three entries are estimated at: the target, reached exactly
    outputs = write_outputs(tmp_path, entries, is_bottom=False, target=target)
    sizes = [len(collect(SsTableIterator.create_and_seek_to_first(table))) for table in outputs]
    assert sizes == [3, 3, 3], (
        f"with target_sst_size={target}, the estimate of three entries, each output must be cut after its third "
        f"entry (once its estimated_size() reaches the target); the outputs held {sizes} entries"
    )


@pytest.mark.day5_task5
def test_a_tiered_full_compaction_of_only_deletes_leaves_no_empty_tier(open_db: OpenDb) -> None:
    """A tiered full compaction whose every key was deleted left an empty tier behind."""
    db = open_db(STRATEGIES["tiered"])
    for n in range(10):
        db.put(b"key%02d" % n, b"value")
    db.force_flush()
    for n in range(10):
        db.delete(b"key%02d" % n)
    db.force_flush()
    db.force_full_compaction()
    tiers = db.state.levels
    assert () not in tiers and not db.state.l0_sstables, (
        f"every key was deleted, so the full compaction writes nothing and the tree is empty; got the tiers {tiers}"
    )
    assert list(db.scan()) == [], "every key was deleted: the scan must be empty"


@pytest.mark.day5_task5
@pytest.mark.invariant
def test_overlapping_l0_ssts_are_merged_not_moved(open_db: OpenDb) -> None:
    """L0 SSTs whose key ranges overlap were moved down as they were: a level then held overlapping SSTs."""
    db = open_db(STRATEGIES["leveled"])
    model: dict[bytes, bytes] = {}
    for round_ in range(4):  # every round spans the same keys, so each flush overlaps the ones before it
        for n in range(0, 60, 3):
            key = b"key%04d" % (n + round_)
            model[key] = b"round-%d" % round_
            db.put(key, model[key])
    s = db.state
    for number, level in enumerate(s.levels, start=1):
        ranges = [(s.sstables[sst_id].first_key, s.sstables[sst_id].last_key) for sst_id in level]
        overlapping = [(a, b) for a, b in itertools.pairwise(ranges) if a[1] >= b[0]]
        assert not overlapping, f"L{number} holds SSTs whose key ranges overlap: {show(overlapping)}"
    for key, value in model.items():
        assert db.get(key) == value, f"get({key!r}) expected {value!r}, got {db.get(key)!r}"
