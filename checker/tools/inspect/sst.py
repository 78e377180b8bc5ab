"""An SST as a whole: footer, meta section (the block index), checksum slots, and the spans of the blocks."""

from __future__ import annotations

from checker.tools.inspect.block import BlockSpan, inspect_block
from checker.tools.inspect.bloom import inspect_filter
from checker.tools.inspect.common import (
    FLAG_CHECKSUMS,
    FOOTER_CRC_COVERS,
    META_ENTRY_HEAD,
    META_ENTRY_MIN,
    SST_FOOTER,
    SST_MAGIC,
    SST_VERSION,
    U16,
    U32,
    Damage,
    Reader,
    Report,
    Settings,
    check_slot,
    plural,
    show,
)


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
        "footer_crc_status": check_slot(report, checksums, data[footer_start:crc_at], footer_crc, "footer", crc_at),
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
        inspect_block(data, index, span, meta_offset, checksums, report, settings) for index, span in enumerate(spans)
    ]
    inspect_filter(data, filter_offset, filter_size, footer_start, checksums, report)
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


def _inspect_meta(data: bytes, meta_offset: int, meta_size: int, checksums: bool, report: Report) -> list[BlockSpan]:
    """Decode the meta section and check that its blocks tile the data region in key order."""
    raw = data[meta_offset : meta_offset + meta_size]
    (stored,) = U32.unpack_from(data, meta_offset + meta_size)
    status = check_slot(report, checksums, raw, stored, "meta", meta_offset + meta_size)
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
