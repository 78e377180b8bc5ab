"""The engine's state: what is in memory and which SSTables form the tree.

The state is immutable. A change (a freeze, a flush, a compaction) builds a new
state and publishes it in one assignment while holding the engine's state lock;
a reader takes the current state once and keeps using that snapshot. This is the
copy-on-write pattern: readers never lock, and never see half of a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinylsm.memtable import MemTable
    from tinylsm.sstable import SsTable


@dataclass(frozen=True)
class LsmStorageState:
    """One consistent snapshot of the engine.

    ``imm_memtables`` and ``l0_sstables`` are newest first. ``levels`` holds the
    sorted runs below L0: ``levels[0]`` is L1, and each level lists its SST ids in
    key order (under tiered compaction each entry is a tier, newest first).
    ``sstables`` maps every SST id in L0 and the levels to its open table.
    """

    memtable: MemTable
    imm_memtables: tuple[MemTable, ...] = ()
    l0_sstables: tuple[int, ...] = ()
    levels: tuple[tuple[int, ...], ...] = ()
    sstables: Mapping[int, SsTable] = field(default_factory=dict)

    @cached_property
    def level_last_keys(self) -> tuple[list[bytes], ...]:
        """For each level, the ``last_key`` of each of its SSTs, in the level's order.

        A point lookup finds the one SST of a level that may hold a key with
        ``bisect_left(state.level_last_keys[i], key)``: a search over a plain list,
        without a key function. Built on first use, once per state. O(SSTs).
        """
        tables = self.sstables
        return tuple([tables[sst_id].last_key for sst_id in level] for level in self.levels)

    @cached_property
    def level_lookup(self) -> tuple[tuple[list[bytes], list[SsTable]], ...]:
        """For each level that holds SSTs, top down: their last keys and the open SSTs, in the level's order.

        What a point lookup needs of a level, and nothing more: ``bisect_left`` on the
        last keys gives the position of the one SST that may hold a key, and the second
        list gives that SST without a lookup by id. Empty levels are left out, so a
        lookup does not search them. Built on first use, once per state. O(SSTs).
        """
        tables = self.sstables
        return tuple(
            (last_keys, [tables[sst_id] for sst_id in level])
            for level, last_keys in zip(self.levels, self.level_last_keys, strict=True)
            if level
        )


@dataclass(frozen=True)
class SstInfo:
    """What a compaction controller may know of an SSTable: its size and key range."""

    id: int
    size: int
    first_key: bytes
    last_key: bytes


@dataclass(frozen=True)
class TreeShape:
    """The tree as compaction controllers see it: SST ids by level, no data.

    ``l0`` is newest first. ``levels[0]`` is L1: under leveled compaction each level
    lists its ids in key order; under tiered compaction each entry is a tier (a
    sorted run), newest first. ``ssts`` describes the ids it knows; while the
    manifest is replayed at recovery it may know none of them.
    """

    l0: tuple[int, ...] = ()
    levels: tuple[tuple[int, ...], ...] = ()
    ssts: Mapping[int, SstInfo] = field(default_factory=dict)

    def padded_levels(self, count: int) -> tuple[tuple[int, ...], ...]:
        """``levels`` with empty levels added up to ``count`` levels."""
        return (*self.levels, *([()] * (count - len(self.levels))))

    def size_of(self, ids: tuple[int, ...]) -> int:
        """Bytes of the given SSTs (0 for any it does not know)."""
        return sum(self.ssts[i].size if i in self.ssts else 0 for i in ids)


@dataclass(frozen=True)
class LevelCompactionTask:
    """Merge ``upper`` (L0 files, or SSTs of ``upper_level``) with ``lower`` into ``lower_level``.

    Levels are numbered from 1 (``upper_level == 0`` means L0). ``lower`` lists the
    SSTs of ``lower_level`` (and, for a full compaction, of every level above it)
    that the merge replaces. Tombstones may be dropped only when ``is_bottom``.
    """

    upper_level: int
    upper: tuple[int, ...]
    lower_level: int
    lower: tuple[int, ...]
    is_bottom: bool


@dataclass(frozen=True)
class TieredCompactionTask:
    """Merge some consecutive tiers (newest first) into one tier that takes their place."""

    tiers: tuple[tuple[int, ...], ...]
    is_bottom: bool


CompactionTask = LevelCompactionTask | TieredCompactionTask


def shape_of(state: LsmStorageState) -> TreeShape:
    """The shape of an engine state, with every live SST described."""
    infos = {
        sst_id: SstInfo(sst_id, table.size, table.first_key, table.last_key) for sst_id, table in state.sstables.items()
    }
    return TreeShape(state.l0_sstables, state.levels, infos)


@dataclass(frozen=True)
class CompactionRecord:
    """What the manifest remembers of a compaction, to replay it at recovery.

    ``full`` tells a full compaction (``force_full_compaction``) from one a controller
    asked for, because the two change the shape differently.
    """

    task: CompactionTask
    output: tuple[int, ...]
    full: bool = False
