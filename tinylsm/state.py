"""The engine's state: what is in memory and which SSTables form the tree.

The state is immutable. A change (a freeze, a flush, a compaction) builds a new
state and publishes it in one assignment while holding the engine's state lock;
a reader takes the current state once and keeps using that snapshot. This is the
copy-on-write pattern: readers never lock, and never see half of a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
