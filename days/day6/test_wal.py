"""Day 6 visible tests for the write-ahead log (task 1). Run with ``pytest days/day6``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinylsm.errors import CorruptionError
from tinylsm.testkit import show
from tinylsm.wal import RECORD_HEADER, Wal, decode_ops, decode_records, encode_ops, encode_record

RECORDS = [
    [(b"apple", b"red")],
    [(b"banana", None)],
    [(b"cherry", b""), (b"date", b"brown"), (b"apple", None)],
    [(b"elderberry", b"purple" * 20)],
]
"""Four records: a put, a delete, a batch (an empty value, a put, a delete), a longer value."""


def write_log(path: Path, records: list[list[tuple[bytes, bytes | None]]]) -> bytes:
    wal = Wal(path)
    for ops in records:
        wal.append(ops)
    wal.close()
    return path.read_bytes()


def record_ends(records: list[list[tuple[bytes, bytes | None]]]) -> list[int]:
    """The offset at which each record of ``records`` ends in a log that holds them."""
    ends, offset = [], 0
    for ops in records:
        offset += len(encode_record(encode_ops(ops)))
        ends.append(offset)
    return ends


@pytest.mark.day6_task1
def test_wal_replay_gives_back_every_write_in_order(tmp_path: Path) -> None:
    """Wal.replay gives back every appended put and delete in order, empty values and tombstones kept apart."""
    path = tmp_path / "00001.wal"
    write_log(path, RECORDS)
    want = [op for ops in RECORDS for op in ops]
    got = Wal.replay(path)
    assert got == want, (
        f"a log of puts, deletes (value None) and an empty value (b'') should replay as {show(want)}, got {show(got)}"
    )


@pytest.mark.day6_task1
def test_records_frame_payloads_and_ops_round_trip() -> None:
    """encode_ops/decode_ops and encode_record/decode_records round-trip; a record is a header, then its payload."""
    ops = [(b"k", b""), (b"gone", None), (b"key", b"value")]
    payload = encode_ops(ops)
    assert decode_ops(payload, "test.wal") == ops, "decode_ops(encode_ops(ops)) must give ops back"
    data = encode_record(payload) + encode_record(b"second")
    assert len(data) == 2 * RECORD_HEADER.size + len(payload) + len(b"second"), (
        f"a record is a {RECORD_HEADER.size}-byte header followed by its payload: expected "
        f"{2 * RECORD_HEADER.size + len(payload) + 6} bytes for two records, got {len(data)}"
    )
    got = decode_records(data, "test.wal")
    assert got == [payload, b"second"], f"decode_records should give both payloads back, got {show(got)}"


@pytest.mark.day6_task1
def test_torn_tail_is_dropped_and_complete_records_are_kept(tmp_path: Path) -> None:
    """Wal.replay of a log cut inside its last record drops that torn tail and keeps every complete record."""
    data = write_log(tmp_path / "00001.wal", RECORDS)
    ends = record_ends(RECORDS)
    for cut in (ends[2] + 1, ends[2] + RECORD_HEADER.size - 1, ends[2] + RECORD_HEADER.size + 3, len(data) - 1):
        torn = tmp_path / f"cut{cut}.wal"
        torn.write_bytes(data[:cut])
        want = [op for ops in RECORDS[:3] for op in ops]
        try:
            got = Wal.replay(torn)
        except CorruptionError as error:
            raise AssertionError(
                f"a log cut at byte {cut} of {len(data)} (inside its last record) is a torn tail, not "
                f"corruption: replay must keep the 3 complete records, but it raised CorruptionError: {error}"
            ) from None
        assert got == want, (
            f"a log cut at byte {cut} (inside the last record) should replay {show(want)}, got {show(got)}"
        )


@pytest.mark.day6_task1
def test_bad_record_followed_by_good_ones_raises_corruption_error(tmp_path: Path) -> None:
    """Wal.replay raises CorruptionError naming the file when a damaged record has good records after it."""
    data = bytearray(write_log(tmp_path / "00001.wal", RECORDS))
    data[RECORD_HEADER.size + 16] ^= 0x01  # the first byte of the first record's value, b"red"
    damaged = tmp_path / "00002.wal"
    damaged.write_bytes(bytes(data))
    with pytest.raises(CorruptionError) as raised:
        got = Wal.replay(damaged)
        raise AssertionError(
            f"the first record's value was damaged and three good records follow it: replay must raise "
            f"CorruptionError (a torn tail can only be at the end), but it returned {show(got)}"
        )
    assert "00002.wal" in str(raised.value), f"the error should name the file 00002.wal: {raised.value}"
