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

# BEGIN SOLUTION
import zlib

# END SOLUTION

RECORD_HEADER = struct.Struct("<III")
"""payload_len, header_crc, payload_crc."""

OP_COUNT = struct.Struct("<I")
OP_HEADER = struct.Struct("<BHI")
"""kind, key_len, value_len."""

KIND_VALUE = 0
KIND_TOMBSTONE = 1


def encode_record(payload: bytes) -> bytes:
    """Frame one payload as a record: header (lengths and CRCs), then the payload."""
    # BEGIN SOLUTION day6.task1
    length = len(payload)
    return RECORD_HEADER.pack(length, zlib.crc32(length.to_bytes(4, "little")), zlib.crc32(payload)) + payload
    # END SOLUTION


def decode_records(data: bytes, name: str, *, allow_torn_tail: bool = True) -> list[bytes]:
    """The payloads of every complete record in ``data``; a torn tail is dropped if allowed.

    A torn tail is a last record cut short, damaged, or zero bytes. With
    ``allow_torn_tail=False`` it raises ``CorruptionError`` like any other damaged
    record, naming ``name`` and the offset. O(len(data)).
    """
    # BEGIN SOLUTION day6.task1
    payloads = []
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < RECORD_HEADER.size:
            return _torn_tail(payloads, name, offset, allow_torn_tail)  # a header cut short
        length, header_crc, payload_crc = RECORD_HEADER.unpack_from(data, offset)
        if zlib.crc32(data[offset : offset + 4]) != header_crc:
            if _unwritten_from(data) < offset + 8:  # never-written sectors where the length or its CRC was going
                return _torn_tail(payloads, name, offset, allow_torn_tail)
            raise CorruptionError(f"{name}: damaged record header at offset {offset}")
        start = offset + RECORD_HEADER.size
        if start + length > end:
            # a torn record's payload may hold anything, whole records too: only the length of a
            # sector of ones (whose CRC matches by its pattern) is told apart by the records after it
            if length == ONES_LENGTH and _complete_record_after(data, start):
                raise CorruptionError(f"{name}: the record at offset {offset} claims {length} bytes, past the end")
            return _torn_tail(payloads, name, offset, allow_torn_tail)  # a payload cut short
        payload = data[start : start + length]
        if zlib.crc32(payload) != payload_crc:
            if start + length == end or _unwritten_from(data) < start + length:
                return _torn_tail(payloads, name, offset, allow_torn_tail)  # the last record, half written
            raise CorruptionError(f"{name}: damaged record at offset {offset} (checksum mismatch)")
        payloads.append(payload)
        offset = start + length
    return payloads
    # END SOLUTION


def encode_ops(ops: Sequence[Op]) -> bytes:
    """The payload of one record holding ``ops`` (a value of ``None`` is a delete)."""
    # BEGIN SOLUTION day6.task1
    parts = [OP_COUNT.pack(len(ops))]
    for key, value in ops:
        if value is None:
            parts.append(OP_HEADER.pack(KIND_TOMBSTONE, len(key), 0))
            parts.append(key)
        else:
            parts.append(OP_HEADER.pack(KIND_VALUE, len(key), len(value)))
            parts.append(key)
            parts.append(value)
    return b"".join(parts)
    # END SOLUTION


def decode_ops(payload: bytes, name: str) -> list[Op]:
    """The ops of one payload; a payload that does not parse exactly is corrupt."""
    # BEGIN SOLUTION day6.task1
    try:
        (count,) = OP_COUNT.unpack_from(payload, 0)
        offset, ops = OP_COUNT.size, []
        for _ in range(count):
            kind, key_len, value_len = OP_HEADER.unpack_from(payload, offset)
            offset += OP_HEADER.size
            key = payload[offset : offset + key_len]
            offset += key_len
            value = payload[offset : offset + value_len]
            offset += value_len
            if kind > KIND_TOMBSTONE or (kind == KIND_TOMBSTONE and value_len) or not key_len:
                raise CorruptionError(f"{name}: a record holds an impossible operation")
            ops.append((key, None if kind == KIND_TOMBSTONE else value))
    except struct.error:
        raise CorruptionError(f"{name}: a record's operations run past its end") from None
    if offset > len(payload):
        raise CorruptionError(f"{name}: a record's operations run past its end")
    if offset < len(payload):
        raise CorruptionError(f"{name}: a record has {len(payload) - offset} bytes after its operations")
    return ops
    # END SOLUTION


class Wal:
    """One write-ahead log file, appended to by one writer at a time.

    ``append`` writes into a buffer (no system call per write); ``sync`` pushes
    the buffer to the operating system and fsyncs, through ``sync_wrapper`` so
    that day 7's group commit can let concurrent callers share one fsync. A
    ``sync`` after ``close`` returns at once: closing fsynced the whole log.
    """

    def __init__(self, path: Path, sync_wrapper: Callable[[Callable[[], None]], Callable[[], None]] | None = None):
        """Open (or create) the log at ``path`` for appending."""
        # BEGIN SOLUTION day6.task1
        self.path = Path(path)
        self._file = open(self.path, "ab")  # noqa: SIM115  (kept open for the log's lifetime)
        self._file_lock = threading.Lock()
        self._fsync_failure: OSError | None = None
        self.sync = sync_wrapper(self._fsync) if sync_wrapper else self._fsync
        # END SOLUTION

    @staticmethod
    def replay(path: Path, *, allow_torn_tail: bool = True) -> list[Op]:
        """Every write of the log at ``path``, oldest first (a torn tail is dropped if allowed)."""
        # BEGIN SOLUTION day6.task1
        path = Path(path)
        payloads = decode_records(path.read_bytes(), path.name, allow_torn_tail=allow_torn_tail)
        return [op for payload in payloads for op in decode_ops(payload, path.name)]
        # END SOLUTION

    @staticmethod
    def cut_torn_tail(path: Path) -> int:
        """Cut a torn tail off the log at ``path``, durably; the number of bytes cut (0 if none).

        Recovery calls it on the newest log before a newer one is created: once
        a newer log exists, this one is an older log, whose damaged last record
        would be corruption.
        """
        # BEGIN SOLUTION day6.task1
        path = Path(path)
        data = path.read_bytes()
        end = sum(RECORD_HEADER.size + len(payload) for payload in decode_records(data, path.name))
        if end < len(data):
            with open(path, "r+b") as file:
                file.truncate(end)
                os.fsync(file.fileno())
        return len(data) - end
        # END SOLUTION

    def append(self, ops: Sequence[Op]) -> None:
        """Append one record holding ``ops`` (buffered: durable after ``sync``)."""
        # BEGIN SOLUTION day6.task1
        self._file.write(encode_record(encode_ops(ops)))
        # END SOLUTION

    def close(self) -> None:
        """Flush, fsync and close the file (idempotent)."""
        # BEGIN SOLUTION day6.task1
        try:
            self._fsync()
        finally:
            with self._file_lock:
                self._file.close()  # even when the fsync failed: the file is released either way
        # END SOLUTION

    # BEGIN SOLUTION
    def _fsync(self) -> None:
        with self._file_lock:
            if self._fsync_failure is not None:
                # A failed fsync may leave the pages it could not write marked clean: a later fsync
                # would answer "done" without writing them, so no later sync of this log may succeed.
                failure = self._fsync_failure
                raise OSError(failure.errno, f"an earlier fsync of {self.path.name} failed ({failure.strerror})")
            if self._file.closed:
                return  # closing fsynced everything this log will ever hold
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as error:
                self._fsync_failure = error
                raise


ONES_LENGTH = 0xFFFFFFFF
"""The ``payload_len`` of a sector of ones, whose ``header_crc`` matches: ``crc32(b"\xff" * 4) == 0xffffffff``."""


def _complete_record_after(data: bytes, start: int) -> bool:
    """Whether a whole record with both checksums right begins somewhere at or after ``start``.

    A sector of ones that claims 4 GiB is damage when whole records follow it, and a
    torn tail when nothing complete does.
    """
    end = len(data)
    for offset in range(start, end - RECORD_HEADER.size + 1):
        length, header_crc, payload_crc = RECORD_HEADER.unpack_from(data, offset)
        payload_start = offset + RECORD_HEADER.size
        if payload_start + length > end or zlib.crc32(data[offset : offset + 4]) != header_crc:
            continue
        if zlib.crc32(data[payload_start : payload_start + length]) == payload_crc:
            return True
    return False


def _unwritten_from(data: bytes) -> int:
    """Where the run of zero bytes, or of ``0xFF`` bytes, that ends ``data`` begins.

    A power cut after a file grew but before all its new sectors were written leaves
    those sectors reading as zeros (or ones, on some devices): nothing after this
    offset was ever written, so a record it cuts into is a torn tail.
    """
    return min(len(data.rstrip(b"\x00")), len(data.rstrip(b"\xff")))


def _torn_tail(payloads: list[bytes], name: str, offset: int, allowed: bool) -> list[bytes]:
    """The payloads before a torn tail at ``offset``, or ``CorruptionError`` if none is allowed there."""
    if not allowed:
        raise CorruptionError(f"{name}: the last record, at offset {offset}, is cut short or damaged")
    return payloads


# END SOLUTION
