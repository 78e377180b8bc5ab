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

# BEGIN SOLUTION
import contextlib

# END SOLUTION

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
    # BEGIN SOLUTION day6.task2
    writer = _Writer()
    if isinstance(record, Snapshot):
        writer.u8(SNAPSHOT).u8(record.strategy).u64(record.next_id)
        writer.ids(record.memtables).ids(record.l0).runs(record.levels)
    elif isinstance(record, NewMemtable):
        writer.u8(NEW_MEMTABLE).u64(record.memtable_id)
    elif isinstance(record, Flush):
        writer.u8(FLUSH).u64(record.sst_id)
    else:
        writer.u8(COMPACTION).u8(record.full)
        task = record.task
        if isinstance(task, LevelCompactionTask):
            writer.u8(LEVEL_TASK).u8(task.upper_level).ids(task.upper)
            writer.u8(task.lower_level).ids(task.lower).u8(task.is_bottom)
        else:
            writer.u8(TIERED_TASK).runs(task.tiers).u8(task.is_bottom)
        writer.ids(record.output)
    return writer.getvalue()
    # END SOLUTION


def decode_manifest_record(payload: bytes, name: str) -> ManifestRecord:
    """Read one payload back; anything that does not parse exactly is ``CorruptionError``."""
    # BEGIN SOLUTION day6.task2
    reader = _Reader(payload, name)
    kind = reader.u8()
    if kind == SNAPSHOT:
        record: ManifestRecord = Snapshot(reader.u8(), reader.u64(), reader.ids(), reader.ids(), reader.runs())
    elif kind == NEW_MEMTABLE:
        record = NewMemtable(reader.u64())
    elif kind == FLUSH:
        record = Flush(reader.u64())
    elif kind == COMPACTION:
        full = reader.flag()
        task_kind = reader.u8()
        if task_kind == LEVEL_TASK:
            task: LevelCompactionTask | TieredCompactionTask = LevelCompactionTask(
                reader.u8(), reader.ids(), reader.u8(), reader.ids(), reader.flag()
            )
        elif task_kind == TIERED_TASK:
            task = TieredCompactionTask(reader.runs(), reader.flag())
        else:
            raise CorruptionError(f"{name}: unknown compaction task kind {task_kind}")
        record = CompactionRecord(task, reader.ids(), full)
    else:
        raise CorruptionError(f"{name}: unknown record type {kind}")
    reader.expect_end()
    return record
    # END SOLUTION


class Manifest:
    """The ``MANIFEST`` file of one database, appended to one durable record at a time."""

    def __init__(self, path: Path) -> None:
        """Open an existing manifest at ``path`` for appending."""
        # BEGIN SOLUTION day6.task2
        self.path = Path(path)
        # Unbuffered: the bytes of a failed append must not wait in a buffer for a later flush.
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115  (kept open for the manifest's lifetime)
        self.size = self._file.tell()
        # END SOLUTION

    @classmethod
    def create(cls, path: Path, snapshot: Snapshot) -> Manifest:
        """Replace (or create) the manifest at ``path`` with one snapshot record, atomically.

        The snapshot goes to a temporary file, which is fsynced, renamed over
        ``path`` and made durable by an fsync of the directory: a crash leaves
        either the old manifest or the new one, never a mix.
        """
        # BEGIN SOLUTION day6.task2
        path = Path(path)
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "wb") as file:
            file.write(encode_record(encode_manifest_record(snapshot)))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        sync_directory(path.parent)
        return cls(path)
        # END SOLUTION

    @staticmethod
    def read(path: Path, *, allow_torn_tail: bool = True) -> list[ManifestRecord]:
        """Every complete record of the manifest at ``path`` (a torn tail is dropped if allowed).

        Whether a dropped last record was only torn, or already relied on, is for
        recovery to judge: it alone can see the files that the record's edit touched.
        """
        # BEGIN SOLUTION day6.task2
        path = Path(path)
        payloads = decode_records(path.read_bytes(), path.name, allow_torn_tail=allow_torn_tail)
        return [decode_manifest_record(p, path.name) for p in payloads]
        # END SOLUTION

    def append(self, record: ManifestRecord) -> None:
        """Append ``record`` and make it durable before returning.

        A failed append (a full disk) raises and leaves the file as it was, as far as
        the disk allows: what it wrote is cut off again.
        """
        # BEGIN SOLUTION day6.task2
        data = encode_record(encode_manifest_record(record))
        try:
            written = 0
            while written < len(data):  # a write to a nearly full disk may take only part
                written += self._file.write(data[written:])
            os.fsync(self._file.fileno())
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._file.fileno(), self.size)
            raise
        self.size += len(data)
        # END SOLUTION

    def close(self) -> None:
        """Close the file (idempotent)."""
        # BEGIN SOLUTION day6.task2
        self._file.close()
        # END SOLUTION


# BEGIN SOLUTION
class _Writer:
    """Builds a payload from little-endian integers and id lists."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, value: int) -> _Writer:
        self._parts.append(struct.pack("<B", value))
        return self

    def u64(self, value: int) -> _Writer:
        self._parts.append(struct.pack("<Q", value))
        return self

    def ids(self, ids: tuple[int, ...]) -> _Writer:
        self._parts.append(struct.pack(f"<I{len(ids)}Q", len(ids), *ids))
        return self

    def runs(self, runs: tuple[tuple[int, ...], ...]) -> _Writer:
        self._parts.append(struct.pack("<I", len(runs)))
        for run in runs:
            self.ids(run)
        return self

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class _Reader:
    """Reads a payload written by ``_Writer``; running off its end is corruption."""

    def __init__(self, payload: bytes, name: str) -> None:
        self._payload = payload
        self._offset = 0
        self._name = name

    def _unpack(self, fmt: str) -> tuple[int, ...]:
        try:
            values = struct.unpack_from(fmt, self._payload, self._offset)
        except struct.error:
            raise CorruptionError(f"{self._name}: a record ends in the middle of a field") from None
        self._offset += struct.calcsize(fmt)
        return values

    def u8(self) -> int:
        return self._unpack("<B")[0]

    def flag(self) -> bool:
        value = self.u8()
        if value > 1:
            raise CorruptionError(f"{self._name}: a record has a flag of {value}")
        return bool(value)

    def u64(self) -> int:
        return self._unpack("<Q")[0]

    def ids(self) -> tuple[int, ...]:
        (count,) = self._unpack("<I")
        if count * 8 > len(self._payload) - self._offset:
            raise CorruptionError(f"{self._name}: a record lists more ids than it holds")
        return self._unpack(f"<{count}Q")

    def runs(self) -> tuple[tuple[int, ...], ...]:
        (count,) = self._unpack("<I")
        if count * 4 > len(self._payload) - self._offset:
            raise CorruptionError(f"{self._name}: a record lists more runs than it holds")
        return tuple(self.ids() for _ in range(count))

    def expect_end(self) -> None:
        if self._offset != len(self._payload):
            raise CorruptionError(f"{self._name}: a record has {len(self._payload) - self._offset} stray bytes")


# END SOLUTION
