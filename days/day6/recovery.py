"""Day 6: recovery, and the order of durable steps that makes every crash recoverable.

``Recovery`` is the engine's durability layer once the write-ahead log or the
manifest is on. The rules it follows, each preventing one kind of loss:

1. A write is appended to the WAL before it enters the memtable (a crash after
   ``sync`` loses nothing).
2. Freezing a memtable syncs its WAL before the next memtable takes writes (a
   newer write can never survive a crash that loses an older one).
3. A new WAL file exists, and the directory is synced, before the manifest names
   its memtable.
4. An SSTable is fsynced (``FileObject.create``) and the directory synced before
   the manifest names it (the manifest never points at a missing file).
5. A WAL is deleted only after the manifest records its memtable's flush, and a
   compaction's inputs only after the manifest records the compaction (a crash in
   between leaves stray files, which recovery removes, never missing data).
6. The manifest is rewritten through a temporary file, fsync, ``os.replace`` and
   a directory fsync (a crash leaves the old manifest or the new one).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from tinylsm import extensions
from tinylsm.block_cache import BlockCache
from tinylsm.durability import Op
from tinylsm.errors import CorruptionError, LsmError
from tinylsm.files import file_names, sst_path, sync_directory, wal_path
from tinylsm.manifest import Flush, Manifest, ManifestRecord, NewMemtable, Snapshot, encode_manifest_record
from tinylsm.options import (
    MAX_LEVELS,
    LeveledCompactionOptions,
    LsmStorageOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.state import CompactionRecord, LsmStorageState, TieredCompactionTask, TreeShape
from tinylsm.wal import Wal, encode_record

MANIFEST_NAME = "MANIFEST"
MANIFEST_REWRITE_BYTES = 64 * 1024
"""A manifest that grows past this many bytes is rewritten as one snapshot."""

STRATEGIES = {
    NoCompaction: 0,
    SimpleLeveledCompactionOptions: 1,
    TieredCompactionOptions: 2,
    LeveledCompactionOptions: 3,
}
"""The strategy byte of a snapshot, by compaction options class."""

_FILE_NAME = re.compile(r"^(\d+)\.(sst|wal)$")


class ShapeLog:
    """The tree's shape as the manifest describes it, kept by replaying its records.

    Recovery replays the whole manifest into one; while the engine runs, every new
    record is applied to it too, so that a rewrite can snapshot it at any time.
    """

    def __init__(self, options: LsmStorageOptions) -> None:
        raise NotImplementedError("day6.task3: ShapeLog.__init__ — see book: Day 6, Task 3")

    def apply(self, record: ManifestRecord, name: str = MANIFEST_NAME) -> None:
        """Change the shape as ``record`` says; a record that cannot apply is corruption."""
        raise NotImplementedError("day6.task3: ShapeLog.apply — see book: Day 6, Task 3")

    def snapshot(self, next_id: int) -> Snapshot:
        """One record that replaces every record applied so far."""
        raise NotImplementedError("day6.task3: ShapeLog.snapshot — see book: Day 6, Task 3")


class Recovery:
    """The write-ahead log and the manifest of one database directory."""

    def __init__(self, options: LsmStorageOptions, directory: Path, block_cache: BlockCache) -> None:
        raise NotImplementedError("day6.task3: Recovery.__init__ — see book: Day 6, Task 3")

    def recover(self) -> tuple[LsmStorageState, int]:
        """Rebuild the state from the manifest, the SSTables and the WALs; tidy up.

        Replays the manifest, opens every live SSTable, replays the WAL of every
        live memtable into a memtable, starts a fresh memtable and WAL (never
        appending after a possibly torn tail), rewrites the manifest as one
        snapshot, and removes files that no record names.

        A damaged last record is dropped as a torn tail only where a crash can
        leave one (and only with ``wal_recovery_mode="tolerate_corrupted_tail_records"``):
        at the end of the newest WAL, which is then cut off, and at the end of the
        manifest when the files show that nothing relied on that record yet. Any
        other damage raises ``CorruptionError`` before a file is changed.
        """
        raise NotImplementedError("day6.task3: Recovery.recover — see book: Day 6, Task 3")

    def log(self, memtable_id: int, ops: Sequence[Op]) -> None:
        """Append ``ops`` as one record to the active memtable's WAL (no fsync)."""
        raise NotImplementedError("day6.task1: Recovery.log — see book: Day 6, Task 1")

    def sync(self) -> None:
        """Make every logged write durable (an fsync of the active WAL)."""
        raise NotImplementedError("day6.task1: Recovery.sync — see book: Day 6, Task 1")

    def memtable_frozen(self, frozen_id: int, new_id: int) -> None:
        """Sync the frozen memtable's WAL, create the new one's, then record it."""
        raise NotImplementedError("day6.task3: Recovery.memtable_frozen — see book: Day 6, Task 3")

    def memtable_flushed(self, memtable_id: int, sst_id: int) -> None:
        """Record the flush once the SSTable is durable, then delete the memtable's WAL."""
        raise NotImplementedError("day6.task3: Recovery.memtable_flushed — see book: Day 6, Task 3")

    def compacted(self, record: CompactionRecord, removed_ids: Sequence[int]) -> None:
        """Record a compaction once its outputs are durable (the caller deletes inputs after)."""
        raise NotImplementedError("day6.task3: Recovery.compacted — see book: Day 6, Task 3")

    def close(self) -> None:
        """Sync and close the WAL and the manifest; a second call does nothing.

        Afterwards ``sync`` does nothing and ``log`` or a call that records raises ``LsmError``.
        """
        raise NotImplementedError("day6.task3: Recovery.close — see book: Day 6, Task 3")
