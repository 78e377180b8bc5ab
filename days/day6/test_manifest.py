"""Day 6 visible tests for the manifest (task 2). Run with ``pytest days/day6``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinylsm.errors import CorruptionError
from tinylsm.manifest import Flush, Manifest, NewMemtable, Snapshot, decode_manifest_record, encode_manifest_record
from tinylsm.state import CompactionRecord, LevelCompactionTask, TieredCompactionTask
from tinylsm.testkit import show

RECORDS = [
    Snapshot(strategy=3, next_id=9, memtables=(7, 8), l0=(6, 5), levels=((1, 2), (), (3, 4))),
    NewMemtable(9),
    Flush(7),
    CompactionRecord(LevelCompactionTask(0, (7, 6), 1, (1, 2), False), (10, 11)),
    CompactionRecord(TieredCompactionTask(((12,), (13, 14)), True), (15,)),
    CompactionRecord(LevelCompactionTask(0, (5,), 3, (10, 11, 3, 4), True), (16,), full=True),
    Snapshot(strategy=0, next_id=1, memtables=(), l0=(), levels=()),
]
"""Every kind of record: snapshots (one empty), a new memtable, a flush, three compactions."""
RECORD_NAMES = [
    "snapshot",
    "new-memtable",
    "flush",
    "leveled-compaction",
    "tiered-compaction",
    "full-compaction",
    "empty-snapshot",
]


@pytest.mark.day6_task2
@pytest.mark.parametrize("record", RECORDS, ids=RECORD_NAMES)
def test_manifest_record_round_trips(record: object) -> None:
    """decode_manifest_record(encode_manifest_record(record)) gives back every kind of manifest record."""
    payload = encode_manifest_record(record)
    got = decode_manifest_record(payload, "MANIFEST")
    assert got == record, f"decode(encode(record)) should give back {record!r}, got {got!r}"


@pytest.mark.day6_task2
def test_manifest_create_append_read_keeps_every_record(tmp_path: Path) -> None:
    """Manifest.read gives back every record written; create replaces a manifest and leaves no temporary file."""
    path = tmp_path / "MANIFEST"
    manifest = Manifest.create(path, RECORDS[0])
    for record in RECORDS[1:6]:
        manifest.append(record)
    manifest.close()
    got = Manifest.read(path)
    assert got == RECORDS[:6], f"read should give back the snapshot and the 5 appended records, got {show(got)}"
    Manifest.create(path, RECORDS[6]).close()
    again = Manifest.read(path)
    assert again == [RECORDS[6]], f"create on an existing manifest must replace it with one snapshot, got {again!r}"
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "MANIFEST")
    assert not leftovers, f"create should leave only MANIFEST behind (its temporary file renamed), found {leftovers}"


@pytest.mark.day6_task2
def test_manifest_torn_tail_is_dropped_but_damage_before_the_end_is_corruption(tmp_path: Path) -> None:
    """Manifest.read drops a torn last record, but raises CorruptionError for damage with records after it."""
    path = tmp_path / "MANIFEST"
    manifest = Manifest.create(path, RECORDS[0])
    manifest.append(RECORDS[1])
    manifest.append(RECORDS[2])
    manifest.close()
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    got = Manifest.read(path)
    assert got == RECORDS[:2], (
        f"a manifest cut inside its last record should read as the 2 records before it, got {got!r}"
    )
    damaged = bytearray(data)
    damaged[20] ^= 0x40  # inside the snapshot's payload, with two records after it
    path.write_bytes(bytes(damaged))
    with pytest.raises(CorruptionError):
        got = Manifest.read(path)
        raise AssertionError(f"a damaged snapshot followed by good records must raise CorruptionError, got {got!r}")
