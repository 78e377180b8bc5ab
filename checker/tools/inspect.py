"""``python -m checker inspect FILE``: decode an SST, a write-ahead log or a MANIFEST for humans.

The inspector reads the three on-disk formats of the course with readers of its
own, written with ``struct`` from the format tables of the book (day 1 blocks,
day 2 SSTs, day 6 logs and manifest records). It never imports the day modules
(``tinylsm.block``, ``tinylsm.sstable``, ``tinylsm.wal``, ``tinylsm.manifest``...),
so it gives the same answer whether your code works or not: use it to look at the
files your code wrote, and to see exactly where a file is damaged.

What kind of file it is comes from the name (``*.sst``, ``*.wal``, ``MANIFEST``),
else from the SST magic at the end of the file, else from ``--type``.

* **SST**: the footer's fields, the meta section (the block index), each block's
  entry count, first and last key and checksum status (``ok``, ``mismatch``, or
  ``absent`` when the footer's flag bit 0 is clear), the filter section's size, and
  with ``--entries`` every entry. Checksums are CRC-32 (``zlib.crc32``), as day 7
  pins them. A non-empty filter section is read as day 7's Bloom filter: its number
  of probes ``k``, its bit count and how many bits are set.
* **WAL**: each record with its number of operations and their keys, and with
  ``--entries`` every operation. A torn tail (the last record cut short,
  or zero bytes to the end of the file) is shown and tolerated; a bad record
  followed by more data is corruption: the rules of day 6's ``decode_records``.
* **MANIFEST**: each record with its fields, then the shape that replaying them
  gives. Snapshot, new-memtable and flush records are replayed; a compaction record
  is listed but not replayed (where its outputs go is the compaction strategy's
  decision), so the levels are unknown after one, until the next snapshot. A
  manifest that does not begin with a snapshot is damaged, as recovery says.

Damage is reported with its file offset, the field and, where it applies, the
value expected and the value found; decoding goes on wherever the rest of the file
can still be trusted (every block of an SST is read even if one is damaged).

Keys and values made of printable ASCII are shown as quoted text, anything else
as ``0x`` hex; long ones are shortened and their length given. ``--json`` prints
the same facts as one JSON document (keys and values in the same notation).

Exit status: 0 when no damage was found (a torn WAL tail is not damage), 1 when
the file is damaged, 2 for a usage error (no such file, unknown kind of file).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checker.common import parse_arguments

EXIT_OK, EXIT_DAMAGED, EXIT_USAGE = 0, 1, 2

# --- The formats, as the book's tables give them (little-endian throughout) ---

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


# --- The shared reader and the report ---


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


# --- SST ---


@dataclass(frozen=True)
class BlockSpan:
    """One meta entry: where the meta section says a block lies and which keys it holds."""

    at: int
    """The file offset of the meta entry itself."""
    offset: int
    size: int
    first_key: bytes
    last_key: bytes


def inspect_sst(data: bytes, report: Report, settings: Settings) -> None:
    """Decode an SST: footer, meta section, every block, the filter section."""
    size = len(data)
    if size < SST_FOOTER.size:
        report.damage(
            0,
            "footer",
            f"the file is {size} bytes, too short for the {SST_FOOTER.size}-byte footer: "
            "the footer is missing (was the file cut short?)",
        )
        return
    footer_start = size - SST_FOOTER.size
    meta_offset, meta_size, filter_offset, filter_size, version, flags, footer_crc, magic = SST_FOOTER.unpack_from(
        data, footer_start
    )
    if magic != SST_MAGIC:
        _report_missing_magic(data, magic, report)
        return
    checksums = bool(flags & FLAG_CHECKSUMS)
    crc_at = footer_start + FOOTER_CRC_COVERS
    footer = {
        "offset": footer_start,
        "meta_offset": meta_offset,
        "meta_size": meta_size,
        "filter_offset": filter_offset,
        "filter_size": filter_size,
        "version": version,
        "flags": flags,
        "checksums": checksums,
        "footer_crc": footer_crc,
        "footer_crc_status": _check_slot(report, checksums, data[footer_start:crc_at], footer_crc, "footer", crc_at),
        "magic": show(magic),
    }
    report.facts["footer"] = footer
    if not checksums and footer_crc:
        report.damage(
            crc_at, "footer", "footer_crc is set but flag bit 0 says the file has no checksums", 0, footer_crc
        )
    if version != SST_VERSION:
        report.damage(footer_start + 24, "footer", "unsupported format version", SST_VERSION, version)
    if flags & ~FLAG_CHECKSUMS:
        report.damage(
            footer_start + 26,
            "footer",
            "unsupported flag bits (only bit 0 is defined)",
            "0x0000 or 0x0001",
            f"{flags:#06x}",
        )

    if meta_offset + meta_size + U32.size > footer_start:
        report.damage(
            footer_start,
            "footer",
            f"the meta section ({meta_size} bytes at offset {meta_offset}) and its crc slot "
            f"do not fit before the footer at offset {footer_start}",
        )
        return
    if meta_offset + meta_size + U32.size != filter_offset:
        report.damage(
            footer_start + 12,
            "footer",
            "filter_offset must follow the meta crc slot",
            meta_offset + meta_size + 4,
            filter_offset,
        )
    spans = _inspect_meta(data, meta_offset, meta_size, checksums, report)
    report.facts["blocks"] = [
        _inspect_block(data, index, span, meta_offset, checksums, report, settings) for index, span in enumerate(spans)
    ]
    _inspect_filter(data, filter_offset, filter_size, footer_start, checksums, report)
    blocks = report.facts["blocks"]
    report.facts["summary"] = {
        "blocks": len(blocks),
        "entries": sum(block["entry_count"] for block in blocks),
        "tombstones": sum(block["tombstones"] for block in blocks),
        "first_key": blocks[0]["first_key"] if blocks else None,
        "last_key": blocks[-1]["last_key"] if blocks else None,
    }


def _report_missing_magic(data: bytes, magic: bytes, report: Report) -> None:
    """The last 8 bytes are not the magic: say so, and where the magic is if it is elsewhere."""
    message = f"no SST footer: the last 8 bytes should be the magic {show(SST_MAGIC)}, found {show(magic)}"
    earlier = data.rfind(SST_MAGIC)
    if earlier >= 0:
        extra = len(data) - earlier - len(SST_MAGIC)
        message += f"; the magic is at offset {earlier}, followed by {extra} more bytes"
    else:
        message += " (a file cut short loses its footer first)"
    report.damage(len(data) - len(SST_MAGIC), "footer", message)


def _check_slot(report: Report, checksums: bool, covered: bytes, stored: int, item: str, slot_offset: int) -> str:
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


def _inspect_meta(data: bytes, meta_offset: int, meta_size: int, checksums: bool, report: Report) -> list[BlockSpan]:
    """Decode the meta section and check that its blocks tile the data region in key order."""
    raw = data[meta_offset : meta_offset + meta_size]
    (stored,) = U32.unpack_from(data, meta_offset + meta_size)
    status = _check_slot(report, checksums, raw, stored, "meta", meta_offset + meta_size)
    spans: list[BlockSpan] = []
    reader = Reader(raw, meta_offset)
    complete = False
    try:
        count = reader.uint(U32, "block count")
        if count * META_ENTRY_MIN > reader.remaining():
            raise Damage(meta_offset, f"the block count is {count}, more than {meta_size} bytes of meta can hold")
        for index in range(count):
            at = reader.offset
            offset, size = reader.unpack(META_ENTRY_HEAD, f"meta entry {index} offset and size")
            first_key = reader.take(
                reader.uint(U16, f"meta entry {index} first_key_len"), f"meta entry {index} first_key"
            )
            last_key = reader.take(reader.uint(U16, f"meta entry {index} last_key_len"), f"meta entry {index} last_key")
            spans.append(BlockSpan(at, offset, size, first_key, last_key))
        reader.expect_end(f"the {plural(count, 'meta entry')}")
        complete = True
    except Damage as damage:
        report.damage(damage.offset, "meta", damage.message)
    _check_spans(spans, meta_offset, complete, report)
    report.facts["meta"] = {
        "offset": meta_offset,
        "size": meta_size,
        "crc": stored,
        "crc_status": status,
        "entries": [
            {"offset": s.offset, "size": s.size, "first_key": show(s.first_key), "last_key": show(s.last_key)}
            for s in spans
        ],
    }
    return spans


def _check_spans(spans: list[BlockSpan], data_end: int, complete: bool, report: Report) -> None:
    """Each block right after the previous one's crc slot, non-empty, keys ascending; the last ends at the meta.

    When the meta section could not be decoded to its end (``complete`` is false),
    only the entries read are checked.
    """
    if not spans:
        if complete:
            report.damage(data_end, "meta", "the meta section lists no data block")
        return
    expected_offset, previous_last = 0, b""
    for index, span in enumerate(spans):
        entry = f"meta entry {index}"
        if span.offset != expected_offset:
            report.damage(span.at, "meta", f"{entry}: the block offset is wrong", expected_offset, span.offset)
        if span.size == 0:
            report.damage(span.at + 8, "meta", f"{entry}: the block is empty (size 0)")
        if not span.first_key or span.first_key > span.last_key:
            report.damage(span.at + 12, "meta", f"{entry}: first_key is empty or above last_key")
        elif index and span.first_key <= previous_last:
            report.damage(
                span.at + 12,
                "meta",
                f"{entry}: first_key must be above the previous block's last_key",
                f"above {show(previous_last)}",
                show(span.first_key),
            )
        # Go on from where this entry says its block lies, so that one bad offset is reported once.
        expected_offset = span.offset + span.size + U32.size
        previous_last = span.last_key
    if complete and expected_offset != data_end:
        report.damage(
            spans[-1].at,
            "meta",
            "the last block and its crc slot must end where the meta section starts",
            data_end,
            expected_offset,
        )


def _inspect_block(
    data: bytes, index: int, span: BlockSpan, data_end: int, checksums: bool, report: Report, settings: Settings
) -> dict[str, Any]:
    """One block: read it where the meta says, check its crc slot, decode every entry."""
    item = f"block {index}"
    facts: dict[str, Any] = {"index": index, "offset": span.offset, "size": span.size}
    if span.offset + span.size + U32.size > data_end:
        report.damage(
            span.offset,
            item,
            f"the meta places a {span.size}-byte block at offset {span.offset}, "
            f"which does not fit before the meta section at offset {data_end}",
        )
        facts.update(entry_count=0, tombstones=0, first_key=None, last_key=None, checksum="unread")
        return facts
    raw = data[span.offset : span.offset + span.size]
    (stored,) = U32.unpack_from(data, span.offset + span.size)
    facts["checksum"] = _check_slot(report, checksums, raw, stored, item, span.offset + span.size)
    problems_before = len(report.problems)
    entries = _decode_block(raw, span.offset, item, report)
    decoded_cleanly = len(report.problems) == problems_before
    facts["entry_count"] = len(entries)
    facts["tombstones"] = sum(value is None for _, value in entries)
    facts["first_key"] = show(entries[0][0]) if entries else None
    facts["last_key"] = show(entries[-1][0]) if entries else None
    if decoded_cleanly and (entries[0][0], entries[-1][0]) != (span.first_key, span.last_key):
        report.damage(
            span.offset,
            item,
            "the block's keys differ from its meta entry",
            f"{show(span.first_key)} .. {show(span.last_key)}",
            f"{show(entries[0][0])} .. {show(entries[-1][0])}",
        )
    if settings.entries:
        facts["entries"] = [_entry_facts(key, value) for key, value in entries[: settings.limit]]
    return facts


def _entry_facts(key: bytes, value: bytes | None) -> dict[str, Any]:
    """One key-value pair (``None`` is a tombstone) as shown to the reader."""
    if value is None:
        return {"key": show(key), "kind": "tombstone"}
    return {"key": show(key), "kind": "value", "value": show(value, VALUE_SHOWN), "value_len": len(value)}


def _decode_block(raw: bytes, base: int, item: str, report: Report) -> list[tuple[bytes, bytes | None]]:
    """The entries of one encoded block at file offset ``base``; a damaged entry is reported and skipped."""
    if len(raw) < U16.size:
        report.damage(base, item, f"a {len(raw)}-byte block is too short to hold its entry count")
        return []
    (count,) = U16.unpack_from(raw, len(raw) - U16.size)
    data_end = len(raw) - U16.size * (count + 1)
    if count == 0 or data_end < 0:
        report.damage(base + len(raw) - U16.size, item, f"a {len(raw)}-byte block cannot hold {count} entries")
        return []
    offsets = list(struct.unpack_from(f"<{count}H", raw, data_end))
    if offsets[0] != 0:
        report.damage(base + data_end, item, "entry 0 must start at the block's first byte", 0, offsets[0])
    entries: list[tuple[bytes, bytes | None]] = []
    first_key: bytes | None = None
    for number, (start, end) in enumerate(zip(offsets, [*offsets[1:], data_end], strict=True)):
        try:
            if not start <= end <= data_end:
                raise Damage(
                    base + data_end + U16.size * number,
                    f"its offsets {start} .. {end} do not lie in order within the {data_end} bytes of entries",
                )
            key, value = _decode_entry(Reader(raw[start:end], base + start), number, first_key)
            if entries and key <= entries[-1][0]:
                raise Damage(base + start, f"key {show(key)} is not above the previous key {show(entries[-1][0])}")
        except Damage as damage:
            report.damage(damage.offset, item, f"entry {number}: {damage.message}")
            continue
        if number == 0:
            first_key = key
        entries.append((key, value))
    return entries


def _decode_entry(reader: Reader, number: int, first_key: bytes | None) -> tuple[bytes, bytes | None]:
    """One block entry; ``first_key`` (the block's) supplies the bytes a key shares with it."""
    start = reader.offset
    overlap, rest_len, kind, value_len = reader.unpack(ENTRY_HEADER, "the entry header")
    rest = reader.take(rest_len, "the key")
    value = reader.take(value_len, "the value")
    reader.expect_end("the entry (it does not end where the next one starts)")
    if overlap and (number == 0 or first_key is None or overlap > len(first_key)):
        raise Damage(start, f"key_overlap is {overlap}, more than the block's first key allows")
    if overlap + rest_len == 0:
        raise Damage(start, "the key is empty")
    key = (first_key or b"")[:overlap] + rest
    return key, value_or_tombstone(kind, value, start + 4)


def value_or_tombstone(kind: int, value: bytes, offset: int) -> bytes | None:
    """The value of a block entry or a WAL op by its ``kind`` byte at ``offset``: ``None`` for a tombstone."""
    if kind == KIND_VALUE:
        return value
    if kind == KIND_TOMBSTONE and not value:
        return None
    raise Damage(offset, f"kind {kind} with a {len(value)}-byte value (0 is a value, 1 a tombstone of 0 bytes)")


def _inspect_filter(
    data: bytes, filter_offset: int, filter_size: int, footer_start: int, checksums: bool, report: Report
) -> None:
    """The filter section: its size, crc status and, when it is not empty, the Bloom filter's ``k`` and bits."""
    if filter_offset + filter_size + U32.size > footer_start:
        report.damage(
            footer_start,
            "filter",
            f"the filter section ({filter_size} bytes at offset {filter_offset}) and its crc slot "
            f"do not fit before the footer at offset {footer_start}",
        )
        return
    if filter_offset + filter_size + U32.size != footer_start:
        report.damage(
            footer_start + 20,
            "filter",
            "the filter section and its crc slot must end where the footer starts",
            footer_start,
            filter_offset + filter_size + U32.size,
        )
    raw = data[filter_offset : filter_offset + filter_size]
    (stored,) = U32.unpack_from(data, filter_offset + filter_size)
    facts: dict[str, Any] = {
        "offset": filter_offset,
        "size": filter_size,
        "crc_status": _check_slot(report, checksums, raw, stored, "filter", filter_offset + filter_size),
    }
    if raw:
        facts["bytes"] = show(raw, 64)
        facts["bloom"] = _decode_bloom(raw, filter_offset, report)
    report.facts["filter"] = facts


def _decode_bloom(raw: bytes, base: int, report: Report) -> dict[str, int] | None:
    """A Bloom filter's ``k``, bit count and bits set; ``None`` (and damage) if it cannot be one."""
    if len(raw) < MIN_FILTER_BITS_BYTES + 1:
        report.damage(
            base,
            "filter",
            f"a {len(raw)}-byte filter is too short for {MIN_FILTER_BITS_BYTES} bytes of bits and k",
        )
        return None
    bits, k = raw[:-1], raw[-1]
    if k not in PROBES:
        report.damage(base + len(bits), "filter", "the filter's k is out of range", "1 to 30", k)
        return None
    return {"k": k, "bits": 8 * len(bits), "bits_set": int.from_bytes(bits, "little").bit_count()}


# --- Log records, shared by the WAL and the MANIFEST ---


@dataclass(frozen=True)
class LogRecord:
    """One framed record: its number, file offset and payload; ``intact`` when its payload checksum matches."""

    index: int
    offset: int
    payload: bytes
    intact: bool

    @property
    def payload_offset(self) -> int:
        """The file offset of the payload's first byte."""
        return self.offset + RECORD_HEADER.size


def read_log(data: bytes, report: Report) -> list[LogRecord]:
    """Split ``data`` into records, with day 6's rules for a torn tail and for corruption.

    A torn tail (a header or payload cut short, zero bytes to the end, or a last
    record whose payload does not match its checksum) ends the log and is noted in
    ``report.facts["torn_tail"]``. A damaged header followed by other bytes is
    corruption and stops the reading, since its length cannot be trusted (noted in
    ``report.facts["unread"]``); a damaged payload followed by more data is
    corruption, and the next record is read.
    """
    records: list[LogRecord] = []
    offset, end = 0, len(data)
    torn: str | None = None
    while offset < end:
        item = f"record {len(records)}"
        if end - offset < RECORD_HEADER.size:
            torn = f"a record header cut short ({end - offset} of {RECORD_HEADER.size} bytes)"
            break
        length, header_crc, payload_crc = RECORD_HEADER.unpack_from(data, offset)
        computed = zlib.crc32(data[offset : offset + U32.size])
        if computed != header_crc:
            if not any(data[offset:]):
                torn = f"zero bytes to the end of the file ({end - offset} bytes)"
                break
            report.damage(
                offset,
                item,
                "header_crc (found) is not the CRC-32 of payload_len (expected), and nonzero bytes follow: "
                "corruption, not a torn tail (replay refuses this file)",
                hex32(computed),
                hex32(header_crc),
            )
            report.facts["unread"] = {"index": len(records), "offset": offset, "bytes": end - offset}
            break
        start = offset + RECORD_HEADER.size
        if start + length > end:
            torn = f"a payload cut short (payload_len says {length} bytes, {end - start} are left)"
            break
        payload = data[start : start + length]
        computed = zlib.crc32(payload)
        if computed != payload_crc and start + length == end:
            torn = "the last record's payload does not match its payload_crc (it was being written)"
            break
        if computed != payload_crc:
            report.damage(
                offset,
                item,
                "payload_crc (found) is not the CRC-32 of the payload (expected), and more data follows: "
                "corruption, not a torn tail (replay refuses this file)",
                hex32(computed),
                hex32(payload_crc),
            )
        records.append(LogRecord(len(records), offset, payload, computed == payload_crc))
        offset = start + length
    if torn is not None:
        report.facts["torn_tail"] = {"offset": offset, "bytes": end - offset, "reason": torn}
    return records


def _record_facts(record: LogRecord) -> dict[str, Any]:
    """What every record shows: number, offset, payload length and whether its payload is intact."""
    return {
        "index": record.index,
        "offset": record.offset,
        "payload_len": len(record.payload),
        "status": "ok" if record.intact else "damaged",
    }


# --- WAL ---


def inspect_wal(data: bytes, report: Report, settings: Settings) -> None:
    """Decode a write-ahead log: every record and the operations it holds."""
    records = []
    for record in read_log(data, report):
        facts = _record_facts(record)
        if record.intact:
            ops = _decode_ops(record, report)
            facts["op_count"] = len(ops)
            if ops:
                facts["first_op"] = _op_facts(*ops[0])
                facts["last_op"] = _op_facts(*ops[-1])
            if settings.entries:
                facts["ops"] = [_op_facts(key, value) for key, value in ops[: settings.limit]]
        records.append(facts)
    report.facts["records"] = records
    report.facts["summary"] = {
        "records": len(records),
        "ops": sum(record.get("op_count", 0) for record in records),
    }


def _op_facts(key: bytes, value: bytes | None) -> dict[str, Any]:
    """One WAL operation: a put or a delete."""
    facts = _entry_facts(key, value)
    facts["kind"] = "delete" if value is None else "put"
    return facts


def _decode_ops(record: LogRecord, report: Report) -> list[tuple[bytes, bytes | None]]:
    """The operations of one intact WAL record; a payload that does not parse exactly is reported."""
    reader = Reader(record.payload, record.payload_offset)
    ops: list[tuple[bytes, bytes | None]] = []
    try:
        count = reader.uint(U32, "op_count")
        if count * OP_HEADER.size > reader.remaining():
            raise Damage(record.payload_offset, f"op_count is {count}, more than the payload can hold")
        for number in range(count):
            start = reader.offset
            kind, key_len, value_len = reader.unpack(OP_HEADER, f"op {number} header")
            key = reader.take(key_len, f"op {number} key")
            value = reader.take(value_len, f"op {number} value")
            if not key_len:
                raise Damage(start, f"op {number} has an empty key")
            ops.append((key, value_or_tombstone(kind, value, start)))
        reader.expect_end(f"the {plural(count, 'op')}")
    except Damage as damage:
        report.damage(damage.offset, f"record {record.index}", damage.message)
    return ops


# --- MANIFEST ---


def inspect_manifest(data: bytes, report: Report, settings: Settings) -> None:
    """Decode a MANIFEST: every record, then the shape their replay gives.

    Like recovery, it requires the first record to be a snapshot.
    """
    replay = ShapeReplay()
    records = []
    for record in read_log(data, report):
        facts = _record_facts(record)
        if record.intact:
            try:
                fields = _decode_manifest_record(Reader(record.payload, record.payload_offset))
            except Damage as damage:
                report.damage(damage.offset, f"record {record.index}", damage.message)
            else:
                facts.update(fields)
                if record.index == 0 and fields["type"] != "snapshot":
                    _missing_snapshot(report, fields["type"])
                replay.apply(record, fields, report)
        records.append(facts)
    if not records:
        _missing_snapshot(report, "no complete record")
    report.facts["records"] = records
    report.facts["shape"] = replay.facts()


def _missing_snapshot(report: Report, found: str) -> None:
    report.damage(
        0, "record 0", "a manifest must begin with a snapshot record (recovery refuses it)", "snapshot", found
    )


def _decode_manifest_record(reader: Reader) -> dict[str, Any]:
    """The fields of one manifest record payload."""
    start = reader.offset
    kind = reader.uint(U8, "record type")
    if kind == SNAPSHOT:
        fields: dict[str, Any] = {
            "strategy": reader.uint(U8, "strategy"),
            "next_id": reader.uint(U64, "next_id"),
            "memtables": reader.ids("memtables"),
            "l0": reader.ids("l0"),
            "levels": reader.runs("levels"),
        }
    elif kind in (NEW_MEMTABLE, FLUSH):
        fields = {"id": reader.uint(U64, "memtable id" if kind == NEW_MEMTABLE else "sst id")}
    elif kind == COMPACTION:
        fields = {"full": reader.flag("full"), "task": _decode_task(reader), "output": reader.ids("output")}
    else:
        raise Damage(start, f"unknown record type {kind} (expected 1 to 4)")
    reader.expect_end(f"the {RECORD_TYPES[kind]} record")
    return {"type": RECORD_TYPES[kind], **fields}


def _decode_task(reader: Reader) -> dict[str, Any]:
    """A compaction record's task: leveled (1) or tiered (2)."""
    start = reader.offset
    kind = reader.uint(U8, "task kind")
    if kind == LEVEL_TASK:
        return {
            "kind": "level",
            "upper_level": reader.uint(U8, "upper_level"),
            "upper": reader.ids("upper"),
            "lower_level": reader.uint(U8, "lower_level"),
            "lower": reader.ids("lower"),
            "is_bottom": reader.flag("is_bottom"),
        }
    if kind == TIERED_TASK:
        return {"kind": "tiered", "tiers": reader.runs("tiers"), "is_bottom": reader.flag("is_bottom")}
    raise Damage(start, f"unknown compaction task kind {kind} (expected 1 or 2)")


class ShapeReplay:
    """The live memtables, L0 and levels, replayed from snapshot, new-memtable and flush records.

    A compaction record is not replayed: its outputs go where the compaction
    strategy decides, so L0 and the levels are unknown after one until the next
    snapshot. The live memtables stay known throughout. As in recovery, a tiered
    database (strategy 2) flushes to a new tier instead of L0.
    """

    def __init__(self) -> None:
        self.strategy: int | None = None
        self.memtables: list[int] = []
        self.l0: list[int] | None = []
        self.levels: list[list[int]] | None = []
        self.unknown_since: int | None = None

    def apply(self, record: LogRecord, fields: dict[str, Any], report: Report) -> None:
        """Change the shape as one decoded record says."""
        kind = fields["type"]
        if kind == "snapshot":
            self.strategy = fields["strategy"]
            self.memtables = list(fields["memtables"])
            self.l0, self.levels = list(fields["l0"]), [list(run) for run in fields["levels"]]
            self.unknown_since = None
        elif kind == "new memtable":
            self.memtables.append(fields["id"])
        elif kind == "flush":
            self._flush(record, fields["id"], report)
        else:
            self.l0 = self.levels = None
            self.unknown_since = record.index

    def _flush(self, record: LogRecord, sst_id: int, report: Report) -> None:
        if not self.memtables or self.memtables[0] != sst_id:
            report.damage(
                record.offset,
                f"record {record.index}",
                "a flush must name the oldest live memtable (recovery refuses this manifest)",
                self.memtables[0] if self.memtables else "no live memtable",
                sst_id,
            )
        if sst_id in self.memtables:
            self.memtables.remove(sst_id)
        if self.strategy == TIERED and self.levels is not None:
            self.levels.insert(0, [sst_id])
        elif self.l0 is not None:
            self.l0.insert(0, sst_id)

    def facts(self) -> dict[str, Any]:
        """The replayed shape; ``l0`` and ``levels`` are ``None`` when a compaction made them unknown."""
        return {
            "strategy": None if self.strategy is None else STRATEGIES.get(self.strategy, f"unknown ({self.strategy})"),
            "memtables": self.memtables,
            "l0": self.l0,
            "levels": self.levels,
            "not_replayed_after_record": self.unknown_since,
        }


# --- Text output ---


class TextOutput:
    """Prints a report's facts, with each problem under the item it belongs to."""

    def __init__(self, report: Report, out: Callable[[str], None]) -> None:
        self.report = report
        self.out = out
        self._shown: set[int] = set()

    def problems(self, item: str, indent: str = "  ") -> None:
        """Print the problems of ``item`` that are not printed yet."""
        for number, problem in enumerate(self.report.problems):
            if problem["item"] == item and number not in self._shown:
                self._shown.add(number)
                self.out(f"{indent}! {describe_problem(problem)}")

    def finish(self) -> None:
        """Print any problem not printed yet, then the verdict."""
        for item in dict.fromkeys(problem["item"] for problem in self.report.problems):
            self.problems(item)
        problems = self.report.problems
        if not problems:
            self.out("no damage found")
            return
        first = problems[0]
        self.out(
            f"DAMAGED: {plural(len(problems), 'problem')}, the first at offset {first['offset']} ({first['item']})"
        )


def describe_problem(problem: dict[str, Any]) -> str:
    """One problem on one line: offset, message, expected and found."""
    text = f"offset {problem['offset']}: {problem['message']}"
    if "expected" in problem:
        text += f" (expected {problem['expected']}, found {problem['found']})"
    return text


def print_sst(report: Report, out: Callable[[str], None]) -> None:
    """The text form of an SST report."""
    text = TextOutput(report, out)
    facts = report.facts
    out(f"{report.file}: SST, {report.size} bytes")
    footer = facts.get("footer")
    if footer:
        out(f"footer at offset {footer['offset']}:")
        out(f"  meta_offset {footer['meta_offset']}, meta_size {footer['meta_size']}")
        out(f"  filter_offset {footer['filter_offset']}, filter_size {footer['filter_size']}")
        checksums = "checksums" if footer["checksums"] else "no checksums"
        out(f"  version {footer['version']}, flags {footer['flags']:#06x} ({checksums})")
        out(f"  footer_crc {hex32(footer['footer_crc'])} ({footer['footer_crc_status']}), magic {footer['magic']}")
    text.problems("footer")
    meta = facts.get("meta")
    if meta:
        entries = meta["entries"]
        out(
            f"meta section at offset {meta['offset']}, {meta['size']} bytes, crc {meta['crc_status']}: "
            f"{plural(len(entries), 'block')}"
        )
        for index, entry in enumerate(entries):
            out(
                f"  block {index}: offset {entry['offset']}, size {entry['size']}, "
                f"keys {entry['first_key']} .. {entry['last_key']}"
            )
    text.problems("meta")
    for block in facts.get("blocks", []):
        item = f"block {block['index']}"
        keys = f", {block['first_key']} .. {block['last_key']}" if block["first_key"] else ""
        out(
            f"{item} at offset {block['offset']}: {block['size']} bytes, "
            f"{plural(block['entry_count'], 'entry')}{keys}, checksum {block['checksum']}"
        )
        text.problems(item)
        _print_entries(block.get("entries"), block["entry_count"], out)
    filter_facts = facts.get("filter")
    if filter_facts:
        where = f"filter section at offset {filter_facts['offset']}"
        bloom = filter_facts.get("bloom")
        if not filter_facts["size"]:
            out(f"{where}: empty (no filter), crc {filter_facts['crc_status']}")
        elif bloom:
            out(
                f"{where}: {filter_facts['size']} bytes, crc {filter_facts['crc_status']}: Bloom filter, "
                f"k = {bloom['k']}, {bloom['bits']} bits, {bloom['bits_set']} set "
                f"({100 * bloom['bits_set'] // bloom['bits']} %)"
            )
        else:
            out(f"{where}: {filter_facts['size']} bytes, crc {filter_facts['crc_status']}: {filter_facts['bytes']}")
    text.problems("filter")
    summary = facts.get("summary")
    if summary:
        keys = f", keys {summary['first_key']} .. {summary['last_key']}" if summary["first_key"] else ""
        out(
            f"{plural(summary['blocks'], 'block')}, {plural(summary['entries'], 'entry')} "
            f"({plural(summary['tombstones'], 'tombstone')}){keys}"
        )
    text.finish()


def _print_entries(entries: list[dict[str, Any]] | None, total: int, out: Callable[[str], None]) -> None:
    """Entries or operations, one a line, and how many were left out."""
    if entries is None:
        return
    width = max((len(entry["key"]) for entry in entries), default=0)
    for entry in entries:
        line = f"    {entry['key']:<{width}}  {entry['kind']}"
        if "value" in entry:
            line += f"  {entry['value']}"
        out(line)
    if total > len(entries):
        out(f"    ... {total - len(entries)} more")


def print_wal(report: Report, out: Callable[[str], None]) -> None:
    """The text form of a WAL report."""
    text = TextOutput(report, out)
    facts = report.facts
    out(f"{report.file}: write-ahead log, {report.size} bytes")
    for record in facts["records"]:
        item = f"record {record['index']}"
        line = f"{item} at offset {record['offset']}: {record['payload_len']}-byte payload"
        if record["status"] != "ok":
            line += ", DAMAGED (its operations are not decoded)"
        elif record["op_count"] == 1:
            op = record["first_op"]
            line += f", 1 op: {op['kind']} {op['key']}"
        elif record["op_count"]:
            line += f", {record['op_count']} ops, keys {record['first_op']['key']} .. {record['last_op']['key']}"
        out(line)
        text.problems(item)
        _print_entries(record.get("ops"), record.get("op_count", 0), out)
    _print_log_end(text, len(facts["records"]))
    summary = facts["summary"]
    out(f"{plural(summary['records'], 'record')}, {plural(summary['ops'], 'op')}")
    text.finish()


def _print_log_end(text: TextOutput, records: int) -> None:
    """How the log ends: a damaged header where reading stopped, or a torn tail (tolerated)."""
    out, facts = text.out, text.report.facts
    unread = facts.get("unread")
    if unread:
        item = f"record {unread['index']}"
        out(f"{item} at offset {unread['offset']}: damaged header; the {unread['bytes']} bytes from here are not read")
        text.problems(item)
    torn = facts.get("torn_tail")
    if torn:
        out(
            f"torn tail at offset {torn['offset']} ({torn['bytes']} bytes): {torn['reason']}; tolerated: "
            f"replay keeps the {plural(records, 'record')} before it"
        )


def _ids(ids: list[int] | None) -> str:
    return "[" + ", ".join(map(str, ids)) + "]" if ids is not None else "unknown"


def _level(number: int) -> str:
    return f"L{number}"


def describe_manifest_record(record: dict[str, Any]) -> str:
    """One manifest record's fields, in words."""
    kind = record["type"]
    if kind == "snapshot":
        runs = "tiers" if record["strategy"] == TIERED else "levels"
        name = STRATEGIES.get(record["strategy"], f"unknown ({record['strategy']})")
        return (
            f"snapshot: strategy {name}, next_id {record['next_id']}, memtables {_ids(record['memtables'])}, "
            f"L0 {_ids(record['l0'])}, {runs} [{', '.join(_ids(run) for run in record['levels'])}]"
        )
    if kind == "new memtable":
        return f"new memtable {record['id']}"
    if kind == "flush":
        return f"flush of memtable {record['id']} to SST {record['id']}"
    task = record["task"]
    who = "full compaction" if record["full"] else "compaction (controller)"
    bottom = ", bottom level" if task["is_bottom"] else ""
    if task["kind"] == "level":
        moved = (
            f"{_level(task['upper_level'])} {_ids(task['upper'])} + {_level(task['lower_level'])} "
            f"{_ids(task['lower'])} -> {_level(task['lower_level'])}"
        )
    else:
        moved = f"tiers [{', '.join(_ids(tier) for tier in task['tiers'])}] -> one tier"
    return f"{who}: {moved}{bottom}; output {_ids(record['output'])}"


def print_manifest(report: Report, out: Callable[[str], None]) -> None:
    """The text form of a MANIFEST report."""
    text = TextOutput(report, out)
    facts = report.facts
    out(f"{report.file}: manifest, {report.size} bytes, {plural(len(facts['records']), 'record')}")
    for record in facts["records"]:
        item = f"record {record['index']}"
        if "type" in record:
            out(f"{item} at offset {record['offset']}: {describe_manifest_record(record)}")
        else:
            out(f"{item} at offset {record['offset']}: {record['payload_len']}-byte payload, not decoded")
        text.problems(item)
    _print_log_end(text, len(facts["records"]))
    shape = facts["shape"]
    out("shape after replaying the records:")
    if shape["strategy"]:
        out(f"  strategy: {shape['strategy']}")
    out(f"  live memtables (oldest first): {_ids(shape['memtables'])}")
    out(f"  L0 (newest first): {_ids(shape['l0'])}")
    runs = "tiers (newest first)" if shape["strategy"] == STRATEGIES[TIERED] else "levels (L1 first)"
    levels = shape["levels"]
    out(f"  {runs}: " + (f"[{', '.join(_ids(run) for run in levels)}]" if levels is not None else "unknown"))
    if shape["not_replayed_after_record"] is not None:
        out(
            f"  (record {shape['not_replayed_after_record']} is a compaction, which the inspector does not replay: "
            "where its outputs go is the compaction strategy's decision; the next snapshot, written when the "
            "database is reopened, shows the whole shape)"
        )
    text.finish()


# --- Command line ---

DECODERS: dict[str, tuple[Callable[[bytes, Report, Settings], None], Callable[[Report, Callable[[str], None]], None]]]
DECODERS = {
    "sst": (inspect_sst, print_sst),
    "wal": (inspect_wal, print_wal),
    "manifest": (inspect_manifest, print_manifest),
}
"""Each kind of file: its decoder and its text printer."""


def kind_of(name: str, data: bytes) -> str | None:
    """``sst``, ``wal`` or ``manifest`` from the file name, else ``sst`` if it ends with the magic, else ``None``."""
    if name.startswith("MANIFEST"):
        return "manifest"
    suffix = Path(name).suffix.lower()
    if suffix in (".sst", ".wal"):
        return suffix[1:]
    if len(data) >= SST_FOOTER.size and data.endswith(SST_MAGIC):
        return "sst"
    return None


def inspect_bytes(name: str, data: bytes, kind: str, settings: Settings) -> Report:
    """Decode ``data`` (the file called ``name``) as ``kind``: the report of what it holds."""
    report = Report(name, kind, len(data))
    DECODERS[kind][0](data, report, settings)
    return report


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is too small (at least 1)")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m checker inspect``."""
    parser = argparse.ArgumentParser(
        prog="python -m checker inspect",
        description="Decode an .sst, a .wal or a MANIFEST file, and show where it is damaged.",
        epilog="Exit status: 0 no damage found, 1 damaged file, 2 usage error.",
    )
    parser.add_argument("file", help="the file to decode")
    parser.add_argument(
        "--type",
        choices=sorted(DECODERS),
        help="decode as this kind of file (default: from the name, else by the SST magic)",
    )
    parser.add_argument("--entries", action="store_true", help="show every entry of every block (and every WAL op)")
    parser.add_argument("--limit", type=_limit, metavar="N", help="show at most N entries per block or record")
    parser.add_argument("--json", action="store_true", help="print the same facts as one JSON document")
    return parser


def main(argv: list[str]) -> int:
    """``python -m checker inspect FILE``: 0 when no damage is found, 1 when the file is damaged, 2 on usage."""
    args = parse_arguments(build_parser(), argv)
    if isinstance(args, int):
        return args
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = "no such file" if isinstance(error, FileNotFoundError) else (error.strerror or str(error)).lower()
        print(f"inspect: cannot read {args.file}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    kind = args.type or kind_of(path.name, data)
    if kind is None:
        print(
            f"inspect: cannot tell what kind of file {args.file} is: its name is not *.sst, *.wal or MANIFEST, "
            f"and it does not end with the SST magic {show(SST_MAGIC)}; name the kind with --type sst|wal|manifest",
            file=sys.stderr,
        )
        return EXIT_USAGE
    settings = Settings(entries=args.entries or args.limit is not None, limit=args.limit)
    report = inspect_bytes(args.file, data, kind, settings)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        DECODERS[kind][1](report, print)
    return EXIT_DAMAGED if report.problems else EXIT_OK
