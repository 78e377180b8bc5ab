"""Day 6 hidden tests: a torn tail only where a crash can tear a write, every other damage refused."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from checker.grading.isolation.engine import watch_file_calls
from tinylsm.engine import LsmStorage
from tinylsm.errors import CorruptionError
from tinylsm.files import wal_path
from tinylsm.manifest import Flush, Manifest, NewMemtable, Snapshot, decode_manifest_record, encode_manifest_record
from tinylsm.options import NoCompaction
from tinylsm.state import CompactionRecord
from tinylsm.testkit import options_for_day, show
from tinylsm.wal import Wal, decode_records, encode_ops, encode_record

OpenDb = Callable[..., LsmStorage]
SIZES = {"target_sst_size": 300, "block_size": 128, "num_memtable_limit": 50, "compaction": NoCompaction()}
FLIPS = (1, 5, 9, 14)
"""Offsets inside a record: its length, its header CRC, its payload CRC, its payload."""
FLIP_NAMES = ["length", "header-crc", "payload-crc", "payload"]


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[OpenDb]:
    """Opens engines (day 6 options, small memtables, no compaction); closes what a test leaves open."""
    opened: list[LsmStorage] = []

    def open_(path: Path, **overrides: object) -> LsmStorage:
        db = LsmStorage.open(path, options_for_day(6, **{**SIZES, **overrides}))
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


def record_starts(data: bytes) -> list[int]:
    """Where each record of a WAL or MANIFEST starts, read from the pinned header (payload_len first)."""
    starts, offset = [], 0
    while offset + 12 <= len(data):
        starts.append(offset)
        offset += 12 + struct.unpack_from("<I", data, offset)[0]
    return starts


def write(db: LsmStorage, n: int) -> None:
    db.put(b"key%02d" % (n % 15), b"value %d " % n + b"p" * 30)


def open_with_writes(open_db: OpenDb, directory: Path, count: int = 40) -> LsmStorage:
    """Open ``directory`` and make ``count`` writes (a few freezes, nothing flushed)."""
    db = open_db(directory)
    for n in range(count):
        write(db, n)
    return db


def contents_after(count: int) -> dict[bytes, bytes]:
    model: dict[bytes, bytes] = {}
    for n in range(count):
        model[b"key%02d" % (n % 15)] = b"value %d " % n + b"p" * 30
    return model


def session(open_db: OpenDb, path: Path, writes: int = 40) -> list[int]:
    """``writes`` writes over several memtables, none flushed, then a clean close; the WAL ids, oldest first."""
    open_with_writes(open_db, path, writes).close()
    wals = sorted(int(name[:-4]) for name in os.listdir(path) if name.endswith(".wal"))
    assert len(wals) >= 3, f"test setup: expected several WALs, got {wals}"
    return wals


def files_of(path: Path) -> dict[str, bytes]:
    return {name: (path / name).read_bytes() for name in sorted(os.listdir(path)) if name != "LOCK"}


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def expect_refused(open_db: OpenDb, directory: Path, what: str, names: str) -> None:
    """Opening ``directory`` must raise CorruptionError naming ``names``, and change no file."""
    before = files_of(directory)
    with pytest.raises(CorruptionError) as raised:
        db = open_db(directory)
        got = dict(db.scan())
        pytest.fail(f"{what}: recovery must raise CorruptionError, but it opened with {show(sorted(got))}")
    assert names in str(raised.value) and "offset" in str(raised.value), (
        f"{what}: the error should name {names} and the offset of the damage: {raised.value}"
    )
    assert files_of(directory) == before, f"{what}: a refused open must change no file, but the directory changed"


def last_manifest_record(directory: Path) -> tuple[object, int]:
    data = (directory / "MANIFEST").read_bytes()
    start = record_starts(data)[-1]
    (payload,) = decode_records(data[start:], "MANIFEST")
    return decode_manifest_record(payload, "MANIFEST"), start


# ----------------------------------------------------------------------------- task 1: the log


@pytest.mark.day6_task1
def test_torn_tail_refused_when_not_allowed(tmp_path: Path) -> None:
    """decode_records(..., allow_torn_tail=False) dropped a damaged last record instead of raising CorruptionError."""
    records = [encode_record(encode_ops([(b"k%d" % n, b"v" * n)])) for n in range(1, 4)]
    clean = b"".join(records)
    last = len(clean) - len(records[-1])
    assert len(decode_records(clean, "x.wal", allow_torn_tail=False)) == 3, "a clean log decodes whole"
    damaged = bytearray(clean)
    damaged[-1] ^= 1
    for label, data in {
        "cut in its header": clean[: last + 5],
        "cut in its payload": clean[:-2],
        "flipped payload": bytes(damaged),
        "zero bytes": clean[:last] + bytes(len(records[-1])),
    }.items():
        assert len(decode_records(data, "x.wal")) == 2, f"last record {label}: allowed torn tail keeps 2 records"
        with pytest.raises(CorruptionError) as raised:
            got = decode_records(data, "x.wal", allow_torn_tail=False)
            pytest.fail(f"last record {label}, no torn tail allowed: expected CorruptionError, got {show(got)}")
        assert "x.wal" in str(raised.value) and str(last) in str(raised.value), (
            f"the error should name x.wal and offset {last}: {raised.value}"
        )


@pytest.mark.day6_task1
def test_cut_torn_tail_removes_exactly_the_torn_record(tmp_path: Path) -> None:
    """Wal.cut_torn_tail did not cut the log back to its last complete record, or touched a clean log."""
    path = tmp_path / "00001.wal"
    wal = Wal(path)
    for n in range(3):
        wal.append([(b"k%d" % n, b"v%d" % n)])
    wal.close()
    clean = path.read_bytes()
    assert Wal.cut_torn_tail(path) == 0 and path.read_bytes() == clean, "a clean log must be left as it is"
    path.write_bytes(clean + encode_record(encode_ops([(b"torn", b"x" * 20)]))[:-7])
    cut = Wal.cut_torn_tail(path)
    assert path.read_bytes() == clean, "after cut_torn_tail the log should hold exactly its 3 complete records"
    assert cut == len(encode_record(encode_ops([(b"torn", b"x" * 20)]))) - 7, f"it should report the bytes cut: {cut}"
    replayed = Wal.replay(path, allow_torn_tail=False)
    assert replayed == [(b"k%d" % n, b"v%d" % n) for n in range(3)], (
        f"the log cut back must replay its 3 records without a torn tail, got {show(replayed)}"
    )


# ----------------------------------------------------------------------------- task 2: the manifest


@pytest.mark.day6_task1
@pytest.mark.parametrize("zeroed", ["header", "record"])
def test_zeros_followed_by_records_are_damage_not_a_torn_tail(zeroed: str) -> None:
    """Zero bytes in the middle of a log, with records after them, were taken for a torn tail (the records dropped)."""
    records = [encode_record(b"payload %d" % n) for n in range(3)]
    cleared = 12 if zeroed == "header" else len(records[1])
    data = records[0] + bytes(cleared) + records[1][cleared:] + records[2]
    with pytest.raises(CorruptionError):
        got = decode_records(data, "00001.wal")
        pytest.fail(
            f"the second record's {zeroed} is all zeros but a complete record follows: a crash only leaves zeros at "
            f"the end of a log, so this is damage (CorruptionError), not a torn tail; got {show(got)}"
        )


@pytest.mark.day6_task1
@pytest.mark.parametrize("fill", [b"\x00", b"\xff"], ids=["zeros", "ones"])
@pytest.mark.parametrize("unwritten_from", [2, 6, 10, 20], ids=["length", "header-crc", "payload-crc", "payload"])
def test_sectors_never_written_from_inside_a_record_on_are_a_torn_tail(fill: bytes, unwritten_from: int) -> None:
    """A log whose last sectors were never written (zeros or 0xFF bytes from inside a record to the end) was refused."""
    records = [encode_record(b"payload %d;" % n * 3) for n in range(4)]
    data = b"".join(records)
    cut = len(records[0]) + unwritten_from
    powered_off = data[:cut] + fill * (len(data) - cut)
    try:
        got = decode_records(powered_off, "00001.wal")
    except CorruptionError as error:
        pytest.fail(
            f"the file grew to {len(data)} bytes, but everything from byte {cut} (inside the second record) on is "
            f"{fill!r} bytes: sectors a power cut left unwritten, so nothing after the first record was ever on disk. "
            f"That is a torn tail (keep the first record), not damage; got {error}"
        )
    assert got == [b"payload 0;" * 3], f"expected the first record alone, before the torn tail; got {show(got)}"


@pytest.mark.day6_task2
def test_manifest_whose_last_sectors_were_never_written_reads_to_its_last_whole_record(tmp_path: Path) -> None:
    """A MANIFEST whose last sectors were never written (zeros from inside its last record on) was refused."""
    path = tmp_path / "MANIFEST"
    manifest = Manifest.create(path, Snapshot(strategy=0, next_id=3, memtables=(2,), l0=(1,), levels=()))
    manifest.append(NewMemtable(3))
    manifest.close()
    data = path.read_bytes()
    last = len(encode_record(encode_manifest_record(NewMemtable(3))))
    cut = len(data) - last + 5  # inside the last record's header_crc
    path.write_bytes(data[:cut] + bytes(len(data) - cut))
    try:
        records = Manifest.read(path)
    except CorruptionError as error:
        pytest.fail(
            f"MANIFEST holds zeros from byte {cut}, inside its last record, to its end: sectors a power cut left "
            f"unwritten while that record was appended. Read it as a torn tail, not as damage; got {error}"
        )
    assert len(records) == 1 and isinstance(records[0], Snapshot), (
        f"expected the snapshot alone, before the torn record; got {records}"
    )


@pytest.mark.day6_task1
def test_cut_torn_tail_fsyncs_the_log_after_cutting_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Wal.cut_torn_tail returned before the shortened log was fsynced: a power cut could bring the torn tail back."""
    path = tmp_path / "00001.wal"
    wal = Wal(path)
    wal.append([(b"k", b"v")])
    wal.close()
    clean = path.read_bytes()
    path.write_bytes(clean + encode_record(encode_ops([(b"torn", b"x" * 20)]))[:-7])
    inode = os.stat(path).st_ino
    synced_sizes: list[int] = []

    def observe(when: str, call: str, arguments: list) -> None:
        if call == "fsync" and when == "after" and arguments[0]["inode"] == inode:
            synced_sizes.append(arguments[0]["size"])

    watch_file_calls(monkeypatch, observe)
    Wal.cut_torn_tail(path)
    assert len(clean) in synced_sizes, (
        f"after the cut the log holds {len(clean)} bytes, and cut_torn_tail must fsync it at that size before it "
        f"returns (a truncation is a write too); fsyncs of the log saw sizes {synced_sizes}"
    )


@pytest.mark.day6_task2
def test_manifest_torn_tail_refused_when_not_allowed(tmp_path: Path) -> None:
    """Manifest.read(..., allow_torn_tail=False) dropped a damaged last record instead of raising CorruptionError."""
    path = tmp_path / "MANIFEST"
    manifest = Manifest.create(path, Snapshot(3, 5, (4,), (), ()))
    manifest.append(NewMemtable(5))
    manifest.close()
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    assert Manifest.read(path) == [Snapshot(3, 5, (4,), (), ())], "an allowed torn tail is dropped"
    with pytest.raises(CorruptionError):
        got = Manifest.read(path, allow_torn_tail=False)
        pytest.fail(f"a MANIFEST cut in its last record, no torn tail allowed: expected CorruptionError, got {got}")


# ----------------------------------------------------------------------------- task 3: recovery


NOT_TORN = [("older", offset, name) for offset, name in zip(FLIPS, FLIP_NAMES, strict=True)] + [
    ("newest", 1, "length"),
    ("newest", 5, "header-crc"),
]
"""Damage that no crash leaves: any flip in an older WAL's last record, a flip in the newest's last header."""


@pytest.mark.day6_task3
@pytest.mark.parametrize("which,offset,name", NOT_TORN, ids=[f"{which}-{name}" for which, _, name in NOT_TORN])
def test_damaged_last_record_that_no_crash_leaves_is_corruption(
    open_db: OpenDb, tmp_path: Path, which: str, offset: int, name: str
) -> None:
    """A damaged last WAL record that no crash can leave (in an older WAL, or a newest WAL's header) was not refused."""
    directory = tmp_path / "db"
    wals = session(open_db, directory)
    path = wal_path(directory, wals[-2] if which == "older" else wals[-1])
    flip(path, record_starts(path.read_bytes())[-1] + offset)
    expect_refused(open_db, directory, f"the {name} of the last record of the {which} WAL {path.name}", path.name)


@pytest.mark.day6_task3
def test_cut_last_record_of_an_older_wal_is_corruption(open_db: OpenDb, tmp_path: Path) -> None:
    """An older WAL cut inside its last record was taken for a torn tail, though it was synced before the next log."""
    directory = tmp_path / "db"
    wals = session(open_db, directory)
    older = wal_path(directory, wals[0])
    older.write_bytes(older.read_bytes()[:-4])
    expect_refused(open_db, directory, f"the older {older.name} cut in its last record", older.name)


@pytest.mark.day6_task3
@pytest.mark.parametrize("offset", [9, 14, -1], ids=["payload-crc", "payload", "last-byte"])
def test_damaged_last_record_of_the_newest_wal_is_a_torn_tail(open_db: OpenDb, tmp_path: Path, offset: int) -> None:
    """A damaged last record of the newest WAL was not dropped as a torn tail, or recovery lost more than that write."""
    directory = tmp_path / "db"
    wals = session(open_db, directory)
    newest = wal_path(directory, wals[-1])
    data = newest.read_bytes()
    flip(newest, record_starts(data)[-1] + offset if offset >= 0 else len(data) - 1)
    db = open_db(directory)
    got = dict(db.scan())
    want = contents_after(40 - 1)
    assert got == want, f"the newest WAL's last write is a torn tail: expect every write but that one, got {show(got)}"


@pytest.mark.day6_task3
def test_torn_tail_is_cut_so_that_later_opens_still_work(open_db: OpenDb, tmp_path: Path) -> None:
    """After a torn tail was dropped, a later open failed: the torn bytes stayed in a log that became an older one."""
    directory = tmp_path / "db"
    wals = session(open_db, directory)
    newest = wal_path(directory, wals[-1])
    newest.write_bytes(newest.read_bytes()[:-3])
    db = open_db(directory)
    for n in range(100, 130):  # enough to freeze the active memtable: the torn log is no longer the newest
        write(db, n)
    want = dict(db.scan())
    db.close()
    again = open_db(directory)
    got = dict(again.scan())
    assert got == want, f"the second reopen should keep every write: {show(sorted(got))}"


@pytest.mark.day6_task3
def test_absolute_consistency_refuses_even_a_torn_tail(open_db: OpenDb, tmp_path: Path) -> None:
    """With wal_recovery_mode="absolute_consistency", a torn tail of the newest WAL was dropped instead of refused."""
    directory = tmp_path / "db"
    session(open_db, directory)
    clean = open_db(directory, wal_recovery_mode="absolute_consistency")
    assert dict(clean.scan()) == contents_after(40), "a clean database opens in absolute_consistency mode"
    write(clean, 40)
    newest = wal_path(directory, clean.state.memtable.id)
    clean.close()
    newest.write_bytes(newest.read_bytes()[:-2])
    expect_refused(
        lambda path: open_db(path, wal_recovery_mode="absolute_consistency"),
        directory,
        f"absolute_consistency, {newest.name} (the newest WAL) cut in its last record",
        newest.name,
    )
    tolerant = open_db(directory)
    assert dict(tolerant.scan()) == contents_after(40), "the default mode drops the torn write and keeps the rest"


def flushed_session(open_db: OpenDb, directory: Path) -> None:
    """Writes over several memtables, then force_flush: the MANIFEST ends with a flush record, the WALs are gone."""
    db = open_with_writes(open_db, directory)
    db.force_flush()
    db.close()


@pytest.mark.day6_task3
@pytest.mark.parametrize("offset", [*FLIPS, -1], ids=[*FLIP_NAMES, "last-byte"])
def test_damaged_manifest_flush_record_whose_wal_is_gone_is_corruption(
    open_db: OpenDb, tmp_path: Path, offset: int
) -> None:
    """A damaged last MANIFEST record was dropped though its flush had deleted the WAL: writes lost, SST deleted."""
    directory = tmp_path / "db"
    flushed_session(open_db, directory)
    record, start = last_manifest_record(directory)
    assert isinstance(record, Flush), f"test setup: the last record should be a flush, got {record}"
    size = len((directory / "MANIFEST").read_bytes())
    flip(directory / "MANIFEST", start + offset if offset >= 0 else size - 1)
    expect_refused(open_db, directory, "the MANIFEST's last record (a flush, its WAL deleted) damaged", "MANIFEST")


@pytest.mark.day6_task3
def test_damaged_flush_record_whose_wal_is_gone_is_corruption_also_when_reopened_without_a_wal(
    open_db: OpenDb, tmp_path: Path
) -> None:
    """A damaged last flush record of a session that logged was dropped when the database was reopened with
    enable_wal=False: the options of the next open do not say whether the last session logged."""
    directory = tmp_path / "db"
    flushed_session(open_db, directory)
    _, start = last_manifest_record(directory)
    flip(directory / "MANIFEST", start + 14)
    expect_refused(
        lambda path: open_db(path, enable_wal=False),
        directory,
        "the MANIFEST's last record (a flush, its WAL deleted) damaged, reopened without a WAL",
        "MANIFEST",
    )


@pytest.mark.day6_task3
def test_a_torn_last_record_of_a_session_without_a_wal_is_dropped_also_when_reopened_with_one(
    open_db: OpenDb, tmp_path: Path
) -> None:
    """A session without a WAL whose MANIFEST ends in a torn record was refused when reopened with the WAL on: its
    memtables never had a log, so a missing one is no sign that a flush had been recorded."""
    directory, crashed = tmp_path / "db", tmp_path / "crashed"
    db = open_db(directory, enable_wal=False)
    db.put(b"a", b"1")
    db.sync()  # without a WAL, a sync flushes: "a" is in an SST
    db.put(b"b", b"2")
    shutil.copytree(directory, crashed)  # the power went while a freeze appended its record
    db.close()
    record = encode_record(encode_manifest_record(NewMemtable(1000)))
    with (crashed / "MANIFEST").open("ab") as file:
        file.write(record[:-4])
    try:
        reopened = open_db(crashed)
    except CorruptionError as error:
        raise AssertionError(
            f"the MANIFEST's torn last record had not taken effect, but reopening with the WAL on raised: {error}"
        ) from None
    got = reopened.get(b"a")
    assert got == b"1", f"the synced write of b'a' should survive, got {got!r}"


@pytest.mark.day6_task3
def test_a_torn_last_record_after_sessions_with_and_without_a_wal_is_dropped(open_db: OpenDb, tmp_path: Path) -> None:
    """A session without a WAL, after one with it, crashed while the MANIFEST's last record was appended, and the
    next open was refused: a memtable that never had a log was taken for one whose log a flush had deleted."""
    directory, crashed = tmp_path / "db", tmp_path / "crashed"
    logged = open_db(directory)
    logged.put(b"a", b"1")
    logged.close()  # b"a" stays in its memtable's WAL
    unlogged = open_db(directory, enable_wal=False)
    first = unlogged.state.memtable.id
    n = 0
    while unlogged.state.memtable.id == first:  # until a freeze appends a new memtable's record
        unlogged.put(b"key%03d" % n, b"v" * 30)
        n += 1
    shutil.copytree(directory, crashed)  # the power went as that record was appended
    unlogged.close()
    manifest = crashed / "MANIFEST"
    os.truncate(manifest, manifest.stat().st_size - 3)
    try:
        reopened = open_db(crashed)
    except CorruptionError as error:
        raise AssertionError(
            f"the MANIFEST's torn last record had not taken effect, but reopening raised: {error}. A flush deletes "
            "only the oldest live memtable's WAL: a newer memtable made without a WAL is no sign of one"
        ) from None
    got = reopened.get(b"a")
    assert got == b"1", f"the write logged in the first session should survive, got {got!r}"


@pytest.mark.day6_task3
def test_damaged_manifest_compaction_record_whose_inputs_are_gone_is_corruption(
    open_db: OpenDb, tmp_path: Path
) -> None:
    """A damaged last MANIFEST record was dropped though its compaction had deleted the input SSTs."""
    directory = tmp_path / "db"
    db = open_with_writes(open_db, directory)
    db.force_flush()
    db.force_full_compaction()
    db.close()
    record, start = last_manifest_record(directory)
    assert isinstance(record, CompactionRecord), f"test setup: the last record should be a compaction, got {record}"
    flip(directory / "MANIFEST", start + 14)
    expect_refused(open_db, directory, "the MANIFEST's last record (a compaction, inputs deleted) damaged", "MANIFEST")


def frozen_session(open_db: OpenDb, directory: Path, writes_after: int) -> int:
    """Writes until a freeze, then ``writes_after`` more: the MANIFEST ends with that memtable's record."""
    db = open_db(directory)
    first = db.state.memtable.id
    count = 0
    while db.state.memtable.id == first:
        write(db, count)
        count += 1
    for _ in range(writes_after):
        write(db, count)
        count += 1
    db.close()
    record, _ = last_manifest_record(directory)
    assert isinstance(record, NewMemtable), f"test setup: the last record should be a new memtable, got {record}"
    return count


@pytest.mark.day6_task3
def test_damaged_manifest_record_of_a_memtable_with_writes_is_corruption(open_db: OpenDb, tmp_path: Path) -> None:
    """A damaged last MANIFEST record was dropped though its memtable's WAL held writes, deleted then as a stray."""
    directory = tmp_path / "db"
    frozen_session(open_db, directory, writes_after=2)
    _, start = last_manifest_record(directory)
    flip(directory / "MANIFEST", start + 14)
    expect_refused(open_db, directory, "the MANIFEST's last record (a new memtable that took writes)", "MANIFEST")


@pytest.mark.day6_task3
def test_torn_manifest_record_nothing_relied_on_is_dropped(open_db: OpenDb, tmp_path: Path) -> None:
    """A torn last MANIFEST record that nothing had relied on yet (its memtable's WAL empty) made the open fail."""
    directory = tmp_path / "db"
    count = frozen_session(open_db, directory, writes_after=0)
    _, start = last_manifest_record(directory)
    flip(directory / "MANIFEST", start + 14)
    db = open_db(directory)
    got = dict(db.scan())
    assert got == contents_after(count), f"every write should be recovered: {show(sorted(got))}"


@pytest.mark.day6_task3
def test_torn_manifest_flush_record_with_its_wal_still_there_recovers_from_the_wal(
    open_db: OpenDb, tmp_path: Path
) -> None:
    """A torn flush record (a crash before its WAL was deleted) did not recover every write from that WAL."""
    directory = tmp_path / "db"
    db = open_with_writes(open_db, directory)
    db.sync()
    last = wal_path(directory, db.state.memtable.id)
    logged = last.read_bytes()
    db.force_flush()  # the active memtable is frozen and flushed last: its flush ends the MANIFEST
    db.close()
    record, start = last_manifest_record(directory)
    assert isinstance(record, Flush) and wal_path(directory, record.sst_id) == last, f"test setup: {record}"
    last.write_bytes(logged)  # the WAL is deleted after the flush record: a crash in the append leaves it
    manifest = directory / "MANIFEST"
    manifest.write_bytes(manifest.read_bytes()[: start + 15])  # the append torn
    reopened = open_db(directory)
    got = dict(reopened.scan())
    assert got == contents_after(40), f"every write should be recovered: {show(sorted(got))}"
