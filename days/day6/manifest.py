"""Day 6: the manifest, the log of every change to the tree's shape.

The SSTables say what data there is; only the manifest says which SSTables are
live and in which level. Every freeze, flush and compaction appends one record;
recovery replays the records to rebuild the shape before any SSTable is opened.
A snapshot record holds a whole shape, so the manifest can be rewritten as one
snapshot when it grows long.

Records are framed exactly like write-ahead log records (see ``tinylsm.wal``).
A payload starts with its type (u8); ids are u64, counts u32, little-endian:

    1 snapshot     strategy (u8) | next_id (u64) | memtables (list) | l0 (list) | levels (count, lists)
    2 new memtable memtable_id (u64)
    3 flush        sst_id (u64)
    4 compaction   full (u8) | task | output (list)
       task        1 (u8) | upper_level (u8) | upper (list) | lower_level (u8) | lower (list) | is_bottom (u8)
                   2 (u8) | tiers (count, lists) | is_bottom (u8)
    list           count (u32) | id (u64) ...
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from tinylsm.errors import CorruptionError
from tinylsm.files import sync_directory
from tinylsm.state import CompactionRecord, LevelCompactionTask, TieredCompactionTask
from tinylsm.wal import decode_records, encode_record

SNAPSHOT, NEW_MEMTABLE, FLUSH, COMPACTION = 1, 2, 3, 4
LEVEL_TASK, TIERED_TASK = 1, 2


@dataclass(frozen=True)
class Snapshot:
    """A whole shape: the compaction strategy, live memtables (oldest first), L0 and levels."""

    strategy: int
    next_id: int
    memtables: tuple[int, ...]
    l0: tuple[int, ...]
    levels: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class NewMemtable:
    """Memtable ``memtable_id`` was created; its writes are in ``NNNNN.wal``."""

    memtable_id: int


@dataclass(frozen=True)
class Flush:
    """Memtable ``sst_id`` (the oldest live one) is now the L0 SSTable of the same id."""

    sst_id: int


ManifestRecord = Snapshot | NewMemtable | Flush | CompactionRecord


def encode_manifest_record(record: ManifestRecord) -> bytes:
    """The payload of one manifest record."""
    raise NotImplementedError("day6.task2: encode_manifest_record — see book: Day 6, Task 2")


def decode_manifest_record(payload: bytes, name: str) -> ManifestRecord:
    """Read one payload back; anything that does not parse exactly is ``CorruptionError``."""
    raise NotImplementedError("day6.task2: decode_manifest_record — see book: Day 6, Task 2")


class Manifest:
    """The ``MANIFEST`` file of one database, appended to one durable record at a time."""

    def __init__(self, path: Path) -> None:
        """Open an existing manifest at ``path`` for appending."""
        raise NotImplementedError("day6.task2: Manifest.__init__ — see book: Day 6, Task 2")

    @classmethod
    def create(cls, path: Path, snapshot: Snapshot) -> Manifest:
        """Replace (or create) the manifest at ``path`` with one snapshot record, atomically.

        The snapshot goes to a temporary file, which is fsynced, renamed over
        ``path`` and made durable by an fsync of the directory: a crash leaves
        either the old manifest or the new one, never a mix.
        """
        raise NotImplementedError("day6.task2: Manifest.create — see book: Day 6, Task 2")

    @staticmethod
    def read(path: Path, *, allow_torn_tail: bool = True) -> list[ManifestRecord]:
        """Every complete record of the manifest at ``path`` (a torn tail is dropped if allowed).

        Whether a dropped last record was only torn, or already relied on, is for
        recovery to judge: it alone can see the files that the record's edit touched.
        """
        raise NotImplementedError("day6.task2: Manifest.read — see book: Day 6, Task 2")

    def append(self, record: ManifestRecord) -> None:
        """Append ``record`` and make it durable before returning.

        A failed append (a full disk) raises and leaves the file as it was, as far as
        the disk allows: what it wrote is cut off again.
        """
        raise NotImplementedError("day6.task2: Manifest.append — see book: Day 6, Task 2")

    def close(self) -> None:
        """Close the file (idempotent)."""
        raise NotImplementedError("day6.task2: Manifest.close — see book: Day 6, Task 2")
