"""Day 5 hidden model tests: each controller driven by random flushes, and the engine against a dict.

The controller tests run without files. A simulated SST is a dict ``key -> (version,
deleted)``; a simulated compaction merges its inputs in the order ``merged_entries``
reads them (L0 files and tiers newest first, the upper level before the lower) and
cuts the result into small SSTs. After every step the tree must still answer every
key with its newest version, keep each sorted run in key order without overlaps,
and hold exactly the SSTs the steps left in it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinylsm.engine import LsmStorage
from tinylsm.leveled import LeveledController
from tinylsm.options import (
    CompactionOptions,
    LeveledCompactionOptions,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.simple_leveled import SimpleLeveledController
from tinylsm.state import CompactionTask, SstInfo, TieredCompactionTask, TreeShape
from tinylsm.testkit import options_for_day, show
from tinylsm.tiered import TieredController

MIB = 1 << 20
UNIT = 100
"""Bytes that one simulated entry counts in its SST's size."""
OUTPUT_ENTRIES = 4
"""Entries per simulated output SST."""
SETTLE_LIMIT = 300
"""A controller that still asks for work after this many compactions in a row does not converge."""
KEYS = [b"k%02d" % n for n in range(12)]

Entry = tuple[int, bool]  # (version, deleted)


class SimTree:
    """A tree of simulated SSTs driven through one controller."""

    def __init__(self, controller: SimpleLeveledController | TieredController | LeveledController) -> None:
        self.controller = controller
        self.tiered = isinstance(controller, TieredController)
        self.max_levels = None if self.tiered else controller.options.max_levels
        self.shape = TreeShape()
        self.tables: dict[int, dict[bytes, Entry]] = {}
        self.model: dict[bytes, Entry] = {}
        self.next_id = 1
        self.version = 0
        self.log: list[str] = []

    def _new_table(self, entries: dict[bytes, Entry]) -> SstInfo:
        sst_id, self.next_id = self.next_id, self.next_id + 1
        self.tables[sst_id] = entries
        keys = sorted(entries)
        return SstInfo(sst_id, UNIT * len(entries), keys[0], keys[-1])

    def flush(self, writes: dict[bytes, bool]) -> None:
        self.version += 1
        entries = {key: (self.version, deleted) for key, deleted in writes.items()}
        self.model.update(entries)
        new = self._new_table(entries)
        ssts = {**self.shape.ssts, new.id: new}
        if self.tiered:
            self.shape = TreeShape(self.shape.l0, ((new.id,), *self.shape.levels), ssts)
        else:
            self.shape = TreeShape((new.id, *self.shape.l0), self.shape.levels, ssts)
        self.log.append(f"flush -> SST {new.id} {sorted(writes)}")

    def compact(self, meanwhile: tuple[dict[bytes, bool], ...] | list[dict[bytes, bool]] = ()) -> bool:
        """Run the next task, with ``meanwhile`` flushed while it runs; ``False`` if there was none."""
        task = self.controller.generate_task(self.shape)
        if task is None:
            return False
        self.log.append(f"task {task}")
        order = _inputs_in_read_order(task)
        present = Counter(_ids(self.shape))
        assert all(present[i] == 1 for i in order), (
            f"the task names SSTs that are not in the tree once each: task {task}, tree {_describe(self.shape)}"
        )
        merged: dict[bytes, Entry] = {}
        for sst_id in order:
            for key, entry in self.tables[sst_id].items():
                merged.setdefault(key, entry)
        kept = [(k, e) for k, e in sorted(merged.items()) if not (task.is_bottom and e[1])]
        outputs = [self._new_table(dict(kept[i : i + OUTPUT_ENTRIES])) for i in range(0, len(kept), OUTPUT_ENTRIES)]
        for writes in meanwhile:
            self.flush(writes)
        before = Counter(_ids(self.shape))
        ssts = {**self.shape.ssts, **{o.id: o for o in outputs}}
        after = self.controller.apply_result(
            TreeShape(self.shape.l0, self.shape.levels, ssts), task, [o.id for o in outputs]
        )
        inputs = set(order)
        self.shape = TreeShape(after.l0, after.levels, {i: s for i, s in ssts.items() if i not in inputs})
        self.log.append(f"outputs {[o.id for o in outputs]} -> {_describe(self.shape)}")
        want = before - Counter(inputs) + Counter(o.id for o in outputs)
        got = Counter(_ids(self.shape))
        assert got == want, (
            f"apply_result of {task} with outputs {[o.id for o in outputs]} left SSTs {sorted(got.elements())}, "
            f"expected {sorted(want.elements())}\n{self.history()}"
        )
        return True

    def settle(self) -> int:
        for count in range(SETTLE_LIMIT):
            if not self.compact():
                return count
        raise AssertionError(f"the controller still asked for work after {SETTLE_LIMIT} compactions\n{self.history()}")

    def read(self, key: bytes) -> Entry | None:
        for sst_id in self.shape.l0:
            if key in self.tables[sst_id]:
                return self.tables[sst_id][key]
        for run in self.shape.levels:
            for sst_id in run:
                if key in self.tables[sst_id]:
                    return self.tables[sst_id][key]
        return None

    def history(self) -> str:
        return "steps:\n  " + "\n  ".join(self.log[-12:])

    def check(self) -> None:
        """Every key reads as its newest write; every sorted run is in key order, without overlaps."""
        shape = self.shape
        if self.tiered:
            assert shape.l0 == (), f"tiered compaction must keep L0 empty, got {_describe(shape)}\n{self.history()}"
        else:
            assert len(shape.levels) <= self.max_levels, (
                f"the tree has {len(shape.levels)} levels, more than max_levels={self.max_levels}\n{self.history()}"
            )
        for number, run in enumerate(shape.levels, start=1):
            for left, right in itertools.pairwise(run):
                a, b = shape.ssts[left], shape.ssts[right]
                assert a.last_key < b.first_key, (
                    f"run {number} is not in key order without overlaps: SST {left} ({a.first_key!r}..{a.last_key!r}) "
                    f"before SST {right} ({b.first_key!r}..{b.last_key!r}); tree {_describe(shape)}\n{self.history()}"
                )
        for key in KEYS:
            want = self.model.get(key)
            got = self.read(key)
            if want is not None and want[1] and got is None:
                continue  # a tombstone dropped at the bottom: the key reads as deleted either way
            assert got == want, (
                f"key {key!r}: its newest write is (version, deleted) = {want}, but a read finds {got} first "
                f"(an older version above a newer one, or a lost one); tree {_describe(shape)}\n{self.history()}"
            )


def _ids(shape: TreeShape) -> list[int]:
    return [*shape.l0, *(sst_id for run in shape.levels for sst_id in run)]


def _inputs_in_read_order(task: CompactionTask) -> list[int]:
    if isinstance(task, TieredCompactionTask):
        return [sst_id for tier in task.tiers for sst_id in tier]
    return [*task.upper, *task.lower]


def _describe(shape: TreeShape) -> str:
    return f"L0 {list(shape.l0)} runs {[list(run) for run in shape.levels]}"


Step = tuple[dict[bytes, bool], str, list[dict[bytes, bool]]]
MODES = ["one", "none", "one", "settle"]
"""After a flush: one compaction (with flushes while it runs), none, or compactions until settled."""


def random_flush(rng: random.Random, delete_odds: float) -> dict[bytes, bool]:
    return {rng.choice(KEYS): rng.random() < delete_odds for _ in range(rng.randint(1, 6))}


def random_plan(seed: int) -> list[Step]:
    """The tree grows (few deletes), then shrinks (mostly deletes).

    A shrinking tree moves leveled compaction's base level down, and a compactor
    that lags behind the flushes lets L0 fill up meanwhile.
    """
    rng = random.Random(seed)
    plan: list[Step] = []
    for delete_odds in (0.2, 0.8):
        for _ in range(rng.randint(1, 15)):
            meanwhile = [random_flush(rng, delete_odds) for _ in range(rng.randint(0, 2))]
            plan.append((random_flush(rng, delete_odds), rng.choice(MODES), meanwhile))
    return plan


seeds = st.integers(0, 2**32 - 1)


def drive(tree: SimTree, plan: list[Step]) -> None:
    """Flush, then compact as each step says (fully, once, or not at all), checking the tree after each."""
    for flushed, mode, meanwhile in plan:
        tree.flush(flushed)
        tree.check()
        if mode == "settle":
            tree.compact(meanwhile)
            tree.check()
            tree.settle()
        elif mode == "one":
            tree.compact(meanwhile)
        tree.check()
    tree.settle()
    tree.check()


def level_counts(shape: TreeShape) -> str:
    return f"L0 {len(shape.l0)} files, levels {[len(run) for run in shape.levels]}"


simple_options = st.builds(
    SimpleLeveledCompactionOptions,
    size_ratio_percent=st.sampled_from([100, 150, 200, 300]),
    level0_file_num_compaction_trigger=st.integers(1, 3),
    max_levels=st.integers(1, 4),
)
tiered_options = st.builds(
    TieredCompactionOptions,
    num_tiers=st.integers(2, 5),
    max_size_amplification_percent=st.sampled_from([100, 200, 300]),
    size_ratio=st.sampled_from([0, 1, 50, 100]),
    min_merge_width=st.integers(2, 3),
)
leveled_options = st.builds(
    LeveledCompactionOptions,
    level_size_multiplier=st.integers(2, 4),
    level0_file_num_compaction_trigger=st.integers(1, 3),
    max_levels=st.integers(2, 4),
    base_level_size_mb=st.integers(2, 8).map(lambda entries: entries * UNIT / MIB),
)


@pytest.mark.day5_task2
@settings(max_examples=100)
@given(simple_options, seeds)
def test_simple_leveled_keeps_the_tree_readable_and_converges(
    options: SimpleLeveledCompactionOptions, seed: int
) -> None:
    """Random flushes through simple leveled compaction lost data, broke a level's order, or never settled."""
    tree = SimTree(SimpleLeveledController(options))
    drive(tree, random_plan(seed))
    counts = [len(tree.shape.l0), *(len(run) for run in tree.shape.padded_levels(options.max_levels))]
    for upper in range(options.max_levels):
        if upper == 0 and counts[0] < options.level0_file_num_compaction_trigger:
            continue
        assert counts[upper + 1] * 100 >= options.size_ratio_percent * counts[upper], (
            f"{options}: after settling, L{upper} has {counts[upper]} files over {counts[upper + 1]} below it, "
            f"which breaks the ratio ({level_counts(tree.shape)})"
        )


@pytest.mark.day5_task3
@settings(max_examples=100)
@given(tiered_options, seeds)
def test_tiered_keeps_the_tree_readable_and_converges(options: TieredCompactionOptions, seed: int) -> None:
    """Random flushes through tiered compaction lost data, misordered tiers, or never settled."""
    tree = SimTree(TieredController(options))
    drive(tree, random_plan(seed))
    assert len(tree.shape.levels) < options.num_tiers, (
        f"{options}: after settling there are {len(tree.shape.levels)} tiers, expected fewer than num_tiers"
    )


def leveled_targets(options: LeveledCompactionOptions, shape: TreeShape) -> list[int]:
    base = int(options.base_level_size_mb * MIB)
    levels = shape.padded_levels(options.max_levels)
    targets = [0] * options.max_levels
    targets[-1] = max(shape.size_of(levels[-1]), base)
    for index in range(options.max_levels - 2, -1, -1):
        if targets[index + 1] > base:
            targets[index] = targets[index + 1] // options.level_size_multiplier
    return targets


@pytest.mark.day5_task4
@settings(max_examples=150)
@given(leveled_options, seeds)
def test_leveled_keeps_the_tree_readable_and_converges(options: LeveledCompactionOptions, seed: int) -> None:
    """Random flushes through leveled compaction lost data, let SSTs of a level overlap, or never settled."""
    tree = SimTree(LeveledController(options))
    drive(tree, random_plan(seed))
    shape = tree.shape
    assert len(shape.l0) < options.level0_file_num_compaction_trigger, (
        f"{options}: after settling L0 has {len(shape.l0)} files, expected fewer than the trigger"
    )
    targets = leveled_targets(options, shape)
    for number, (level, target) in enumerate(zip(shape.padded_levels(options.max_levels), targets, strict=True), 1):
        size = shape.size_of(level)
        assert size <= target or (number == options.max_levels), (
            f"{options}: after settling L{number} holds {size} bytes against a target of {target} "
            f"(targets {targets}, {level_counts(shape)})"
        )


# Task 5: the engine against a dict, for each strategy

STRATEGIES: dict[str, CompactionOptions] = {
    "simple": SimpleLeveledCompactionOptions(
        size_ratio_percent=200, level0_file_num_compaction_trigger=2, max_levels=3
    ),
    "tiered": TieredCompactionOptions(num_tiers=3, max_size_amplification_percent=200, size_ratio=1, min_merge_width=2),
    "leveled": LeveledCompactionOptions(
        level_size_multiplier=2, level0_file_num_compaction_trigger=2, max_levels=3, base_level_size_mb=1024 / MIB
    ),
}


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip fsync: no test of day 5 crashes the engine, and each fsync costs milliseconds per SST written."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[list[LsmStorage]]:
    opened: list[LsmStorage] = []
    yield opened
    for db in opened:
        with contextlib.suppress(Exception):
            db.close()


@pytest.mark.day5_task5
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.invariant
def test_engine_with_compaction_matches_a_dict(tmp_path: Path, engines: list[LsmStorage], strategy: str) -> None:
    """With compaction on, the engine's gets and scans disagreed with a dict of the same writes and deletes."""
    options = options_for_day(
        5, compaction=STRATEGIES[strategy], target_sst_size=256, block_size=64, num_memtable_limit=2
    )
    db = LsmStorage.open(tmp_path, options)
    engines.append(db)
    seed = {"simple": 21, "tiered": 22, "leveled": 23}[strategy]
    rng = random.Random(seed)
    model: dict[bytes, bytes] = {}
    keys = [b"key%03d" % n for n in range(80)]
    for step in range(500):
        key = rng.choice(keys)
        if rng.random() < 0.25:
            db.delete(key)
            model.pop(key, None)
        else:
            model[key] = b"%s-%d" % (key, step)
            db.put(key, model[key])
        if step % 125 == 124:
            if step == 249:
                db.force_full_compaction()
            start, stop = sorted(rng.sample(keys, 2))
            got = list(db.scan(start, stop))
            want = [(k, v) for k, v in sorted(model.items()) if start <= k < stop]
            assert got == want, (
                f"{strategy}, seed {seed}, after step {step}: scan({start!r}, {stop!r}) expected {show(want)}, "
                f"got {show(got)}"
            )
    for key in keys:
        got = db.get(key)
        assert got == model.get(key), f"{strategy}, seed {seed}: get({key!r}) expected {model.get(key)!r}, got {got!r}"
    db.force_flush()
    db.force_full_compaction()
    got = list(db.scan())
    assert got == sorted(model.items()), (
        f"{strategy}, seed {seed}: after a full compaction the scan expected {show(sorted(model.items()))}, "
        f"got {show(got)}"
    )
