"""Day 5: running compactions, inline or on a background thread.

A compaction merges some SSTables into new ones: a stable merge of their decoded
blocks keeps only the newest version of each key, and the output is cut into
tables of about ``target_sst_size`` bytes. A tombstone is dropped only when the
output is the bottom of the tree, because only there is no older version left
for it to hide.

The controllers (``simple_leveled``, ``tiered``, ``leveled``) decide *what* to
compact from the tree's shape alone; the ``Compactor`` here does the work and
publishes the result into the engine's state.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from tinylsm.errors import LsmError
from tinylsm.files import sst_path
from tinylsm.options import (
    CompactionOptions,
    LeveledCompactionOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.sstable import SsTable, SsTableBuilder
from tinylsm.state import (
    CompactionRecord,
    CompactionTask,
    LevelCompactionTask,
    LsmStorageState,
    TieredCompactionTask,
    TreeShape,
    shape_of,
)

if TYPE_CHECKING:
    from tinylsm.engine import LsmStorage

# BEGIN SOLUTION
import heapq
import itertools
from operator import itemgetter

from tinylsm.leveled import LeveledController
from tinylsm.simple_leveled import SimpleLeveledController
from tinylsm.tiered import TieredController

_entry_key = itemgetter(0)

# END SOLUTION

MAX_COMPACTIONS_PER_SETTLE = 10_000
"""A controller that still asks for work after this many compactions in a row is broken."""

STALL_FACTOR = 2
"""Writers help compact once L0 (or the tiers) reach this many times the trigger."""

BACKGROUND_TICK = 0.05
"""Seconds the background thread waits between looks for work when nobody wakes it."""


class Controller(Protocol):
    """A compaction strategy: pure functions of the tree's shape."""

    flush_to_l0: bool

    def generate_task(self, shape: TreeShape) -> CompactionTask | None: ...

    def apply_result(self, shape: TreeShape, task: CompactionTask, output: Sequence[int]) -> TreeShape: ...


def controller_for(options: CompactionOptions) -> Controller | None:
    """The controller of a compaction strategy; ``None`` for ``NoCompaction``."""
    # BEGIN SOLUTION day5.task5
    if isinstance(options, SimpleLeveledCompactionOptions):
        return SimpleLeveledController(options)
    if isinstance(options, TieredCompactionOptions):
        return TieredController(options)
    if isinstance(options, LeveledCompactionOptions):
        return LeveledController(options)
    return None
    # END SOLUTION


def merged_entries(task: CompactionTask, tables: Mapping[int, SsTable]) -> Iterator[tuple[bytes, bytes | None]]:
    """Every key of the task's inputs once, in ascending order, with its newest version.

    Each input is a *source* of ``(key, value)`` pairs: a sorted run whose tables do
    not overlap is one source, its tables read one after another; tables that
    overlap (L0 files) are a source each. ``heapq.merge`` merges the sources, and
    it is stable: of the entries that share a key, it yields first the one whose
    source came first. The sources are listed newest first, so the first entry of
    each key is its newest version, and the others are skipped. Blocks are read
    with ``fill_cache=False``: a compaction reads each block once, and keeping
    them would evict the blocks that reads come back for.

    Lazy: it holds one decoded block per source. O(n log s) for n entries in s
    sources.
    """
    # BEGIN SOLUTION day5.task1
    runs = task.tiers if isinstance(task, TieredCompactionTask) else (task.upper, task.lower)
    sources = [source for run in runs for source in _sources([tables[sst_id] for sst_id in run])]
    previous = None
    for key, value in heapq.merge(*sources, key=_entry_key):
        if key != previous:
            yield key, value
            previous = key
    # END SOLUTION


def write_compaction_output(
    entries: Iterable[tuple[bytes, bytes | None]],
    is_bottom: bool,
    target_sst_size: int,
    new_builder: Callable[[], SsTableBuilder],
    build: Callable[[SsTableBuilder], SsTable],
) -> list[SsTable]:
    """Write ``entries`` (ascending keys, each once) into new SSTs, cut at ``target_sst_size`` bytes.

    ``build(builder)`` writes one table and returns it. Tombstones are kept unless
    ``is_bottom``; a merge of nothing but tombstones at the bottom writes no table.
    O(entries).
    """
    # BEGIN SOLUTION day5.task1
    outputs: list[SsTable] = []
    builder = new_builder()
    for key, value in entries:
        if value is not None or not is_bottom:
            builder.add(key, value)
            if builder.estimated_size() >= target_sst_size:
                outputs.append(build(builder))
                builder = new_builder()
    if not builder.is_empty():
        outputs.append(build(builder))
    return outputs
    # END SOLUTION


def full_compaction_task(state: LsmStorageState, options: CompactionOptions) -> CompactionTask | None:
    """A task that merges every SST into the bottom of the tree; ``None`` if there are none."""
    # BEGIN SOLUTION day5.task5
    if not state.l0_sstables and not any(state.levels):
        return None
    if isinstance(options, TieredCompactionOptions):
        tiers = tuple((sst_id,) for sst_id in state.l0_sstables) + state.levels
        return TieredCompactionTask(tiers=tiers, is_bottom=True)
    bottom = options.max_levels if not isinstance(options, NoCompaction) else max(len(state.levels), 1)
    lower = tuple(itertools.chain.from_iterable(state.levels))
    return LevelCompactionTask(upper_level=0, upper=state.l0_sstables, lower_level=bottom, lower=lower, is_bottom=True)
    # END SOLUTION


def apply_full_compaction(shape: TreeShape, task: CompactionTask, output: Sequence[int]) -> TreeShape:
    """The shape after a full compaction: newer L0 files stay, everything else is ``output``."""
    # BEGIN SOLUTION day5.task5
    if isinstance(task, TieredCompactionTask):
        compacted = {sst_id for tier in task.tiers for sst_id in tier}
        kept = tuple(tier for tier in shape.levels if not compacted.intersection(tier))
        l0 = tuple(sst_id for sst_id in shape.l0 if sst_id not in compacted)
        return TreeShape(l0, (*kept, tuple(output)) if output else kept, shape.ssts)
    compacted = set(task.upper)
    levels = [()] * max(task.lower_level, len(shape.levels))
    levels[task.lower_level - 1] = tuple(output)
    l0 = tuple(sst_id for sst_id in shape.l0 if sst_id not in compacted)
    return TreeShape(l0, tuple(levels), shape.ssts)
    # END SOLUTION


class Compactor:
    """Runs one engine's compactions, one at a time, inline or on a background thread.

    With ``options.background_work`` a thread flushes immutable memtables and
    compacts until the controller is satisfied, waking after every flush and every
    ``BACKGROUND_TICK`` seconds; a writer whose flush finds ``STALL_FACTOR`` times
    the trigger waiting compacts too. Without background work, ``after_flush``
    compacts in the caller.
    """

    def __init__(self, engine: LsmStorage) -> None:
        # BEGIN SOLUTION day5.task5
        self.engine = engine
        self.controller = controller_for(engine.options.compaction)
        self._compaction_lock = threading.Lock()
        self._wake = threading.Condition()
        self._stopping = False
        self._work_waiting = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        # END SOLUTION

    def start(self) -> None:
        """Start the background thread when the options ask for background work."""
        # BEGIN SOLUTION day5.task5
        if self.engine.options.background_work and self._thread is None:
            self._thread = threading.Thread(target=self._background, name="tinylsm-compactor", daemon=True)
            self._thread.start()
        # END SOLUTION

    def after_flush(self) -> None:
        """A flush added an L0 table: (tiered) make it a tier; compact, here or in the background."""
        # BEGIN SOLUTION day5.task5
        if self.controller is None:
            return
        if not self.controller.flush_to_l0:
            self.engine.replace_state(_l0_to_tiers)
        if self._stopping:
            return
        if self._thread is None:
            self.compact_until_settled()
            return
        with self._wake:
            self._work_waiting = True
            self._wake.notify()
        if self._backlogged():
            # A write stall: the writer helps until the tree is back in shape, so that
            # flushes cannot outrun the background thread without bound.
            self.compact_until_settled()
        # END SOLUTION

    def compact_once(self) -> bool:
        """Run the next compaction the controller asks for; ``False`` if there is none."""
        # BEGIN SOLUTION day5.task5
        if self.controller is None:
            return False
        with self._compaction_lock:
            task = self.controller.generate_task(shape_of(self.engine.state))
            if task is None:
                return False
            self._run(task, self.controller.apply_result)
            return True
        # END SOLUTION

    def compact_until_settled(self) -> int:
        """Compact until the controller asks for nothing more; return how many ran."""
        # BEGIN SOLUTION day5.task5
        for count in range(MAX_COMPACTIONS_PER_SETTLE):
            if not self.compact_once():
                return count
        raise LsmError(f"compaction did not settle after {MAX_COMPACTIONS_PER_SETTLE} tasks in a row")
        # END SOLUTION

    def force_full_compaction(self) -> None:
        """Merge every SST into the bottom of the tree (memtables are not flushed)."""
        # BEGIN SOLUTION day5.task5
        with self._compaction_lock:
            task = full_compaction_task(self.engine.state, self.engine.options.compaction)
            if task is not None:
                self._run(task, apply_full_compaction)
        # END SOLUTION

    def stop(self) -> None:
        """Stop the background thread after its current step; re-raise what it failed with."""
        # BEGIN SOLUTION day5.task5
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise LsmError("background compaction failed") from self.error
        # END SOLUTION

    # BEGIN SOLUTION
    def _background(self) -> None:
        try:
            while True:
                with self._wake:
                    # The flags are checked before waiting, so a notify sent while this
                    # thread was busy compacting is not lost.
                    self._wake.wait_for(lambda: self._stopping or self._work_waiting, BACKGROUND_TICK)
                    self._work_waiting = False
                    if self._stopping:
                        return
                while self.engine.flush_next_imm_memtable():
                    pass
                self.compact_until_settled()
        except BaseException as error:
            self.error = error

    def _run(
        self, task: CompactionTask, apply: Callable[[TreeShape, CompactionTask, Sequence[int]], TreeShape]
    ) -> None:
        """Merge the task's inputs into new SSTs, or move them down unchanged; publish the state; remove the inputs."""
        engine = self.engine
        inputs = _input_ids(task)
        tables = engine.state.sstables
        outputs = _trivial_move(task, tables) if apply is not apply_full_compaction else None
        if outputs is None:
            engine.durability.compaction_started()
            outputs = write_compaction_output(
                merged_entries(task, tables),
                task.is_bottom,
                engine.options.target_sst_size,
                lambda: SsTableBuilder(engine.options),
                self._build,
            )
            engine.write_counters.compaction_bytes_written += sum(table.size for table in outputs)
        output_ids = [table.id for table in outputs]
        engine.durability.compacted(CompactionRecord(task, tuple(output_ids), apply is apply_full_compaction), inputs)

        def publish(state: LsmStorageState) -> LsmStorageState:
            shape = apply(shape_of(_with_tables(state, outputs)), task, output_ids)
            live = {sst_id: table for sst_id, table in state.sstables.items() if sst_id not in inputs}
            live.update((table.id, table) for table in outputs)
            return dataclasses.replace(state, l0_sstables=shape.l0, levels=shape.levels, sstables=live)

        engine.replace_state(publish)
        for sst_id in inputs.difference(output_ids):
            engine.block_cache.evict_table(sst_id)
            sst_path(engine.path, sst_id).unlink(missing_ok=True)

    def _backlogged(self) -> bool:
        state, options = self.engine.state, self.engine.options.compaction
        if isinstance(options, TieredCompactionOptions):
            return len(state.levels) >= STALL_FACTOR * options.num_tiers
        trigger = getattr(options, "level0_file_num_compaction_trigger", 1)
        return len(state.l0_sstables) >= STALL_FACTOR * trigger

    def _build(self, builder: SsTableBuilder) -> SsTable:
        engine = self.engine
        sst_id = engine.next_sst_id()
        return builder.build(sst_id, sst_path(engine.path, sst_id), engine.block_cache)

    # END SOLUTION


# BEGIN SOLUTION
def _sources(tables: list[SsTable]) -> list[Iterator[tuple[bytes, bytes | None]]]:
    """A sorted run as one source, its tables chained; tables that overlap as one source each, in order."""
    if all(a.last_key < b.first_key for a, b in itertools.pairwise(tables)):
        return [itertools.chain.from_iterable(map(_table_entries, tables))]
    return [_table_entries(table) for table in tables]


def _table_entries(table: SsTable) -> Iterator[tuple[bytes, bytes | None]]:
    """A table's entries, a decoded block at a time, without keeping its blocks in the cache."""
    for block_idx in range(table.num_blocks()):
        yield from table.read_block_cached(block_idx, fill_cache=False).entries()


def _trivial_move(task: CompactionTask, tables: Mapping[int, SsTable]) -> list[SsTable] | None:
    """The task's upper SSTs in key order if they can go down as they are; ``None`` if they must be merged.

    They can when nothing below overlaps them (``lower`` is empty) and they do not
    overlap one another (L0 files may), so that they already are a sorted run: a merge
    would copy every entry unchanged. Only the tombstones a merge into the bottom
    drops go down with them, to be dropped when their SST is next merged (LevelDB
    moves files the same way). O(n log n) in the upper SSTs; no disk read.
    """
    if isinstance(task, TieredCompactionTask) or task.lower:
        return None
    upper = sorted((tables[sst_id] for sst_id in task.upper), key=lambda table: table.first_key)
    if any(left.last_key >= right.first_key for left, right in itertools.pairwise(upper)):
        return None
    return upper


def _input_ids(task: CompactionTask) -> frozenset[int]:
    if isinstance(task, TieredCompactionTask):
        return frozenset(sst_id for tier in task.tiers for sst_id in tier)
    return frozenset((*task.upper, *task.lower))


def _with_tables(state: LsmStorageState, tables: list[SsTable]) -> LsmStorageState:
    return dataclasses.replace(state, sstables={**state.sstables, **{t.id: t for t in tables}})


def _l0_to_tiers(state: LsmStorageState) -> LsmStorageState:
    """Under tiered compaction every flushed table becomes a tier of its own, newest first."""
    if not state.l0_sstables:
        return state
    tiers = tuple((sst_id,) for sst_id in state.l0_sstables)
    return dataclasses.replace(state, l0_sstables=(), levels=(*tiers, *state.levels))


# END SOLUTION
