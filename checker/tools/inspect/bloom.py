"""The filter section of an SST, read as day 7's Bloom filter: probes, bits, bits set."""

from __future__ import annotations

from typing import Any

from checker.tools.inspect.common import MIN_FILTER_BITS_BYTES, PROBES, U32, Report, check_slot, show


def inspect_filter(
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
        "crc_status": check_slot(report, checksums, raw, stored, "filter", filter_offset + filter_size),
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
