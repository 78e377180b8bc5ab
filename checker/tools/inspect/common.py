"""The inspector's shared parts: the formats' constants, the byte reader, the report, and how bytes are shown."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

EXIT_OK, EXIT_DAMAGED, EXIT_USAGE = 0, 1, 2


U8, U16, U32, U64 = struct.Struct("<B"), struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")

ENTRY_HEADER = struct.Struct("<HHBI")
"""A block entry's key_overlap, key_rest_len, kind and value_len (day 1)."""

KIND_VALUE, KIND_TOMBSTONE = 0, 1

SST_FOOTER = struct.Struct("<QIQIHHI8s")
"""meta_offset, meta_size, filter_offset, filter_size, version, flags, footer_crc, magic (day 2)."""

SST_MAGIC = b"TLSM-SST"
SST_VERSION = 1
FLAG_CHECKSUMS = 0x0001
FOOTER_CRC_COVERS = 28
"""``footer_crc`` covers the footer's first 28 bytes."""

META_ENTRY_HEAD = struct.Struct("<QI")
"""A meta entry's block offset and block size (without its crc slot)."""

META_ENTRY_MIN = 16
"""The smallest meta entry: offset, size and two key lengths, with empty keys."""

MIN_FILTER_BITS_BYTES = 8
PROBES = range(1, 31)
"""A Bloom filter section is its bit array (at least 8 bytes), then k (u8, 1 to 30): day 7."""

RECORD_HEADER = struct.Struct("<III")
"""A log record's payload_len, header_crc and payload_crc (day 6; the WAL and the MANIFEST)."""

OP_HEADER = struct.Struct("<BHI")
"""A WAL operation's kind, key_len and value_len."""

SNAPSHOT, NEW_MEMTABLE, FLUSH, COMPACTION = 1, 2, 3, 4
RECORD_TYPES = {SNAPSHOT: "snapshot", NEW_MEMTABLE: "new memtable", FLUSH: "flush", COMPACTION: "compaction"}
LEVEL_TASK, TIERED_TASK = 1, 2
STRATEGIES = {0: "no compaction", 1: "simple leveled", 2: "tiered", 3: "leveled"}
"""The strategy byte of a snapshot record."""
TIERED = 2

KEY_SHOWN, VALUE_SHOWN = 48, 32
"""Characters of a key or a value shown before it is shortened."""

_TEXT_BYTES = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}


def sst_checksum(data: bytes) -> int:
    """The checksum of one SST section: CRC-32 as ``zlib.crc32`` computes it (day 7)."""
    return zlib.crc32(data)


def show(data: bytes, limit: int = KEY_SHOWN) -> str:
    """``data`` for a reader: quoted text if printable ASCII, else ``0x`` hex; shortened past ``limit``."""
    if all(byte in _TEXT_BYTES for byte in data):
        text = data.decode("ascii")
        return f'"{text}"' if len(text) <= limit else f'"{text[:limit]}"... ({len(data)} bytes)'
    digits = data.hex()
    return f"0x{digits}" if len(digits) <= limit else f"0x{digits[:limit]}... ({len(data)} bytes)"


def hex32(value: int) -> str:
    """A 32-bit checksum as eight hex digits."""
    return f"0x{value:08x}"


def plural(count: int, word: str) -> str:
    """``1 entry``, ``2 entries``, ``3 ops``."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


def check_slot(report: Report, checksums: bool, covered: bytes, stored: int, item: str, slot_offset: int) -> str:
    """``ok``, ``mismatch`` or ``absent`` for the crc slot at ``slot_offset``; a mismatch is reported as damage."""
    if not checksums:
        return "absent"
    computed = sst_checksum(covered)
    if computed == stored:
        return "ok"
    report.damage(
        slot_offset, item, "checksum mismatch: the bytes do not match their crc slot", hex32(computed), hex32(stored)
    )
    return "mismatch"


class Damage(Exception):
    """Bytes that do not decode as the format says, at a file offset."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


class Reader:
    """Reads named little-endian fields from ``data``, whose first byte is at file offset ``base``.

    A field that runs past the end raises ``Damage`` naming the field and where it starts.
    """

    def __init__(self, data: bytes, base: int = 0) -> None:
        self.data = data
        self.base = base
        self.pos = 0

    @property
    def offset(self) -> int:
        """The file offset of the next byte to read."""
        return self.base + self.pos

    def remaining(self) -> int:
        """How many bytes are left to read."""
        return len(self.data) - self.pos

    def take(self, size: int, name: str) -> bytes:
        """The next ``size`` bytes, the field ``name``."""
        if size > self.remaining():
            raise Damage(self.offset, f"{name} needs {size} bytes, only {self.remaining()} are left")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, layout: struct.Struct, name: str) -> tuple[Any, ...]:
        """The fields of ``layout``, read as one field called ``name``."""
        return layout.unpack(self.take(layout.size, name))

    def uint(self, layout: struct.Struct, name: str) -> int:
        """One unsigned integer (``U8``, ``U16``, ``U32`` or ``U64``)."""
        return self.unpack(layout, name)[0]

    def flag(self, name: str) -> bool:
        """A ``u8`` that must be 0 or 1."""
        start = self.offset
        value = self.uint(U8, name)
        if value > 1:
            raise Damage(start, f"{name} is {value}, expected 0 or 1")
        return bool(value)

    def ids(self, name: str) -> list[int]:
        """A list of ids: a ``u32`` count, then that many ``u64``."""
        start = self.offset
        count = self.uint(U32, f"{name} count")
        if count * U64.size > self.remaining():
            raise Damage(start, f"{name} count is {count}, but only {self.remaining()} bytes are left for the ids")
        return list(struct.unpack(f"<{count}Q", self.take(count * U64.size, name)))

    def runs(self, name: str) -> list[list[int]]:
        """A list of id lists: a ``u32`` count, then that many id lists."""
        start = self.offset
        count = self.uint(U32, f"{name} count")
        if count * U32.size > self.remaining():
            raise Damage(start, f"{name} count is {count}, more than the {self.remaining()} bytes left can hold")
        return [self.ids(f"{name}[{index}]") for index in range(count)]

    def expect_end(self, what: str) -> None:
        """Bytes left over after ``what`` are damage."""
        if self.remaining():
            raise Damage(self.offset, f"{self.remaining()} stray bytes after {what}")


@dataclass
class Report:
    """The facts found in one file (JSON-ready) and the damage, each problem tied to an item."""

    file: str
    kind: str
    size: int
    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def damage(self, offset: int, item: str, message: str, expected: object = None, found: object = None) -> None:
        """Record a problem at file ``offset`` in ``item`` (``"footer"``, ``"block 3"``, ``"record 2"``...)."""
        problem: dict[str, Any] = {"offset": offset, "item": item, "message": message}
        if expected is not None:
            problem["expected"], problem["found"] = str(expected), str(found)
        self.problems.append(problem)

    def as_dict(self) -> dict[str, Any]:
        """The whole report as one JSON-ready document."""
        return {
            "file": self.file,
            "type": self.kind,
            "size": self.size,
            "ok": not self.problems,
            **self.facts,
            "problems": self.problems,
        }


@dataclass(frozen=True)
class Settings:
    """How much to show: every entry or not, and at most how many per block or record."""

    entries: bool = False
    limit: int | None = None
