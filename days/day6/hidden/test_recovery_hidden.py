"""Day 6 hidden tests for recovery: the order of durable steps, damaged logs, strays, ids and options."""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from checker.grading.isolation.engine import watch_file_calls
from tinylsm.engine import LsmStorage
from tinylsm.errors import CorruptionError, LsmError
from tinylsm.files import wal_path
from tinylsm.manifest import Flush, NewMemtable, Snapshot, decode_manifest_record
from tinylsm.options import (
    LeveledCompactionOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.state import CompactionRecord, LevelCompactionTask
from tinylsm.testkit import FsyncFailure, encoded_wal_record, options_for_day, show
from tinylsm.wal import decode_records

SIZES = {"target_sst_size": 512, "block_size": 128, "num_memtable_limit": 2}
LEVELED = LeveledCompactionOptions(
    level_size_multiplier=4, level0_file_num_compaction_trigger=2, base_level_size_mb=0.004
)
FILE_ID = re.compile(r"^(\d+)\.(sst|wal)$")
OpenDb = Callable[..., LsmStorage]


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[OpenDb]:
    """Opens engines (day 6 options, small sizes); closes what a test leaves open, ignoring errors."""
    opened: list[LsmStorage] = []

    def open_(path: Path | None = None, **overrides: object) -> LsmStorage:
        db = LsmStorage.open(path or tmp_path / "db", options_for_day(6, **{**SIZES, **overrides}))
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


def file_ids(path: Path, suffix: str | None = None) -> list[int]:
    return sorted(int(m[1]) for name in os.listdir(path) if (m := FILE_ID.match(name)) and suffix in (None, m[2]))


def differences(want: dict[bytes, bytes], got: dict[bytes, bytes]) -> str:
    missing = sorted(k for k in want if got.get(k) != want[k])
    extra = sorted(k for k in got if k not in want)
    return f"missing or wrong: {show(missing)}; should be absent: {show(extra)}"


def record_ends(data: bytes) -> list[int]:
    """Where each record of a WAL or MANIFEST ends, read from the pinned header (payload_len first)."""
    ends, offset = [], 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from("<I", data, offset)
        offset += 12 + length
        ends.append(offset)
    return ends


# ----------------------------------------------------------------------------- the order of durable steps


@dataclass
class Event:
    kind: str  # "fsync", "fsync-directory", "replace" or "unlink"
    name: str = ""
    inode: int = 0
    size: int = 0
    content: bytes | None = None  # a manifest-like file's bytes at its fsync, or a renamed file's bytes
    target: str = ""
    wal_sizes: dict[str, int] = field(default_factory=dict)


class DurableSteps:
    """Watches os.fsync, os.replace and os.unlink (real calls on real files); records, in order, what they touched."""

    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.directory = directory
        self.events: list[Event] = []
        self._renaming: tuple[int, bytes] | None = None
        watch_file_calls(monkeypatch, self._observe)

    def _observe(self, when: str, call: str, arguments: list) -> None:
        if call == "fsync" and when == "after":
            self._fsynced(arguments[0])
        elif call in ("replace", "rename") and when == "before":
            source = Path(arguments[0])
            self._renaming = (os.stat(source).st_ino, source.read_bytes())
        elif call in ("replace", "rename") and self._renaming is not None:
            inode, content = self._renaming
            source, target = Path(arguments[0]), Path(arguments[1])
            self.events.append(Event("replace", source.name, inode, len(content), content, target.name))
        elif call in ("unlink", "remove") and when == "after":
            self.events.append(Event("unlink", Path(arguments[0]).name))

    def _fsynced(self, status: dict) -> None:
        if status["folder"]:
            here = os.stat(self.directory)
            if (status["inode"], status["device"]) == (here.st_ino, here.st_dev):
                self.events.append(Event("fsync-directory"))
            return
        name = next((e.name for e in os.scandir(self.directory) if e.inode() == status["inode"]), "")
        manifest_like = name and not FILE_ID.match(name) and name != "LOCK"
        content = (self.directory / name).read_bytes() if manifest_like else None
        self.events.append(Event("fsync", name, status["inode"], status["size"], content, wal_sizes=self._wals()))

    def _wals(self) -> dict[str, int]:
        return {e.name: e.stat().st_size for e in os.scandir(self.directory) if e.name.endswith(".wal")}


def live_sets(records: list) -> tuple[list[int], set[int]]:
    """The live memtables (oldest first) and live SSTs that a list of manifest records describes."""
    memtables: list[int] = []
    ssts: set[int] = set()
    for record in records:
        if isinstance(record, Snapshot):
            memtables = list(record.memtables)
            ssts = {*record.l0, *(i for run in record.levels for i in run)}
        elif isinstance(record, NewMemtable):
            memtables.append(record.memtable_id)
        elif isinstance(record, Flush):
            if record.sst_id in memtables:
                memtables.remove(record.sst_id)
            ssts.add(record.sst_id)
        elif isinstance(record, CompactionRecord):
            task = record.task
            inputs = (
                {*task.upper, *task.lower}
                if isinstance(task, LevelCompactionTask)
                else {i for tier in task.tiers for i in tier}
            )
            ssts = (ssts - inputs) | set(record.output)
    return memtables, ssts


def decode_manifest(content: bytes) -> list:
    return [decode_manifest_record(p, "MANIFEST") for p in decode_records(content, "MANIFEST")]


def check_order(events: list[Event], wal_on: bool) -> dict[str, list[str]]:
    """Replay the recorded steps against what the fsynced MANIFEST said at each moment; list each rule's violations."""
    broken: dict[str, list[str]] = {"freeze": [], "sst": [], "delete": [], "rewrite": []}
    fsynced_at: dict[str, int] = {}
    fsynced_size: dict[str, int] = {}
    fsynced_content: dict[int, bytes] = {}
    directory_syncs: list[int] = []
    manifest_inode = -1
    memtables: list[int] = []
    ssts: set[int] = set()
    unsynced_rename: int | None = None
    last_manifest_step = -1  # the previous moment the durable manifest changed

    def named(i: int, new_memtables: list[int], new_ssts: set[int], appended: bool, event: Event) -> None:
        for sst in sorted(new_ssts - ssts):
            name = f"{sst:05d}.sst"
            synced = fsynced_at.get(name)
            if synced is None:
                broken["sst"].append(f"the manifest named {name} (step {i}) before the file was fsynced")
            elif not any(synced < d < i for d in directory_syncs):
                broken["sst"].append(
                    f"the manifest named {name} (step {i}) with no directory fsync between the file's fsync "
                    f"(step {synced}) and the manifest's: the file's name could be lost in a power cut"
                )
        fresh = [m for m in new_memtables if m not in memtables]
        if not (appended and wal_on and fresh):
            return
        for memtable in fresh:
            name = f"{memtable:05d}.wal"
            if name not in event.wal_sizes:
                broken["freeze"].append(f"the manifest named memtable {memtable} (step {i}) before {name} existed")
        if memtables:
            old = f"{memtables[-1]:05d}.wal"
            size = event.wal_sizes.get(old, 0)
            if size and fsynced_size.get(old) != size:
                broken["freeze"].append(
                    f"memtable {fresh[0]} was recorded (step {i}) while {old}, the log of the memtable it replaced, "
                    f"held {size} bytes but only {fsynced_size.get(old, 0)} had been fsynced"
                )
        if not any(last_manifest_step < d < i for d in directory_syncs):
            broken["freeze"].append(
                f"memtable {fresh[0]} was recorded (step {i}) with no directory fsync since the manifest's previous "
                "change, so none after its new log was created: the new WAL file could vanish in a power cut"
            )

    for i, event in enumerate(events):
        if event.kind == "fsync-directory":
            directory_syncs.append(i)
            unsynced_rename = None
        elif event.kind == "fsync":
            fsynced_at[event.name] = i
            fsynced_size[event.name] = event.size
            if event.content is not None:
                fsynced_content[event.inode] = event.content
            if event.name == "MANIFEST":
                manifest_inode = event.inode
            if event.inode == manifest_inode:
                if unsynced_rename is not None:
                    broken["rewrite"].append(
                        f"the new MANIFEST was appended to (step {i}) before the directory was fsynced after "
                        f"its rename (step {unsynced_rename})"
                    )
                new_memtables, new_ssts = live_sets(decode_manifest(event.content or b""))
                named(i, new_memtables, new_ssts, True, event)
                memtables, ssts = new_memtables, new_ssts
                last_manifest_step = i
        elif event.kind == "replace" and event.target != "MANIFEST":
            # A file written under a temporary name and renamed into place: its fsync
            # counts for the new name, and the directory must be fsynced after the rename.
            if event.name in fsynced_at:
                fsynced_at[event.target] = i
                fsynced_size[event.target] = fsynced_size[event.name]
        elif event.kind == "replace" and event.target == "MANIFEST":
            if event.name == "MANIFEST":
                broken["rewrite"].append(f"MANIFEST was rewritten in place (step {i}), not through a temporary file")
            elif fsynced_content.get(event.inode) != event.content:
                broken["rewrite"].append(
                    f"{event.name} was renamed over MANIFEST (step {i}) without being fsynced after it was written"
                )
            manifest_inode = event.inode
            unsynced_rename = i
            new_memtables, new_ssts = live_sets(decode_manifest(event.content or b""))
            named(i, new_memtables, new_ssts, False, event)
            memtables, ssts = new_memtables, new_ssts
            last_manifest_step = i
        elif event.kind == "unlink":
            if unsynced_rename is not None:
                broken["rewrite"].append(
                    f"{event.name} was deleted (step {i}) before the directory was fsynced after the MANIFEST rename"
                )
            match = FILE_ID.match(event.name)
            if match and match[2] == "wal" and int(match[1]) in memtables:
                broken["delete"].append(
                    f"{event.name} was deleted (step {i}) while the fsynced manifest still named its memtable "
                    "as live: the flush must be recorded (and fsynced) first"
                )
            if match and match[2] == "sst" and int(match[1]) in ssts:
                broken["delete"].append(
                    f"{event.name} was deleted (step {i}) while the fsynced manifest still named it as live: "
                    "a compaction must be recorded (and fsynced) before its inputs are deleted"
                )
    if unsynced_rename is not None:
        broken["rewrite"].append(f"the directory was never fsynced after the MANIFEST rename (step {unsynced_rename})")
    if manifest_inode == -1:
        broken["rewrite"].append("MANIFEST was never fsynced nor renamed into place: no manifest record was durable")
    return broken


_ORDER_RESULTS: dict[str, dict[str, list[str]]] = {}


def order_violations(tmp_path_factory: pytest.TempPathFactory, rule: str) -> list[str]:
    """Run the recorded scenario once per test session (it is a pure function of the code) and check it."""
    if "leveled" not in _ORDER_RESULTS:
        directory = tmp_path_factory.mktemp("order") / "db"
        directory.mkdir()
        options = options_for_day(6, compaction=LEVELED, **SIZES)
        with pytest.MonkeyPatch.context() as monkeypatch:
            steps = DurableSteps(directory, monkeypatch)
            db = LsmStorage.open(directory, options)
            for n in range(70):
                db.put(b"key%03d" % (n % 40), b"value-%d-" % n + b"x" * 30)
                if n % 9 == 0:
                    db.delete(b"key%03d" % (n % 13))
            db.sync()
            db.force_flush()
            db.force_full_compaction()
            for n in range(10):
                db.put(b"late%d" % n, b"y" * 40)
            db.close()
            db = LsmStorage.open(directory, options)
            db.put(b"after", b"reopen")
            db.close()
        _ORDER_RESULTS["leveled"] = check_order(steps.events, wal_on=True)
    return _ORDER_RESULTS["leveled"][rule]


def assert_in_order(tmp_path_factory: pytest.TempPathFactory, rule: str) -> None:
    broken = order_violations(tmp_path_factory, rule)
    assert not broken, f"{len(broken)} violations, e.g.: " + "; ".join(broken[:2])


@pytest.mark.day6_task3
def test_freeze_syncs_the_old_wal_and_creates_the_new_one_before_recording_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A freeze recorded the new memtable before the old WAL was fsynced, or before the new WAL was durable."""
    assert_in_order(tmp_path_factory, "freeze")


@pytest.mark.day6_task3
def test_sstable_and_directory_are_synced_before_the_manifest_names_the_table(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The manifest named an SSTable before the file and then the directory were fsynced."""
    assert_in_order(tmp_path_factory, "sst")


@pytest.mark.day6_task3
def test_files_are_deleted_only_after_the_manifest_stops_naming_them(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A WAL or an SSTable was deleted while the fsynced manifest still named it as live."""
    assert_in_order(tmp_path_factory, "delete")


@pytest.mark.day6_task3
def test_manifest_is_replaced_by_a_synced_temporary_file_then_the_directory_is_synced(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The manifest was rewritten in place, or an unsynced file renamed over it, or the directory not fsynced after."""
    assert_in_order(tmp_path_factory, "rewrite")


# ----------------------------------------------------------------------------- options between opens


@pytest.mark.day6_task3
def test_manifest_is_rewritten_when_it_grows_and_keeps_the_state(
    open_db: OpenDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a small MANIFEST_REWRITE_BYTES, the manifest was not rewritten as it grew, or a rewrite lost state."""
    monkeypatch.setattr(importlib.import_module("tinylsm.recovery"), "MANIFEST_REWRITE_BYTES", 256)
    compaction = SimpleLeveledCompactionOptions(level0_file_num_compaction_trigger=2)
    db = open_db(compaction=compaction, num_memtable_limit=4)
    manifest = tmp_path / "db" / "MANIFEST"
    # A rewrite shows as the file getting smaller (its inode could be a recycled one).
    size, largest, shrunk, model = manifest.stat().st_size, 0, False, {}
    for n in range(200):
        key = b"key%03d" % (n % 50)
        model[key] = b"v%d-" % n + b"z" * 30
        db.put(key, model[key])
        size, previous = manifest.stat().st_size, size
        largest, shrunk = max(largest, size), shrunk or size < previous
    assert shrunk, "the manifest grew past MANIFEST_REWRITE_BYTES but was never rewritten"
    assert largest <= 256 + 200, (
        f"the manifest reached {largest} bytes with MANIFEST_REWRITE_BYTES = 256: it must be rewritten as one "
        "snapshot as soon as an append takes it past the limit"
    )
    shape = (db.state.l0_sstables, db.state.levels)
    db.close()
    db = open_db(compaction=compaction, num_memtable_limit=10)  # no flush at reopen: the tree must be as it was
    got = dict(db.scan())
    assert got == model, f"after rewrites and a reopen the data differs: {differences(model, got)}"
    assert (db.state.l0_sstables, db.state.levels) == shape, (
        f"after rewrites and a reopen the tree changed from {show(shape)} to "
        f"{show((db.state.l0_sstables, db.state.levels))}"
    )


@pytest.mark.day6_task3
def test_records_of_a_writer_and_the_background_thread_keep_each_others_edits(
    open_db: OpenDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Manifest records made at once by a writer and the background thread lost each other's edits."""
    monkeypatch.setattr(importlib.import_module("tinylsm.recovery"), "MANIFEST_REWRITE_BYTES", 512)
    compaction = SimpleLeveledCompactionOptions(level0_file_num_compaction_trigger=2)
    db = open_db(compaction=compaction, background_work=True)
    model: dict[bytes, bytes] = {}
    try:
        for n in range(800):
            key = b"key%04d" % (n % 300)
            model[key] = b"v%d-" % n + b"z" * 30
            db.put(key, model[key])
        db.close()
    except Exception as error:
        raise AssertionError(
            "800 puts while the background thread flushed and compacted should all succeed (the freezes, flushes "
            f"and compactions each append a record, which must apply to the shape every earlier one left), "
            f"got {error!r}"
        ) from error
    db = open_db(compaction=compaction)
    got = dict(db.scan())
    assert got == model, f"after a reopen the data differs: {differences(model, got)}"


@pytest.mark.day6_task3
@pytest.mark.parametrize("strategy", ["simple", "leveled"])
def test_ssts_moved_down_without_a_rewrite_are_in_place_after_a_reopen(
    open_db: OpenDb, tmp_path: Path, strategy: str
) -> None:
    """SSTs that compactions moved down as they were (keeping their ids) were lost, deleted or misplaced at reopen."""
    compaction = (
        LEVELED if strategy == "leveled" else SimpleLeveledCompactionOptions(level0_file_num_compaction_trigger=2)
    )
    db = open_db(compaction=compaction)
    model = {b"key%04d" % n: b"value-%d-" % n + b"x" * 20 for n in range(200)}
    for key, value in model.items():  # ascending keys: flushes overlap nothing below, so SSTs move down
        db.put(key, value)
    shape = (db.state.l0_sstables, db.state.levels)
    assert any(shape[1]), f"{strategy}: 200 writes left every SST in L0 ({show(shape)}): the test needs levels"
    db.close()
    db = open_db(compaction=compaction, num_memtable_limit=10)  # no flush at reopen: the tree must be as it was
    got = dict(db.scan())
    assert got == model, f"{strategy}: after moves and a reopen the data differs: {differences(model, got)}"
    reopened = (db.state.l0_sstables, db.state.levels)
    assert reopened == shape, (
        f"{strategy}: after moves and a reopen the tree changed from {show(shape)} to {show(reopened)}"
    )
    live = sorted({*reopened[0], *(sst_id for level in reopened[1] for sst_id in level)})
    assert file_ids(tmp_path / "db", "sst") == live, (
        f"{strategy}: the .sst files should be exactly the live SSTs {live}, got {file_ids(tmp_path / 'db', 'sst')}"
    )


@pytest.mark.day6_task3
@pytest.mark.parametrize("strategy", ["simple", "leveled", "none"])
def test_full_compaction_of_a_tree_on_several_levels_is_recorded_and_reopens(
    open_db: OpenDb, tmp_path: Path, strategy: str
) -> None:
    """A full compaction of a tree with SSTs on several levels was refused by the manifest, or broke the next open."""
    compaction = {
        "simple": SimpleLeveledCompactionOptions(level0_file_num_compaction_trigger=2),
        "leveled": LEVELED,
        "none": NoCompaction(),
    }[strategy]
    db = open_db(compaction=compaction)
    model: dict[bytes, bytes] = {}
    for n in range(300):
        key = b"key%04d" % (n * 7919 % 300)  # keys out of order: flushes overlap, so compactions rewrite
        model[key] = b"value-%d-" % n + b"x" * 20
        db.put(key, model[key])
        if n % 7 == 0:
            del model[key]
            db.delete(key)
    if strategy == "none":
        db.force_flush()
        db.force_full_compaction()  # everything into L1, then newer SSTs in L0 above it
        for key in list(model)[:40]:
            model[key] = b"newer"
            db.put(key, b"newer")
        db.force_flush()
    shape = (db.state.l0_sstables, db.state.levels)
    in_use = [level for level in (shape[0], *shape[1]) if level]
    assert len(in_use) >= 2, f"{strategy}: the writes left SSTs in one level only ({show(shape)}): the test needs two"
    db.force_full_compaction()
    db.close()
    db = open_db(compaction=compaction, num_memtable_limit=10)
    got = dict(db.scan())
    assert got == model, (
        f"{strategy}: after a full compaction of {show(shape)} and a reopen the data differs: {differences(model, got)}"
    )
    levels_in_use = [level for level in db.state.levels if level]
    assert not db.state.l0_sstables and len(levels_in_use) == 1, (
        f"{strategy}: a full compaction should leave every SST in one level, got L0 {show(db.state.l0_sstables)} and "
        f"levels {show(db.state.levels)} after the reopen"
    )


@pytest.mark.day6_task3
def test_reopening_with_another_compaction_strategy_raises_lsm_error(open_db: OpenDb, tmp_path: Path) -> None:
    """Opening a database with another compaction strategy class than it was created with did not raise LsmError."""
    db = open_db(compaction=LEVELED)
    for n in range(60):
        db.put(b"key%03d" % n, b"v" * 30)
    db.close()
    for other in (TieredCompactionOptions(), NoCompaction(), SimpleLeveledCompactionOptions()):
        with pytest.raises(LsmError, match=r"(?i)compaction") as raised:
            open_db(compaction=other)
            raise AssertionError(
                f"a database created with leveled compaction was opened with {type(other).__name__}: "
                "that must raise LsmError saying which compaction it was created with"
            )
        assert not isinstance(raised.value, CorruptionError), (
            f"another strategy is a misuse, not damage: expected a plain LsmError, got CorruptionError: {raised.value}"
        )
    db = open_db(compaction=LeveledCompactionOptions(level0_file_num_compaction_trigger=3, base_level_size_mb=0.01))
    assert db.get(b"key010") == b"v" * 30, "the same strategy class with other parameters must open the database"


@pytest.mark.day6_task3
def test_other_options_may_change_between_opens(open_db: OpenDb, tmp_path: Path) -> None:
    """Changing block_size, target_sst_size, or switching the WAL off and on again between opens lost data."""
    model: dict[bytes, bytes] = {}

    def write(db: LsmStorage, tag: bytes, count: int) -> None:
        for n in range(count):
            key = b"key%03d" % ((n * 7) % 90)
            model[key] = tag + b"-%d-" % n + b"q" * 25
            db.put(key, model[key])

    sessions = [
        {"block_size": 128, "target_sst_size": 1024, "enable_wal": True},
        {"block_size": 1024, "target_sst_size": 2048, "enable_wal": False},
        {"block_size": 64, "target_sst_size": 1024, "enable_wal": True, "enable_manifest": False},
        {"block_size": 4096, "target_sst_size": 600, "enable_wal": True},
    ]
    for number, session in enumerate(sessions):
        db = open_db(compaction=LEVELED, **session)
        got = dict(db.scan())
        assert got == model, f"opening with {session} after earlier sessions lost data: {differences(model, got)}"
        write(db, b"s%d" % number, 30)
        db.close()
    db = open_db(compaction=LEVELED)
    got = dict(db.scan())
    assert got == model, f"after four sessions with different options: {differences(model, got)}"


@pytest.mark.day6_task3
def test_database_written_without_wal_or_manifest_is_adopted(open_db: OpenDb, tmp_path: Path) -> None:
    """A database written with the WAL and manifest off lost SSTables or their order once reopened with them on."""
    plain = {"enable_wal": False, "enable_manifest": False, "compaction": NoCompaction()}
    db = open_db(**plain)
    model: dict[bytes, bytes] = {}
    for round_ in range(3):
        for n in range(0, 30, round_ + 1):
            model[b"key%02d" % n] = b"round-%d" % round_
            db.put(b"key%02d" % n, model[b"key%02d" % n])
        db.force_flush()
    db.close()
    directory = tmp_path / "db"
    assert not (directory / "MANIFEST").exists(), "with enable_wal and enable_manifest off there is no MANIFEST"
    ssts = file_ids(directory, "sst")
    db = open_db(compaction=LEVELED)
    got = dict(db.scan())
    assert got == model, (
        f"the SSTables written without a manifest were not adopted correctly: {differences(model, got)}"
    )
    assert db.state.l0_sstables == tuple(sorted(ssts, reverse=True)), (
        f"adopted SSTables belong in L0, newest (highest id) first: expected {sorted(ssts, reverse=True)}, "
        f"got {db.state.l0_sstables}"
    )
    db.put(b"new", b"1")
    db.close()
    assert (directory / "MANIFEST").exists(), "after adopting the tables, the database must have a MANIFEST"
    db = open_db(compaction=LEVELED)
    assert dict(db.scan()) == {**model, b"new": b"1"}, "the adopted database did not survive another reopen"


# ----------------------------------------------------------------------------- strays, ids, missing files


@pytest.mark.day6_task3
def test_files_left_by_a_crash_are_removed_and_their_ids_never_reused(open_db: OpenDb, tmp_path: Path) -> None:
    """Files no record names (a stray SST, an old WAL, a temporary manifest) were kept, replayed, or had ids reused."""
    directory = tmp_path / "db"
    db = open_db(target_sst_size=1 << 20)
    db.put(b"key", b"old")
    db.sync()
    old_wal = wal_path(directory, db.state.memtable.id)
    old_bytes = old_wal.read_bytes()
    db.force_flush()
    db.put(b"key", b"new")
    db.put(b"other", b"1")
    db.close()
    some_sst = directory / f"{file_ids(directory, 'sst')[0]:05d}.sst"
    shutil.copy(some_sst, directory / "00999.sst")  # as if a compaction's output had been written, then a crash
    old_wal.write_bytes(old_bytes)  # as if the crash came between the flush record and the WAL's deletion
    (directory / "MANIFEST.tmp").write_bytes(b"half a snapshot")
    db = open_db(target_sst_size=1 << 20)
    assert db.get(b"key") == b"new", (
        f"a WAL whose memtable was already flushed came back after a crash and was replayed: key is {db.get(b'key')!r}"
    )
    left = sorted({"00999.sst", old_wal.name, "MANIFEST.tmp"} & set(os.listdir(directory)))
    assert not left, f"recovery must remove files that no manifest record names, but {left} remain"
    assert db.state.memtable.id > 999, (
        f"a file with id 999 was on disk at recovery, yet the new memtable took id {db.state.memtable.id}: "
        "ids must continue after every id found on disk, not only those the manifest names"
    )
    db.close()
    db = open_db(target_sst_size=1 << 20)
    assert db.get(b"key") == b"new" and db.get(b"other") == b"1", "a second reopen after removing strays lost data"


@pytest.mark.day6_task3
def test_missing_sstable_named_by_the_manifest_raises_corruption_error_naming_it(
    open_db: OpenDb, tmp_path: Path
) -> None:
    """A missing SSTable that the manifest names was not reported as CorruptionError naming the file."""
    db = open_db(compaction=NoCompaction())
    for n in range(80):
        db.put(b"key%03d" % n, b"v" * 30)
    db.force_flush()
    victim = f"{db.state.l0_sstables[-1]:05d}.sst"
    db.close()
    (tmp_path / "db" / victim).unlink()
    with pytest.raises(CorruptionError) as raised:
        open_db(compaction=NoCompaction())
        raise AssertionError(f"{victim} is named by the manifest but missing: opening must raise CorruptionError")
    assert victim in str(raised.value), f"the error should name the missing file {victim}: {raised.value}"
    assert (tmp_path / "db" / "MANIFEST").exists() and len(file_ids(tmp_path / "db", "sst")) > 0, (
        "a failed recovery must not delete the manifest or the other SSTables"
    )


@pytest.mark.day6_task3
def test_manifest_without_a_complete_snapshot_is_corruption_not_an_empty_database(
    open_db: OpenDb, tmp_path: Path
) -> None:
    """A MANIFEST damaged inside its first (snapshot) record was read as an empty tree and every file deleted."""
    db = open_db()
    for n in range(80):
        db.put(b"key%03d" % n, b"v" * 30)
    db.close()
    directory = tmp_path / "db"
    before = sorted(os.listdir(directory))
    manifest = (directory / "MANIFEST").read_bytes()
    for cut in (0, 5, 12, record_ends(manifest)[0] - 1):
        (directory / "MANIFEST").write_bytes(manifest[:cut])
        with pytest.raises(CorruptionError):
            db = open_db()
            raise AssertionError(
                f"a MANIFEST cut at byte {cut}, inside its first record, has no snapshot: recovery must raise "
                f"CorruptionError, but it opened a database holding {len(dict(db.scan()))} keys"
            )
        deleted = sorted(set(before) - set(os.listdir(directory)))
        assert not deleted, f"after a MANIFEST cut at byte {cut}, recovery deleted files: {deleted}"


@pytest.mark.day6_task3
def test_a_sync_during_a_freeze_makes_the_frozen_memtables_writes_durable(
    open_db: OpenDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync() made while a freeze switched logs returned before the frozen memtable's log was fsynced."""
    db = open_db(num_memtable_limit=10)
    directory = tmp_path / "db"
    durable: dict[int, int] = {}  # inode -> size at its last fsync
    problems: list[str] = []
    watching = {"armed": False, "written": 0}

    def observe(when: str, call: str, arguments: list) -> None:
        if call != "fsync":
            return
        status = arguments[0]
        if when == "after" and not status["folder"]:
            durable[status["inode"]] = status["size"]
        new_logs = [name for name in os.listdir(directory) if name.endswith(".wal")] != [old.name]
        if when == "before" and status["folder"] and watching["armed"] and new_logs:
            watching["armed"] = False  # the freeze has made its new log: a sync now must cover the old one
            db.sync()
            got = durable.get(os.stat(old).st_ino, 0)
            if got < watching["written"]:
                problems.append(
                    f"sync() returned while {old.name}, the log of the memtable just frozen, was durable up to "
                    f"byte {got} of {watching['written']}: writes made before that sync could be lost"
                )

    old = wal_path(directory, db.state.memtable.id)
    watch_file_calls(monkeypatch, observe)
    watching["armed"] = True
    n = 0
    while watching["armed"] and n < 1000:
        key, value = b"key%04d" % n, b"v" * 40
        watching["written"] += len(encoded_wal_record([(key, value)]))
        db.put(key, value)
        n += 1
    assert not watching["armed"], "1,000 puts of 47 bytes into 512-byte memtables never froze the active memtable"
    assert not problems, problems[0]


@pytest.mark.day6_task3
def test_recovered_memtables_keep_newest_first(open_db: OpenDb, tmp_path: Path) -> None:
    """After recovery an older memtable's value won over a newer one's for the same key."""
    db = open_db(num_memtable_limit=10)
    for round_ in range(4):
        for n in range(20):
            db.put(b"key%02d" % n, b"round-%d-" % round_ + b"r" * 20)
    frozen = len(db.state.imm_memtables)
    db.close()
    db = open_db(num_memtable_limit=10)
    want = {b"key%02d" % n: b"round-3-" + b"r" * 20 for n in range(20)}
    got = dict(db.scan())
    assert got == want, (
        f"{frozen} frozen memtables each overwrote the same keys; after reopen: {differences(want, got)}"
    )
    db.force_flush()
    assert dict(db.scan()) == want, "after flushing the recovered memtables an older value won"
    db.close()
    assert dict(open_db(num_memtable_limit=10).scan()) == want, "after another reopen an older value won"


@pytest.mark.day6_task3
@pytest.mark.parametrize("enable_wal", [True, False], ids=["wal", "manifest-only"])
def test_after_close_the_durability_layer_refuses_writes_and_records(
    open_db: OpenDb, tmp_path: Path, enable_wal: bool
) -> None:
    """After close, a write or a record reached the durability layer without an LsmError (it would be lost quietly)."""
    db = open_db(enable_wal=enable_wal)
    db.put(b"kept", b"1")
    memtable_id = db.state.memtable.id
    db.close()
    durability = db.durability
    durability.close()  # a second close does nothing
    durability.sync()  # the close synced everything: nothing left to do
    late_calls = {
        "log": lambda: durability.log(memtable_id, [(b"late", b"2")]),
        "memtable_frozen": lambda: durability.memtable_frozen(memtable_id, memtable_id + 1),
        "memtable_flushed": lambda: durability.memtable_flushed(memtable_id, memtable_id + 1),
    }
    for name, call in late_calls.items():
        try:
            call()
        except LsmError:
            continue
        pytest.fail(f"expected LsmError from {name}() after close(), but it returned normally")
    reopened = open_db(enable_wal=enable_wal)
    assert dict(reopened.scan()) == {b"kept": b"1"}, "calls made after close changed the database"


@pytest.mark.day6_task3
def test_sync_puts_every_logged_write_in_the_wal_file(open_db: OpenDb, tmp_path: Path) -> None:
    """After sync() returned, the active WAL file did not hold every write made before it."""
    db = open_db(target_sst_size=1 << 20)
    ops = [(b"key%03d" % n, None if n % 5 == 0 else b"v%d" % n) for n in range(50)]
    for key, value in ops:
        if value is None:
            db.delete(key)
        else:
            db.put(key, value)
    db.sync()
    path = wal_path(tmp_path / "db", db.state.memtable.id)
    payloads = decode_records(path.read_bytes(), path.name)
    assert len(payloads) == len(ops), (
        f"after 50 writes and sync(), {path.name} holds {len(payloads)} complete records: sync must push the "
        "buffered records into the file and fsync it"
    )


# ----------------------------------------------------------------------------- damaged logs at reopen


def session_with_records(open_db: OpenDb, tmp_path: Path) -> tuple[list[dict[bytes, bytes]], list[int]]:
    """Writes that freeze several memtables, nothing flushed, then a clean close.

    Returns the content after each write (index 0: empty) and the memtable of each write.
    """
    db = open_db(target_sst_size=300, num_memtable_limit=50)
    contents: list[dict[bytes, bytes]] = [{}]
    memtable_of: list[int] = []
    for n in range(40):
        model = dict(contents[-1])
        memtable_of.append(db.state.memtable.id)
        key = b"key%02d" % (n % 12)
        if n % 7 == 3:
            db.delete(key)
            model.pop(key, None)
        elif n % 5 == 4:
            batch = [(key, b""), (b"batch%02d" % n, b"b%d" % n)]
            db.write_batch(batch)
            model.update(batch)
        else:
            model[key] = b"w%d-" % n + b"p" * 40
            db.put(key, model[key])
        contents.append(model)
    db.close()
    return contents, memtable_of


def reopen_copy(source: Path, tmp_path: Path, label: str, open_db: OpenDb) -> dict[bytes, bytes]:
    copy = tmp_path / label
    shutil.copytree(source, copy)
    db = open_db(copy, target_sst_size=300, num_memtable_limit=50)
    try:
        return dict(db.scan())
    finally:
        db.close()


@pytest.mark.day6_task3
def test_truncated_wal_recovers_exactly_its_complete_writes(open_db: OpenDb, tmp_path: Path) -> None:
    """After a WAL was cut at or inside a record, recovery did not give back exactly the writes before the cut."""
    contents, memtable_of = session_with_records(open_db, tmp_path)
    directory = tmp_path / "db"
    last = memtable_of[-1]
    path = wal_path(directory, last)
    data = path.read_bytes()
    ends = record_ends(data)
    before_last = memtable_of.index(last)  # writes in the memtables before the last one
    cuts = sorted({*ends, *(end - 9 for end in ends), 5})
    for cut in cuts:
        path.write_bytes(data[:cut])
        complete = sum(1 for end in ends if end <= cut)
        want = contents[before_last + complete]
        got = reopen_copy(directory, tmp_path, f"wal-cut-{cut}", open_db)
        assert got == want, (
            f"the last WAL ({len(data)} bytes, {len(ends)} records) cut at byte {cut} should recover the first "
            f"{before_last + complete} writes: {differences(want, got)}"
        )


@pytest.mark.day6_task3
def test_truncated_manifest_recovers_the_memtables_it_still_names(open_db: OpenDb, tmp_path: Path) -> None:
    """After the MANIFEST was cut past its snapshot, recovery lost writes of memtables it names, or kept others."""
    contents, memtable_of = session_with_records(open_db, tmp_path)
    directory = tmp_path / "db"
    path = directory / "MANIFEST"
    data = path.read_bytes()
    ends = record_ends(data)
    records = decode_manifest(data)
    assert len(records) >= 4, f"test setup: expected a snapshot and several new-memtable records, got {records!r}"
    cuts = sorted({*ends, *(end - 5 for end in ends[1:])})
    for cut in cuts:
        path.write_bytes(data[:cut])
        kept = records[: sum(1 for end in ends if end <= cut)]
        named, _ = live_sets(kept)
        lost = [r for r in records[len(kept) :] if isinstance(r, NewMemtable) and r.memtable_id in memtable_of]
        if lost:
            # A lost record's memtable took writes, which it does only once the record is durable: whether
            # the record was torn or cut away whole, its WAL is live data that recovery must not delete.
            with pytest.raises(CorruptionError):
                reopen_copy(directory, tmp_path, f"manifest-cut-{cut}", open_db)
                pytest.fail(
                    f"the MANIFEST cut at byte {cut} lost the record of memtable {lost[0].memtable_id}, whose WAL "
                    "holds writes: that record had taken effect, so recovery must raise CorruptionError"
                )
            continue
        writes = sum(1 for memtable in memtable_of if memtable in named)
        want = contents[writes]
        got = reopen_copy(directory, tmp_path, f"manifest-cut-{cut}", open_db)
        assert got == want, (
            f"the MANIFEST ({len(ends)} records) cut at byte {cut} still names memtables {named}: recovery "
            f"should give the first {writes} writes: {differences(want, got)}"
        )


@pytest.mark.day6_task3
def test_bit_flips_in_logs_give_corruption_or_a_prefix_at_reopen(open_db: OpenDb, tmp_path: Path) -> None:
    """A flipped bit in a WAL or the MANIFEST led recovery to wrong data or another exception than CorruptionError."""
    contents, memtable_of = session_with_records(open_db, tmp_path)
    directory = tmp_path / "db"
    last = memtable_of[-1]
    wal = wal_path(directory, last)
    targets = {"the last WAL": wal, "the MANIFEST": directory / "MANIFEST"}
    for what, path in targets.items():
        data = path.read_bytes()
        ends = record_ends(data)
        starts = [0, *ends[:-1]]
        # in a middle record and in the last one: the length, the header CRC, the payload CRC, the payload
        for record in (len(ends) // 2, len(ends) - 1):
            for offset in (1, 5, 9, 14):
                byte = starts[record] + offset
                damaged = bytearray(data)
                damaged[byte] ^= 0x10
                path.write_bytes(bytes(damaged))
                label = f"{what} with bit 4 of byte {byte} flipped (record {record} of {len(ends)})"
                try:
                    got = reopen_copy(directory, tmp_path, f"flip-{path.name}-{byte}", open_db)
                except CorruptionError:
                    continue
                except Exception as error:
                    raise AssertionError(f"{label}: recovery raised {type(error).__name__}: {error}") from None
                assert record == len(ends) - 1, f"{label}: damage before the last record must raise CorruptionError"
                assert got in contents, f"{label}: the recovered data is no prefix of the writes: {show(sorted(got))}"
        path.write_bytes(data)


@pytest.mark.day6_task3
@pytest.mark.parametrize("failing", [1, 2], ids=["new-memtable-record", "flush-record"])
def test_after_a_failed_manifest_write_the_database_reopens_with_every_acknowledged_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    """After a MANIFEST write failed (a full disk), the database took more writes, or lost or changed data on reopen."""
    path = tmp_path / "db"
    chosen = options_for_day(6, target_sst_size=4096, block_size=128, compaction=NoCompaction())
    db = LsmStorage.open(path, chosen)
    model = {b"key%02d" % n: b"value-%d" % n for n in range(30)}
    for key, value in model.items():
        db.put(key, value)
    # force_flush records the freeze (a new memtable), then the flush: the full disk meets one of them
    full_disk = FsyncFailure(path / "MANIFEST", passing=failing - 1)
    watch_file_calls(monkeypatch, full_disk)
    with pytest.raises(OSError):
        db.force_flush()
    assert full_disk.failed, f"force_flush made fewer than {failing} fsyncs of the MANIFEST: each record needs one"
    with pytest.raises(LsmError):
        db.put(b"after the failure", b"x")
    with contextlib.suppress(LsmError, OSError):
        db.close()
    monkeypatch.undo()
    reopened = LsmStorage.open(path, chosen)
    try:
        got = dict(reopened.scan())
    finally:
        reopened.close()
    assert got == model, (
        "after a failed write to the MANIFEST the engine must take no more writes, and a reopen must give back "
        f"every write acknowledged before it: expected {show(sorted(model.items()))}, got {show(sorted(got.items()))}"
    )


@pytest.mark.day6_task3
def test_an_sst_of_a_level_replaced_by_another_is_corruption(open_db: OpenDb, tmp_path: Path) -> None:
    """An SST of a level overwritten with a copy of another SST of that level was opened (scans then failed)."""
    db = open_db(compaction=NoCompaction())
    for n in range(200):
        db.put(b"key%04d" % n, b"value-%d-" % n + b"x" * 20)
    db.force_flush()
    db.force_full_compaction()
    (level,) = [run for run in db.state.levels if run]
    assert len(level) >= 2, f"the test needs a level of several SSTs, got {show(db.state.levels)}"
    db.close()
    first, second = (tmp_path / "db" / f"{sst_id:05d}.sst" for sst_id in level[:2])
    shutil.copyfile(first, second)  # two valid tables, the same keys: the level is no longer a sorted run
    with pytest.raises(CorruptionError):
        open_db(compaction=NoCompaction())
        pytest.fail(
            f"{second.name} holds a copy of {first.name}, so two tables of one level overlap: a level is one sorted "
            "run, and recovery must refuse it (CorruptionError) rather than open a tree whose reads are wrong"
        )


@pytest.mark.day6_task3
@pytest.mark.parametrize("replaced", ["sst", "manifest"])
def test_a_live_file_replaced_by_a_folder_is_corruption(open_db: OpenDb, tmp_path: Path, replaced: str) -> None:
    """A live SST or the MANIFEST replaced by a folder of that name gave IsADirectoryError, not CorruptionError."""
    db = open_db(compaction=NoCompaction())
    db.put(b"key", b"value")
    db.force_flush()
    (sst_id,) = db.state.l0_sstables
    db.close()
    path = tmp_path / "db" / ("MANIFEST" if replaced == "manifest" else f"{sst_id:05d}.sst")
    path.unlink()
    path.mkdir()
    with pytest.raises(CorruptionError):
        open_db(compaction=NoCompaction())
        pytest.fail(f"{path.name} is a folder now: recovery must refuse it with CorruptionError naming it")
