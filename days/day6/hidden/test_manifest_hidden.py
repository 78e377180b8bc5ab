"""Day 6 hidden tests for the manifest: exact bytes, damage, and the durable steps of create and append."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest

from checker.grading.isolation.engine import watch_file_calls
from tinylsm.errors import CorruptionError
from tinylsm.manifest import Flush, Manifest, NewMemtable, Snapshot, decode_manifest_record, encode_manifest_record
from tinylsm.state import CompactionRecord, LevelCompactionTask, TieredCompactionTask
from tinylsm.testkit import FsyncFailure, show
from tinylsm.wal import decode_records, encode_record

SNAPSHOT = Snapshot(strategy=2, next_id=12, memtables=(10, 11), l0=(), levels=((9,), (7, 8)))
APPENDED = [
    NewMemtable(12),
    Flush(10),
    CompactionRecord(TieredCompactionTask(((10,), (9,)), False), (13,)),
    Flush(11),
]
"""A snapshot of a tiered tree, then records as a running engine appends them."""


def manifest_bytes() -> tuple[bytes, list[int]]:
    data, ends = b"", []
    for record in [SNAPSHOT, *APPENDED]:
        data += encode_record(encode_manifest_record(record))
        ends.append(len(data))
    return data, ends


def ids(*values: int) -> bytes:
    return struct.pack(f"<I{len(values)}Q", len(values), *values)


@pytest.mark.day6_task2
def test_record_payloads_follow_the_pinned_format() -> None:
    """A manifest record's payload is not laid out byte for byte as the chapter's table says."""
    cases = [
        (NewMemtable(5), b"\x02" + struct.pack("<Q", 5)),
        (Flush(7), b"\x03" + struct.pack("<Q", 7)),
        (
            Snapshot(3, 9, (8,), (7, 6), ((1, 2), ())),
            b"\x01\x03" + struct.pack("<Q", 9) + ids(8) + ids(7, 6) + struct.pack("<I", 2) + ids(1, 2) + ids(),
        ),
        (
            CompactionRecord(LevelCompactionTask(0, (7, 6), 1, (1,), False), (10, 11)),
            b"\x04\x00\x01\x00" + ids(7, 6) + b"\x01" + ids(1) + b"\x00" + ids(10, 11),
        ),
        (
            CompactionRecord(TieredCompactionTask(((4,), (2, 3)), True), (5,), full=True),
            b"\x04\x01\x02" + struct.pack("<I", 2) + ids(4) + ids(2, 3) + b"\x01" + ids(5),
        ),
    ]
    for record, want in cases:
        got = encode_manifest_record(record)
        assert got == want, f"{record!r} encoded as {got.hex(' ')}, expected {want.hex(' ')}"


@pytest.mark.day6_task2
def test_every_truncation_of_a_manifest_reads_exactly_its_complete_records(tmp_path: Path) -> None:
    """A manifest cut at some byte (a torn tail) did not read back exactly the records complete before the cut."""
    data, ends = manifest_bytes()
    records = [SNAPSHOT, *APPENDED]
    near_ends = {cut for end in [0, *ends] for cut in (end - 1, end, end + 1, end + 7)}
    for cut in range(len(data) + 1):
        want = records[: sum(1 for end in ends if end <= cut)]
        try:
            if cut in near_ends:  # through a real file; elsewhere the same bytes decoded in memory
                path = tmp_path / f"MANIFEST-{cut}"
                path.write_bytes(data[:cut])
                got = Manifest.read(path)
            else:
                got = [decode_manifest_record(p, "MANIFEST") for p in decode_records(data[:cut], "MANIFEST")]
        except CorruptionError as error:
            raise AssertionError(f"a manifest cut at byte {cut} is a torn tail, but read raised: {error}") from None
        assert got == want, f"a manifest cut at byte {cut} of {len(data)}: expected {show(want)}, got {show(got)}"


@pytest.mark.day6_task2
@pytest.mark.invariant
def test_every_single_bit_flip_is_caught_or_drops_only_the_last_record() -> None:
    """A flipped bit in a manifest gave a wrong record, a wrong exception, or dropped records before the last."""
    data, ends = manifest_bytes()
    records = [SNAPSHOT, *APPENDED]
    for bit in range(len(data) * 8):
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        where = next(i for i, end in enumerate(ends) if bit // 8 < end)
        try:
            got = [decode_manifest_record(p, "MANIFEST") for p in decode_records(bytes(damaged), "MANIFEST")]
        except CorruptionError:
            continue
        except Exception as error:
            raise AssertionError(
                f"flipping bit {bit % 8} of byte {bit // 8} made read raise {type(error).__name__}: {error}"
            ) from None
        assert where == len(records) - 1 and got == records[:-1], (
            f"flipping bit {bit % 8} of byte {bit // 8} (in record {where}) read back {show(got)}; only damage in "
            "the last record may be dropped as a torn tail, anything else must raise CorruptionError"
        )


@pytest.mark.day6_task2
@pytest.mark.parametrize(
    "payload,what",
    [
        (b"", "an empty payload"),
        (b"\x09" + struct.pack("<Q", 1), "an unknown record type 9"),
        (b"\x03" + struct.pack("<Q", 1) + b"\x00", "a flush with a stray byte"),
        (b"\x02\x01\x00", "a new-memtable record cut short"),
        (b"\x01\x00" + struct.pack("<Q", 2) + struct.pack("<I", 1000), "a snapshot listing more ids than it holds"),
        (b"\x04\x02\x01" + struct.pack("<I", 0) + b"\x00" + ids(), "a compaction with a full flag of 2"),
        (b"\x04\x00\x07" + ids(), "a compaction with an unknown task kind"),
        (b"\x04\x00\x02" + struct.pack("<I", 1 << 30), "a tiered task listing more tiers than it holds"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_decode_refuses_malformed_records(payload: bytes, what: str) -> None:
    """A manifest payload that does not parse exactly was not refused with CorruptionError."""
    try:
        got = decode_manifest_record(payload, "MANIFEST")
    except CorruptionError:
        return
    except Exception as error:
        raise AssertionError(f"{what}: decoding raised {type(error).__name__} instead of CorruptionError") from None
    raise AssertionError(f"{what}: decoding must raise CorruptionError, returned {got!r}")


@pytest.mark.day6_task2
@pytest.mark.parametrize("flag", ["full", "is_bottom"])
def test_a_flag_byte_other_than_0_or_1_is_refused(flag: str) -> None:
    """A compaction record whose full or is_bottom byte held 7 was read as True instead of CorruptionError."""
    payload = bytearray(encode_manifest_record(CompactionRecord(LevelCompactionTask(0, (7,), 1, (1,), False), (9,))))
    position = 1 if flag == "full" else len(payload) - len(ids(9)) - 1  # full follows the type; is_bottom the task
    assert payload[position] == 0, f"the test expects {flag} at byte {position} of {payload.hex(' ')}"
    payload[position] = 7
    with pytest.raises(CorruptionError):
        got = decode_manifest_record(bytes(payload), "MANIFEST")
        pytest.fail(f"a {flag} byte of 7 must be refused (a flag is 0 or 1: anything else is damage), got {got!r}")


@pytest.mark.day6_task2
def test_large_snapshot_round_trips(tmp_path: Path) -> None:
    """A snapshot of a large tree (thousands of ids in many levels) did not read back intact."""
    levels = tuple(tuple(range(1000 * level + 1, 1000 * level + 1 + 600)) for level in range(1, 6))
    snapshot = Snapshot(3, 7000, tuple(range(6990, 7000)), tuple(range(900, 800, -1)), levels)
    Manifest.create(tmp_path / "MANIFEST", snapshot).close()
    got = Manifest.read(tmp_path / "MANIFEST")
    assert got == [snapshot], f"the large snapshot read back as {show(got)}"


class DurableSteps:
    """Records fsyncs (with what the file held) and renames inside one directory, in order."""

    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.directory = directory
        self.events: list[tuple[str, str, bytes]] = []
        watch_file_calls(monkeypatch, self._observe)

    def _observe(self, when: str, call: str, arguments: list) -> None:
        if call == "fsync" and when == "after":
            status = arguments[0]
            if status["folder"]:
                self.events.append(("fsync-directory", "", b""))
                return
            for entry in os.scandir(self.directory):
                if entry.inode() == status["inode"]:
                    self.events.append(("fsync", entry.name, Path(entry.path).read_bytes()))
        elif call in ("replace", "rename") and when == "before":
            source, target = Path(arguments[0]), Path(arguments[1])
            old = target.read_bytes() if target.exists() else b""
            self.events.append(("replace", f"{source.name} -> {target.name}", old))


@pytest.mark.day6_task2
def test_create_writes_a_synced_temporary_file_then_replaces_and_syncs_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Manifest.create wrote into MANIFEST in place, renamed a file that was not fsynced, or skipped the dir fsync."""
    path = tmp_path / "MANIFEST"
    first = Manifest.create(path, SNAPSHOT)
    first.append(APPENDED[0])
    first.close()
    old = path.read_bytes()
    steps = DurableSteps(tmp_path, monkeypatch)
    new_snapshot = Snapshot(2, 14, (12, 13), (), ((13,), (7, 8)))
    Manifest.create(path, new_snapshot).close()
    events = steps.events
    renames = [i for i, event in enumerate(events) if event[0] == "replace"]
    assert len(renames) == 1, f"create must rename one temporary file over MANIFEST (os.replace), saw {events}"
    rename = renames[0]
    source, _, target = events[rename][1].partition(" -> ")
    assert target == "MANIFEST" and source != "MANIFEST", (
        f"the rename must go from a temporary file to MANIFEST: {source} -> {target}"
    )
    assert events[rename][2] == old, "the old MANIFEST changed before the rename: create must not write into it"
    synced = [i for i, event in enumerate(events[:rename]) if event[:2] == ("fsync", source)]
    new_bytes = encode_record(encode_manifest_record(new_snapshot))
    assert synced and events[synced[-1]][2] == new_bytes, (
        f"the temporary file {source} must be fsynced, holding the whole new snapshot, before it is renamed"
    )
    assert any(event[0] == "fsync-directory" for event in events[rename + 1 :]), (
        "after os.replace the directory must be fsynced, or the rename itself may not survive a power cut"
    )
    assert Manifest.read(path) == [new_snapshot], "after create, MANIFEST must hold the new snapshot and nothing else"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MANIFEST"], "the temporary file must be gone"


@pytest.mark.day6_task2
def test_append_is_durable_before_it_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Manifest.append returned before the record was written and fsynced."""
    path = tmp_path / "MANIFEST"
    manifest = Manifest.create(path, SNAPSHOT)
    steps = DurableSteps(tmp_path, monkeypatch)
    want = encode_record(encode_manifest_record(SNAPSHOT))
    for record in APPENDED:
        before = len(steps.events)
        manifest.append(record)
        want += encode_record(encode_manifest_record(record))
        synced = [event for event in steps.events[before:] if event[:2] == ("fsync", "MANIFEST")]
        assert synced and synced[-1][2] == want, (
            f"after append({record!r}) returned, MANIFEST must have been fsynced with the record in it"
        )
    manifest.close()
    assert Manifest.read(path) == [SNAPSHOT, *APPENDED], (
        "Manifest.read must give back the snapshot and every appended record"
    )


@pytest.mark.day6_task2
def test_a_failed_append_leaves_the_manifest_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Manifest.append that failed (a full disk at its fsync) left its record in the file, to be read later."""
    path = tmp_path / "MANIFEST"
    manifest = Manifest.create(path, SNAPSHOT)
    manifest.append(APPENDED[0])
    before = path.read_bytes()
    full_disk = FsyncFailure(path)
    watch_file_calls(monkeypatch, full_disk)
    with pytest.raises(OSError):
        manifest.append(APPENDED[1])
    assert full_disk.failed, "the test's full disk never met the append's fsync: append must fsync the MANIFEST"
    after = path.read_bytes()
    assert after == before, (
        f"the append failed, so its record must not stay in MANIFEST: nobody knows whether it reached the disk, and "
        f"a recovery that finds it applies an edit the engine never made. The file grew from {len(before)} to "
        f"{len(after)} bytes; cut it back to its size before the append"
    )
    monkeypatch.undo()
    manifest.append(APPENDED[2])  # the disk has room again
    manifest.close()
    records = Manifest.read(path)
    assert records == [SNAPSHOT, APPENDED[0], APPENDED[2]], f"expected the records that were appended, got {records}"
