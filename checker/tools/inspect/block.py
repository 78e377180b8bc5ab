"""A data block of an SST: its entries, decoded with the inspector's own reader of day 1's format."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from checker.tools.inspect.common import (
    ENTRY_HEADER,
    KIND_TOMBSTONE,
    KIND_VALUE,
    U16,
    U32,
    VALUE_SHOWN,
    Damage,
    Reader,
    Report,
    Settings,
    check_slot,
    show,
)


@dataclass(frozen=True)
class BlockSpan:
    """One meta entry: where the meta section says a block lies and which keys it holds."""

    at: int
    """The file offset of the meta entry itself."""
    offset: int
    size: int
    first_key: bytes
    last_key: bytes


def inspect_block(
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
    facts["checksum"] = check_slot(report, checksums, raw, stored, item, span.offset + span.size)
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
        facts["entries"] = [entry_facts(key, value) for key, value in entries[: settings.limit]]
    return facts


def entry_facts(key: bytes, value: bytes | None) -> dict[str, Any]:
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
