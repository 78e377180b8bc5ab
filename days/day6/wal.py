"""Day 6: the write-ahead log, where a write is recorded before it reaches the memtable.

Each memtable has its own log, ``NNNNN.wal``. A log is a sequence of records, and
one record holds one write or one whole batch, so a batch survives a crash
entirely or not at all. All integers are little-endian.

    record:  payload_len (u32) | header_crc (u32) | payload_crc (u32) | payload
    payload: op_count (u32) | op ...
    op:      kind (u8: 0 value, 1 tombstone) | key_len (u16) | value_len (u32) | key | value

``header_crc`` is the CRC-32 of the four ``payload_len`` bytes, so a damaged length
is caught before it is trusted; ``payload_crc`` is the CRC-32 of the payload.

A crash while appending leaves a *torn tail*: the last record cut short, or (on
some file systems) zero bytes. Only the newest log can have one: every older log
was fsynced and closed before the next one took writes. So a reader says whether
a torn tail is allowed; when it is, replay keeps every complete record before it.
A bad record followed by more written data is always corruption (bytes that are
all zero, or all ``0xFF``, to the end of the file were never written), and so is
a bad last record where no torn tail is allowed.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from tinylsm.durability import Op
from tinylsm.errors import CorruptionError

RECORD_HEADER = struct.Struct("<III")
"""payload_len, header_crc, payload_crc."""

OP_COUNT = struct.Struct("<I")
OP_HEADER = struct.Struct("<BHI")
"""kind, key_len, value_len."""

KIND_VALUE = 0
KIND_TOMBSTONE = 1


def encode_record(payload: bytes) -> bytes:
    """Frame one payload as a record: header (lengths and CRCs), then the payload."""
    raise NotImplementedError("day6.task1: encode_record — see book: Day 6, Task 1")


def decode_records(data: bytes, name: str, *, allow_torn_tail: bool = True) -> list[bytes]:
    """The payloads of every complete record in ``data``; a torn tail is dropped if allowed.

    A torn tail is a last record cut short, damaged, or zero bytes. With
    ``allow_torn_tail=False`` it raises ``CorruptionError`` like any other damaged
    record, naming ``name`` and the offset. O(len(data)).
    """
    raise NotImplementedError("day6.task1: decode_records — see book: Day 6, Task 1")


def encode_ops(ops: Sequence[Op]) -> bytes:
    """The payload of one record holding ``ops`` (a value of ``None`` is a delete)."""
    raise NotImplementedError("day6.task1: encode_ops — see book: Day 6, Task 1")


def decode_ops(payload: bytes, name: str) -> list[Op]:
    """The ops of one payload; a payload that does not parse exactly is corrupt."""
    raise NotImplementedError("day6.task1: decode_ops — see book: Day 6, Task 1")


class Wal:
    """One write-ahead log file, appended to by one writer at a time.

    ``append`` writes into a buffer (no system call per write); ``sync`` pushes
    the buffer to the operating system and fsyncs, through ``sync_wrapper`` so
    that day 7's group commit can let concurrent callers share one fsync. A
    ``sync`` after ``close`` returns at once: closing fsynced the whole log.
    """

    def __init__(self, path: Path, sync_wrapper: Callable[[Callable[[], None]], Callable[[], None]] | None = None):
        """Open (or create) the log at ``path`` for appending."""
        raise NotImplementedError("day6.task1: Wal.__init__ — see book: Day 6, Task 1")

    @staticmethod
    def replay(path: Path, *, allow_torn_tail: bool = True) -> list[Op]:
        """Every write of the log at ``path``, oldest first (a torn tail is dropped if allowed)."""
        raise NotImplementedError("day6.task1: Wal.replay — see book: Day 6, Task 1")

    @staticmethod
    def cut_torn_tail(path: Path) -> int:
        """Cut a torn tail off the log at ``path``, durably; the number of bytes cut (0 if none).

        Recovery calls it on the newest log before a newer one is created: once
        a newer log exists, this one is an older log, whose damaged last record
        would be corruption.
        """
        raise NotImplementedError("day6.task1: Wal.cut_torn_tail — see book: Day 6, Task 1")

    def append(self, ops: Sequence[Op]) -> None:
        """Append one record holding ``ops`` (buffered: durable after ``sync``)."""
        raise NotImplementedError("day6.task1: Wal.append — see book: Day 6, Task 1")

    def close(self) -> None:
        """Flush, fsync and close the file (idempotent)."""
        raise NotImplementedError("day6.task1: Wal.close — see book: Day 6, Task 1")
