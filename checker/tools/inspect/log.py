"""Log records, the framing that the WAL and the MANIFEST share (day 6): length, checksum, payload."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from checker.tools.inspect.common import RECORD_HEADER, U32, Report, hex32


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


def record_facts(record: LogRecord) -> dict[str, Any]:
    """What every record shows: number, offset, payload length and whether its payload is intact."""
    return {
        "index": record.index,
        "offset": record.offset,
        "payload_len": len(record.payload),
        "status": "ok" if record.intact else "damaged",
    }
