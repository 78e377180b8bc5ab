"""Day 6 hidden tests for damage that is not a torn tail: refuse to open, change nothing, keep live files."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tinylsm.engine import LsmStorage
from tinylsm.errors import CorruptionError, LsmError
from tinylsm.manifest import Flush, NewMemtable, encode_manifest_record
from tinylsm.options import LeveledCompactionOptions, NoCompaction, TieredCompactionOptions
from tinylsm.state import CompactionRecord, LevelCompactionTask, TieredCompactionTask
from tinylsm.testkit import options_for_day, show
from tinylsm.wal import decode_records, encode_record

OpenDb = Callable[..., LsmStorage]


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[OpenDb]:
    """Opens engines on ``tmp_path / "db"`` (day 6 options); closes what a test leaves open."""
    opened: list[LsmStorage] = []

    def open_(**overrides: object) -> LsmStorage:
        db = LsmStorage.open(tmp_path / "db", options_for_day(6, background_work=False, **overrides))
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


def contents(directory: Path) -> dict[str, bytes]:
    """Every file of the database but its LOCK, by name."""
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory)) if name != "LOCK"}


def assert_refused(open_: Callable[[], object], directory: Path, words: str, what: str) -> str:
    """Opening raises CorruptionError naming ``words``, changes no file, and releases the directory."""
    before = contents(directory)
    with pytest.raises(LsmError) as raised:
        open_()
        raise AssertionError(f"{what}: opening must raise CorruptionError, but it opened")
    assert words in str(raised.value), f"{what}: the error should name {words}, got: {raised.value}"
    after = contents(directory)
    changed = sorted(name for name in {*before, *after} if before.get(name) != after.get(name))
    assert not changed, f"{what}: the refused open changed or deleted files: {changed}"
    with pytest.raises(LsmError) as again:
        open_()
    assert "already open" not in str(again.value), f"{what}: the refused open kept the directory's LOCK"
    return str(raised.value)


@pytest.mark.day6_task3
def test_missing_manifest_next_to_a_wal_is_refused_not_a_new_database(open_db: OpenDb, tmp_path: Path) -> None:
    """A database whose MANIFEST was lost was opened as a new one, deleting its WALs as strays."""
    db = open_db()
    db.put(b"a", b"1")
    db.sync()
    db.close()
    (tmp_path / "db" / "MANIFEST").unlink()
    assert_refused(open_db, tmp_path / "db", "MANIFEST", "the MANIFEST is missing next to a WAL holding a synced write")


@pytest.mark.day6_task3
def test_missing_older_wal_of_a_live_memtable_is_corruption_naming_it(open_db: OpenDb, tmp_path: Path) -> None:
    """A live memtable's WAL that was missing was replayed as empty, keeping newer writes without older ones."""
    db = open_db(target_sst_size=64)
    db.put(b"a", b"x" * 70)  # fills the memtable: it is frozen, its WAL fsynced
    db.put(b"b", b"2")
    db.sync()
    db.close()
    (tmp_path / "db" / "00001.wal").unlink()
    assert_refused(
        lambda: open_db(target_sst_size=64),
        tmp_path / "db",
        "00001.wal",
        "00001.wal (an older live memtable's log) is gone",
    )


@pytest.mark.day6_task3
def test_manifest_cut_at_a_record_boundary_never_deletes_the_flushed_sstable(open_db: OpenDb, tmp_path: Path) -> None:
    """A MANIFEST that lost its whole last record (a flush) let recovery delete the flushed SSTable."""
    db = open_db(compaction=NoCompaction())
    db.put(b"a", b"1")
    db.force_flush()
    db.put(b"b", b"2")
    db.close()
    manifest = tmp_path / "db" / "MANIFEST"
    flush = encode_record(encode_manifest_record(Flush(1)))
    data = manifest.read_bytes()
    assert flush in data, "expected a flush record of SSTable 1 in the MANIFEST"
    at = data.rindex(flush)
    manifest.write_bytes(data[:at] + data[at + len(flush) :])
    assert (tmp_path / "db" / "00001.sst").exists(), "expected SSTable 1 on disk after the flush"
    assert_refused(
        lambda: open_db(compaction=NoCompaction()),
        tmp_path / "db",
        "00001.wal",
        "the MANIFEST lost its flush record of 00001 (whose WAL was deleted after it)",
    )


@pytest.mark.day6_task3
def test_damaged_last_flush_record_without_a_wal_keeps_the_sstable(open_db: OpenDb, tmp_path: Path) -> None:
    """With the WAL off, a damaged last flush record made recovery delete the SSTable holding synced data."""
    db = open_db(enable_wal=False)
    db.put(b"a", b"1")
    db.sync()  # without a WAL, sync flushes: the last MANIFEST record is that flush
    db.close()
    manifest = tmp_path / "db" / "MANIFEST"
    data = bytearray(manifest.read_bytes())
    data[-1] ^= 1
    manifest.write_bytes(bytes(data))
    try:
        db = open_db(enable_wal=False)
    except CorruptionError:
        assert (tmp_path / "db" / "00001.sst").exists(), "a refused open deleted the flushed SSTable"
        return
    got = db.get(b"a")
    assert got == b"1", f"a synced write was lost: the flushed SSTable was dropped (get(b'a') gave {show(got)})"


@pytest.mark.day6_task3
def test_a_failed_open_after_recovery_releases_the_directory(open_db: OpenDb, tmp_path: Path) -> None:
    """An open that failed after recovery (a flush meeting a damaged SSTable) kept the LOCK held."""
    options = {"target_sst_size": 256, "compaction": LeveledCompactionOptions(level0_file_num_compaction_trigger=2)}
    db = open_db(**options)
    n = 0
    while not (db.state.l0_sstables and len(db.state.imm_memtables) == 2 and not db.state.memtable.is_empty()):
        db.put(b"k%03d" % (n * 7 % 23), b"v" * 30)
        n += 1
    db.close()
    table = tmp_path / "db" / f"{db.state.l0_sstables[0]:05d}.sst"
    data = bytearray(table.read_bytes())
    data[10] ^= 1  # inside the first data block: found only when a compaction reads it
    table.write_bytes(bytes(data))
    with pytest.raises(CorruptionError):
        open_db(**options)
    try:
        open_db(**options).close()
    except LsmError as error:
        assert "already open" not in str(error), f"the failed open kept the directory's LOCK: {error}"


@pytest.mark.day6_task1
def test_all_ones_header_in_the_middle_of_a_log_is_corruption_not_a_torn_tail() -> None:
    """A header of 0xFF bytes (its CRC matches by chance) made the rest of a log a torn tail, dropping records."""
    records = [encode_record(b"payload %d" % n) for n in range(10)]
    data = bytearray(b"".join(records))
    second = len(records[0])
    data[second : second + 8] = b"\xff" * 8  # payload_len 0xffffffff, header_crc == crc32(b"\xff" * 4)
    with pytest.raises(CorruptionError) as raised:
        got = decode_records(bytes(data), "00001.wal")
        raise AssertionError(
            f"eight records follow the damaged header, but decode_records returned {len(got)} record(s) "
            "as if the rest were a torn tail"
        )
    assert "00001.wal" in str(raised.value) and str(second) in str(raised.value), (
        f"the error should name the log and offset {second}: {raised.value}"
    )


@pytest.mark.day6_task1
def test_a_torn_record_whose_value_holds_a_whole_record_is_a_torn_tail() -> None:
    """A last record cut short was refused as damage because its value held the bytes of a whole record."""
    inner = encode_record(b"")  # a value may hold anything: here the 12 bytes of an empty record
    records = [encode_record(b"payload 0"), encode_record(b"x" * 40 + inner + b"y" * 40)]
    data = b"".join(records)
    try:
        got = decode_records(data[:-20], "00001.wal")
    except CorruptionError as error:
        raise AssertionError(
            f"the log ends inside its last record, a torn tail, but decode_records raised CorruptionError: {error}. "
            "A whole record inside that record's own payload is the writer's data, not a record after it"
        ) from None
    assert got == [b"payload 0"], f"expected the one complete record before the torn tail, got {show(got)}"


@pytest.mark.day6_task1
def test_a_log_cut_inside_a_record_is_still_a_torn_tail() -> None:
    """A last record cut short (nothing complete after its header) was not dropped as a torn tail."""
    records = [encode_record(b"payload %d" % n) for n in range(3)]
    data = b"".join(records)
    got = decode_records(data[:-3], "00001.wal")
    assert got == [b"payload 0", b"payload 1"], f"expected the two complete records, got {show(got)}"


@pytest.mark.day6_task3
@pytest.mark.parametrize("kept", [0, 5])
def test_manifest_without_its_snapshot_is_refused_and_deletes_no_sstable(
    open_db: OpenDb, tmp_path: Path, kept: int
) -> None:
    """A MANIFEST that lost its first record (the snapshot) was read as an empty tree, and the SSTables deleted."""
    db = open_db(enable_wal=False)
    db.put(b"a", b"1")
    db.force_flush()
    db.close()
    manifest = tmp_path / "db" / "MANIFEST"
    manifest.write_bytes(manifest.read_bytes()[:kept])
    assert_refused(lambda: open_db(enable_wal=False), tmp_path / "db", "MANIFEST", f"a MANIFEST cut to {kept} bytes")


@pytest.mark.day6_task1
def test_an_all_ones_header_followed_only_by_a_damaged_record_is_a_torn_tail() -> None:
    """A header of 0xFF bytes followed by records that are all damaged was refused, not dropped as a torn tail."""
    records = [encode_record(b"payload %d" % n) for n in range(3)]
    data = bytearray(b"".join(records))
    second, third = len(records[0]), len(records[0]) + len(records[1])
    data[second : second + 8] = b"\xff" * 8
    data[-1] ^= 0x01  # the third record's header is whole, its payload is not what its CRC says
    got = decode_records(bytes(data), "00001.wal")
    assert got == [b"payload 0"], (
        f"no whole record follows the header at offset {second} (the one at {third} is damaged too), so both are a "
        f"torn tail and only the first record is kept; decode_records returned {show(got)}"
    )


@pytest.mark.day6_task3
@pytest.mark.parametrize(
    "task,full",
    [
        (LevelCompactionTask(0, (), 200, (), True), False),
        (LevelCompactionTask(0, (), 0, (), True), True),
        (LevelCompactionTask(0, (999,), 1, (), False), False),
        (LevelCompactionTask(1, (), 1, (), False), False),
    ],
    ids=["level-beyond-the-tree", "into-level-0", "unknown-input", "from-a-level-into-itself"],
)
def test_manifest_record_with_impossible_content_is_corruption_naming_its_offset(
    open_db: OpenDb, tmp_path: Path, task: LevelCompactionTask, full: bool
) -> None:
    """A MANIFEST record with a good checksum but impossible content crashed recovery or dropped SSTables."""
    db = open_db()
    db.put(b"a", b"1")
    db.force_flush()
    db.force_full_compaction()
    db.close()
    manifest = tmp_path / "db" / "MANIFEST"
    offset = manifest.stat().st_size
    with manifest.open("ab") as file:
        file.write(encode_record(encode_manifest_record(CompactionRecord(task, (), full))))
    message = assert_refused(open_db, tmp_path / "db", "MANIFEST", f"a compaction record {task} at the end")
    assert str(offset) in message, f"the error should name the record's offset {offset}: {message}"


# Records that fit no tree: (bottom table, L0 or newest-tier table) -> the record; the last
# field says whether the database uses tiered compaction.
IMPOSSIBLE_RECORDS: dict[str, tuple[Callable[[int, int], CompactionRecord], bool]] = {
    "tiered-record-in-a-leveled-database": (
        lambda bottom, newest: CompactionRecord(TieredCompactionTask(((bottom,),), True), (50,), False),
        False,
    ),
    "leveled-record-in-a-tiered-database": (
        lambda bottom, newest: CompactionRecord(LevelCompactionTask(0, (), 1, (bottom,), True), (50,), False),
        True,
    ),
    "tiers-not-in-the-tree": (
        lambda bottom, newest: CompactionRecord(TieredCompactionTask(((999,),), True), (50,), False),
        True,
    ),
    "full-record-that-leaves-a-table-out": (
        lambda bottom, newest: CompactionRecord(LevelCompactionTask(0, (newest,), 4, (), True), (50,), True),
        False,
    ),
    "an-input-twice": (
        lambda bottom, newest: CompactionRecord(
            LevelCompactionTask(0, (newest, newest), 4, (bottom,), True), (50,), False
        ),
        False,
    ),
    "an-output-twice": (
        lambda bottom, newest: CompactionRecord(LevelCompactionTask(0, (newest,), 4, (bottom,), True), (50, 50), False),
        False,
    ),
    "an-output-that-is-another-live-table": (
        lambda bottom, newest: CompactionRecord(LevelCompactionTask(0, (), 4, (bottom,), True), (newest,), False),
        False,
    ),
}


@pytest.mark.day6_task3
@pytest.mark.parametrize("case", IMPOSSIBLE_RECORDS)
def test_compaction_record_that_fits_no_tree_is_corruption_naming_its_offset(
    open_db: OpenDb, tmp_path: Path, case: str
) -> None:
    """A MANIFEST compaction record that could not have been written for the tree was applied, or crashed recovery."""
    make_record, tiered = IMPOSSIBLE_RECORDS[case]
    options = {"compaction": TieredCompactionOptions()} if tiered else {}
    db = open_db(**options)
    db.put(b"a", b"1")
    db.force_flush()
    db.force_full_compaction()
    directory = tmp_path / "db"
    (bottom,) = (int(path.stem) for path in directory.glob("*.sst"))
    db.put(b"b", b"2")
    db.force_flush()
    (newest,) = (int(path.stem) for path in directory.glob("*.sst") if int(path.stem) != bottom)
    db.close()
    record = make_record(bottom, newest)
    manifest = directory / "MANIFEST"
    offset = manifest.stat().st_size
    with manifest.open("ab") as file:
        file.write(encode_record(encode_manifest_record(record)))
    message = assert_refused(lambda: open_db(**options), directory, "MANIFEST", f"{case}: {record} at the end")
    assert str(offset) in message, f"{case}: the error should name the record's offset {offset}: {message}"


@pytest.mark.day6_task3
@pytest.mark.parametrize("reused", ["memtable", "sst"])
def test_a_new_memtable_with_a_live_id_is_corruption(open_db: OpenDb, tmp_path: Path, reused: str) -> None:
    """A MANIFEST that creates a memtable whose id is still live was applied: two memtables, or a memtable and an SST,
    shared an id."""
    db = open_db()
    db.put(b"a", b"1")
    db.force_flush()
    db.put(b"b", b"2")
    live = db.state.memtable.id if reused == "memtable" else db.state.l0_sstables[0]
    db.close()
    directory = tmp_path / "db"
    with (directory / "MANIFEST").open("ab") as file:
        file.write(encode_record(encode_manifest_record(NewMemtable(live))))
    assert_refused(open_db, directory, "MANIFEST", f"a new memtable {live}, the id of a live {reused}, at the end")


@pytest.mark.day6_task3
def test_fewer_levels_than_the_database_uses_are_refused_naming_max_levels(open_db: OpenDb, tmp_path: Path) -> None:
    """Opening with max_levels below the deepest level in use went on, and deleted keys came back."""
    db = open_db(compaction=LeveledCompactionOptions(max_levels=3))
    for n in range(4):
        db.put(b"k%d" % n, b"old")
    db.force_flush()
    db.force_full_compaction()
    db.close()
    open_db(compaction=LeveledCompactionOptions(max_levels=3)).close()  # the MANIFEST is now one snapshot
    with pytest.raises(LsmError) as raised:
        open_db(compaction=LeveledCompactionOptions(max_levels=1))
        raise AssertionError("the data is in level 3: opening with max_levels=1 must raise LsmError")
    assert "max_levels" in str(raised.value), f"the error should name max_levels: {raised.value}"


@pytest.mark.day6_task3
def test_database_without_manifest_is_adopted_under_tiered_compaction(open_db: OpenDb, tmp_path: Path) -> None:
    """A database written without a manifest, opened with tiered compaction, failed at its first compaction."""
    plain = {"enable_wal": False, "enable_manifest": False, "compaction": NoCompaction()}
    db = open_db(**plain)
    for n in range(3):
        db.put(b"k%d" % n, b"v%d" % n)
        db.force_flush()
    db.close()
    tiered = TieredCompactionOptions()
    db = open_db(compaction=tiered)
    db.put(b"k9", b"v9")
    db.force_flush()
    db.close()
    db = open_db(compaction=tiered)
    got = dict(db.scan())
    want = {b"k0": b"v0", b"k1": b"v1", b"k2": b"v2", b"k9": b"v9"}
    assert got == want, f"after adopting the tables under tiered compaction the database holds {show(got)}"


@pytest.mark.day6_task3
def test_manifest_cut_before_a_new_memtable_record_keeps_that_memtables_log(open_db: OpenDb, tmp_path: Path) -> None:
    """A MANIFEST that lost its whole last record (a new memtable) let recovery delete that memtable's WAL."""
    db = open_db(compaction=NoCompaction(), target_sst_size=64)
    db.put(b"a", b"x" * 70)  # fills memtable 1: memtable 2 is recorded and takes the next write
    db.put(b"b", b"2")
    db.sync()
    db.close()
    manifest = tmp_path / "db" / "MANIFEST"
    record = encode_record(encode_manifest_record(NewMemtable(2)))
    data = manifest.read_bytes()
    assert data.endswith(record), "expected the MANIFEST to end with the record of memtable 2"
    manifest.write_bytes(data[: -len(record)])
    assert_refused(
        lambda: open_db(compaction=NoCompaction(), target_sst_size=64),
        tmp_path / "db",
        "00002.wal",
        "the MANIFEST lost the record of memtable 2, whose WAL holds a synced write",
    )


@pytest.mark.day6_task3
def test_manifest_that_lost_a_new_memtable_record_in_its_middle_keeps_that_memtables_log(
    open_db: OpenDb, tmp_path: Path
) -> None:
    """A MANIFEST that lost a new-memtable record before others let recovery delete that memtable's WAL."""
    db = open_db(compaction=NoCompaction(), target_sst_size=64, num_memtable_limit=8)
    for key in (b"a", b"b", b"c"):
        db.put(key, b"x" * 70)  # each write fills its memtable: memtables 2, 3 and 4 are recorded
    db.sync()
    db.close()
    manifest = tmp_path / "db" / "MANIFEST"
    record = encode_record(encode_manifest_record(NewMemtable(2)))
    data = manifest.read_bytes()
    assert data.count(record) == 1 and not data.endswith(record), "expected memtable 2's record before others"
    manifest.write_bytes(data.replace(record, b""))
    assert_refused(
        lambda: open_db(compaction=NoCompaction(), target_sst_size=64, num_memtable_limit=8),
        tmp_path / "db",
        "00002.wal",
        "the MANIFEST lost the record of memtable 2 while the records of memtables 3 and 4 are there",
    )


@pytest.mark.day6_task3
@pytest.mark.parametrize("name", ["00999.sst", "00999.wal", "00001.wal.tmp"])
def test_a_folder_named_like_an_engine_file_is_left_alone(open_db: OpenDb, tmp_path: Path, name: str) -> None:
    """A folder named like an SST, a WAL or a temporary file made every open fail, or was taken for data."""
    db = open_db()
    db.put(b"a", b"1")
    db.sync()
    db.close()
    (tmp_path / "db" / name).mkdir()
    for attempt in ("first", "second"):
        db = open_db()
        got = db.get(b"a")
        db.close()
        assert got == b"1", f"{attempt} open beside a folder named {name}: get(b'a') gave {show(got)}, not b'1'"
    assert (tmp_path / "db" / name).is_dir(), f"the folder {name} is not the engine's: recovery must not remove it"
