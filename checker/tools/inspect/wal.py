"""A write-ahead log: its records and the put and delete operations in each."""

from __future__ import annotations

from typing import Any

from checker.tools.inspect.block import entry_facts, value_or_tombstone
from checker.tools.inspect.common import OP_HEADER, U32, Damage, Reader, Report, Settings, plural
from checker.tools.inspect.log import LogRecord, read_log, record_facts


def inspect_wal(data: bytes, report: Report, settings: Settings) -> None:
    """Decode a write-ahead log: every record and the operations it holds."""
    records = []
    for record in read_log(data, report):
        facts = record_facts(record)
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
    facts = entry_facts(key, value)
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
