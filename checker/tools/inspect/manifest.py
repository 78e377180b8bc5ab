"""A MANIFEST: its records, and the shape of the tree that replaying them gives."""

from __future__ import annotations

from typing import Any

from checker.tools.inspect.common import (
    COMPACTION,
    FLUSH,
    LEVEL_TASK,
    NEW_MEMTABLE,
    RECORD_TYPES,
    SNAPSHOT,
    STRATEGIES,
    TIERED,
    TIERED_TASK,
    U8,
    U64,
    Damage,
    Reader,
    Report,
    Settings,
)
from checker.tools.inspect.log import LogRecord, read_log, record_facts


def inspect_manifest(data: bytes, report: Report, settings: Settings) -> None:
    """Decode a MANIFEST: every record, then the shape their replay gives.

    Like recovery, it requires the first record to be a snapshot.
    """
    replay = ShapeReplay()
    records = []
    for record in read_log(data, report):
        facts = record_facts(record)
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
