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
    raise NotImplementedError("day5.task5: controller_for — see book: Day 5, Task 5")


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
    raise NotImplementedError("day5.task1: merged_entries — see book: Day 5, Task 1")


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
    raise NotImplementedError("day5.task1: write_compaction_output — see book: Day 5, Task 1")


def full_compaction_task(state: LsmStorageState, options: CompactionOptions) -> CompactionTask | None:
    """A task that merges every SST into the bottom of the tree; ``None`` if there are none."""
    raise NotImplementedError("day5.task5: full_compaction_task — see book: Day 5, Task 5")


def apply_full_compaction(shape: TreeShape, task: CompactionTask, output: Sequence[int]) -> TreeShape:
    """The shape after a full compaction: newer L0 files stay, everything else is ``output``."""
    raise NotImplementedError("day5.task5: apply_full_compaction — see book: Day 5, Task 5")


class Compactor:
    """Runs one engine's compactions, one at a time, inline or on a background thread.

    With ``options.background_work`` a thread flushes immutable memtables and
    compacts until the controller is satisfied, waking after every flush and every
    ``BACKGROUND_TICK`` seconds; a writer whose flush finds ``STALL_FACTOR`` times
    the trigger waiting compacts too. Without background work, ``after_flush``
    compacts in the caller.
    """

    def __init__(self, engine: LsmStorage) -> None:
        raise NotImplementedError("day5.task5: Compactor.__init__ — see book: Day 5, Task 5")

    def start(self) -> None:
        """Start the background thread when the options ask for background work."""
        raise NotImplementedError("day5.task5: Compactor.start — see book: Day 5, Task 5")

    def after_flush(self) -> None:
        """A flush added an L0 table: (tiered) make it a tier; compact, here or in the background."""
        raise NotImplementedError("day5.task5: Compactor.after_flush — see book: Day 5, Task 5")

    def compact_once(self) -> bool:
        """Run the next compaction the controller asks for; ``False`` if there is none."""
        raise NotImplementedError("day5.task5: Compactor.compact_once — see book: Day 5, Task 5")

    def compact_until_settled(self) -> int:
        """Compact until the controller asks for nothing more; return how many ran."""
        raise NotImplementedError("day5.task5: Compactor.compact_until_settled — see book: Day 5, Task 5")

    def force_full_compaction(self) -> None:
        """Merge every SST into the bottom of the tree (memtables are not flushed)."""
        raise NotImplementedError("day5.task5: Compactor.force_full_compaction — see book: Day 5, Task 5")

    def stop(self) -> None:
        """Stop the background thread after its current step; re-raise what it failed with."""
        raise NotImplementedError("day5.task5: Compactor.stop — see book: Day 5, Task 5")
