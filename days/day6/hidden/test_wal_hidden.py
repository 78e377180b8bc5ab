"""Day 6 hidden tests for the write-ahead log: exact bytes, every truncation, every bit flip."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from checker.grading.isolation.engine import watch_file_calls
from tinylsm.errors import CorruptionError
from tinylsm.options import MAX_KEY_SIZE, MAX_VALUE_SIZE
from tinylsm.testkit import FsyncFailure, show
from tinylsm.wal import Wal, decode_ops, decode_records, encode_ops, encode_record

RECORDS = [
    [(b"a", b"1")],
    [(b"gone", None)],
    [(b"b", b""), (b"c", b"three"), (b"a", None)],
    [(b"d", b"four")],
]
"""A put, a delete, a batch (empty value, put, delete) and a last put: 109 bytes in all."""


def log_bytes(records: list[list[tuple[bytes, bytes | None]]]) -> tuple[bytes, list[int]]:
    """The bytes of a log holding ``records`` and the offset where each record ends."""
    data, ends = b"", []
    for ops in records:
        data += encode_record(encode_ops(ops))
        ends.append(len(data))
    return data, ends


def replay_bytes(data: bytes) -> list[tuple[bytes, bytes | None]]:
    return [op for payload in decode_records(data, "test.wal") for op in decode_ops(payload, "test.wal")]


def ops_of(records: list[list[tuple[bytes, bytes | None]]]) -> list[tuple[bytes, bytes | None]]:
    return [op for ops in records for op in ops]


@pytest.mark.day6_task1
def test_record_and_payload_bytes_follow_the_pinned_format() -> None:
    """A WAL record or its payload is not laid out byte for byte as the chapter's tables say."""
    payload = encode_ops([(b"key", b"val"), (b"del", None)])
    want_payload = (
        struct.pack("<I", 2) + struct.pack("<BHI", 0, 3, 3) + b"keyval" + struct.pack("<BHI", 1, 3, 0) + b"del"
    )
    assert payload == want_payload, f"encode_ops gave {payload.hex(' ')}, expected {want_payload.hex(' ')}"
    record = encode_record(b"abc")
    length = struct.pack("<I", 3)
    want = length + struct.pack("<II", zlib.crc32(length), zlib.crc32(b"abc")) + b"abc"
    assert record == want, (
        f"encode_record(b'abc') gave {record.hex(' ')}, expected {want.hex(' ')}: payload_len (u32), the "
        "CRC-32 of those 4 bytes, the CRC-32 of the payload, then the payload"
    )


@pytest.mark.day6_task1
def test_every_truncation_of_a_log_replays_exactly_its_complete_records(tmp_path: Path) -> None:
    """A log cut at some byte (a torn tail) did not replay exactly the records that were complete before the cut."""
    data, ends = log_bytes(RECORDS)
    near_ends = {cut for end in [0, *ends] for cut in (end - 1, end, end + 1, end + 7)}
    for cut in range(len(data) + 1):
        complete = sum(1 for end in ends if end <= cut)
        want = ops_of(RECORDS[:complete])
        try:
            if cut in near_ends:  # through a real file; elsewhere the same bytes decoded in memory
                path = tmp_path / f"{cut:05d}.wal"
                path.write_bytes(data[:cut])
                got = Wal.replay(path)
            else:
                got = replay_bytes(data[:cut])
        except CorruptionError as error:
            raise AssertionError(
                f"a log cut at byte {cut} of {len(data)} is a torn tail, not corruption, but replay raised: {error}"
            ) from None
        assert got == want, f"a log cut at byte {cut} of {len(data)}: expected {show(want)}, got {show(got)}"


@pytest.mark.day6_task1
def test_zero_filled_tail_is_a_torn_tail() -> None:
    """Zero bytes where the last record was being written (a crash after the file grew) were reported as corruption."""
    data, ends = log_bytes(RECORDS)
    last_start = ends[-2]
    cases = {
        "1 zero byte after the records": data + b"\0",
        "11 zero bytes after the records": data + b"\0" * 11,
        "12 zero bytes after the records (a whole header of zeros)": data + b"\0" * 12,
        "40 zero bytes after the records": data + b"\0" * 40,
        "the last record's payload zeroed": data[: last_start + 12] + b"\0" * (len(data) - last_start - 12),
        "the last record entirely zeroed": data[:last_start] + b"\0" * (len(data) - last_start),
    }
    for what, damaged in cases.items():
        complete = RECORDS if len(damaged) > len(data) else RECORDS[:-1]
        try:
            got = replay_bytes(damaged)
        except CorruptionError as error:
            raise AssertionError(f"{what}: a torn tail must be dropped, but replay raised: {error}") from None
        assert got == ops_of(complete), f"{what}: expected {show(ops_of(complete))}, got {show(got)}"


@pytest.mark.day6_task1
@pytest.mark.invariant
def test_every_single_bit_flip_is_caught_or_drops_only_the_last_record() -> None:
    """A flipped bit in a WAL gave a wrong value, a wrong exception, or a silent loss of records before the last."""
    data, ends = log_bytes(RECORDS)
    for bit in range(len(data) * 8):
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        record = next(i for i, end in enumerate(ends) if bit // 8 < end)
        try:
            got = replay_bytes(bytes(damaged))
        except CorruptionError:
            continue
        except Exception as error:
            raise AssertionError(
                f"flipping bit {bit % 8} of byte {bit // 8} made replay raise {type(error).__name__}: {error}; "
                "damage must always be reported as CorruptionError"
            ) from None
        allowed = ops_of(RECORDS[:-1])
        assert record == len(RECORDS) - 1 and got == allowed, (
            f"flipping bit {bit % 8} of byte {bit // 8} (in record {record} of {len(RECORDS)}) replayed "
            f"{show(got)}; only damage in the last record may be dropped as a torn tail (giving "
            f"{show(allowed)}): elsewhere it must raise CorruptionError"
        )


@pytest.mark.day6_task1
def test_damaged_length_is_caught_by_the_header_checksum() -> None:
    """A record length damaged on disk was trusted (its header CRC not checked), hiding the records after it."""
    data, _ = log_bytes(RECORDS)
    for wrong_length in (len(data), 2**31, 1, 0):
        damaged = struct.pack("<I", wrong_length) + data[4:]
        with pytest.raises(CorruptionError):
            got = replay_bytes(damaged)
            raise AssertionError(
                f"the first record's length was changed to {wrong_length} (its header CRC no longer matches) with "
                f"three records after it: replay must raise CorruptionError, got {show(got)}"
            )


@pytest.mark.day6_task1
@pytest.mark.parametrize(
    "payload,what",
    [
        (b"", "an empty payload"),
        (b"\x01\x00", "a payload shorter than its op count"),
        (struct.pack("<I", 1), "an op count of 1 with no op"),
        (struct.pack("<I", 1) + struct.pack("<BHI", 2, 1, 0) + b"k", "an unknown kind 2"),
        (struct.pack("<I", 1) + struct.pack("<BHI", 1, 1, 2) + b"kvv", "a tombstone with value bytes"),
        (struct.pack("<I", 1) + struct.pack("<BHI", 0, 0, 1) + b"v", "an empty key"),
        (struct.pack("<I", 1) + struct.pack("<BHI", 0, 1, 9) + b"kv", "a value running past the payload"),
        (struct.pack("<I", 1) + struct.pack("<BHI", 0, 1, 1) + b"kv!", "a stray byte after the ops"),
        (struct.pack("<I", 3) + struct.pack("<BHI", 0, 1, 1) + b"kv", "an op count larger than the ops"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_decode_ops_refuses_malformed_payloads(payload: bytes, what: str) -> None:
    """A payload whose CRC matched but whose operations do not parse exactly was not refused with CorruptionError."""
    try:
        got = decode_ops(payload, "00007.wal")
    except CorruptionError as error:
        assert "00007.wal" in str(error), f"{what}: the error should name the file 00007.wal, got: {error}"
        return
    except Exception as error:
        raise AssertionError(f"{what}: decode_ops raised {type(error).__name__} instead of CorruptionError") from None
    raise AssertionError(f"{what}: decode_ops must raise CorruptionError, returned {show(got)}")


@pytest.mark.day6_task1
def test_longest_key_and_largest_value_round_trip(tmp_path: Path) -> None:
    """A batch holding the longest key (65,535 bytes) and the largest value (1 MiB) did not replay intact."""
    ops = [(b"k" * MAX_KEY_SIZE, b"small"), (b"big", b"v" * MAX_VALUE_SIZE), (b"k" * MAX_KEY_SIZE, None)]
    wal = Wal(tmp_path / "00001.wal")
    wal.append(ops)
    wal.append([(b"after", b"1")])
    wal.close()
    got = Wal.replay(tmp_path / "00001.wal")
    assert got == [*ops, (b"after", b"1")], f"the replayed operations differ: {show(got)}"


@pytest.mark.day6_task1
def test_sync_uses_the_sync_wrapper_and_puts_appends_in_the_file(tmp_path: Path) -> None:
    """Wal.sync did not go through sync_wrapper, or did not push the appended records into the file."""
    path = tmp_path / "00003.wal"
    calls: list[str] = []

    def wrapper(fsync):
        def sync() -> None:
            calls.append("sync")
            fsync()

        return sync

    wal = Wal(path, wrapper)
    wal.append([(b"a", b"1")])
    wal.append([(b"b", None)])
    wal.sync()
    assert calls == ["sync"], f"Wal.sync must call the function sync_wrapper returned (day 7's group commit): {calls}"
    on_disk = Wal.replay(path)
    assert on_disk == [(b"a", b"1"), (b"b", None)], (
        f"after sync() the file itself must hold every appended record (flush the buffer, then fsync): {show(on_disk)}"
    )
    wal.append([(b"c", b"3")])
    wal.close()
    wal.close()
    wal.sync()  # after close: nothing left to sync, and no error
    reopened = Wal(path)
    reopened.append([(b"d", b"4")])
    reopened.close()
    got = Wal.replay(path)
    assert got == [(b"a", b"1"), (b"b", None), (b"c", b"3"), (b"d", b"4")], (
        f"close must write everything; a Wal opened on an existing file must append after its records: {show(got)}"
    )


@pytest.mark.day6_task1
def test_once_an_fsync_of_a_log_failed_no_later_sync_of_it_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync after a failed fsync of the same WAL returned, though the failed fsync may have dropped its writes."""
    path = tmp_path / "00001.wal"
    wal = Wal(path)
    wal.append([(b"k", b"v")])
    full_disk = FsyncFailure(path)
    watch_file_calls(monkeypatch, full_disk)
    with pytest.raises(OSError):
        wal.sync()
    assert full_disk.failed, "the test's failing disk never met an fsync: sync must fsync the log"
    wal.append([(b"k2", b"v2")])
    for attempt in ("sync", "close"):
        try:
            getattr(wal, attempt)()
        except OSError:
            continue
        pytest.fail(
            f"the first fsync of the log failed, then {attempt}() returned as if the log were durable. A failed "
            "fsync can leave the pages it did not write marked clean, so the next fsync may report success "
            "without writing them: remember the failure, and make every later sync (and close) raise OSError"
        )
    try:
        wal.sync()
    except OSError:
        return
    pytest.fail("after a failed fsync and a close, sync() returned: a closed log is durable only if its fsyncs were")
