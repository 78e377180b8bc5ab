"""Day 4 hidden tests: the freeze threshold, what stats() counts, one state per get, and durable SST names."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from checker.grading.isolation.engine import watch_file_calls
from tinylsm.engine import LsmStorage
from tinylsm.testkit import options_for_day

NO_FLUSH = 1000
"""A ``num_memtable_limit`` that no test reaches: memtables freeze, but nothing flushes."""
TARGET = 256
SST_NAME = re.compile(r"\d{5}\.sst")

OpenDb = Callable[..., LsmStorage]


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[OpenDb]:
    """Opens day-4 engines (no WAL, no manifest) in ``tmp_path / "db"``; closes what a test leaves open."""
    opened: list[LsmStorage] = []

    def open_(**overrides: int) -> LsmStorage:
        sizes = {"target_sst_size": TARGET, "block_size": 64, "num_memtable_limit": NO_FLUSH, **overrides}
        db = LsmStorage.open(tmp_path / "db", options_for_day(4, **sizes))
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


def frozen_count(db: LsmStorage) -> int:
    """Memtables frozen so far: the immutable ones still in memory plus those already flushed to L0."""
    stats = db.stats()
    return stats["memtables"] - 1 + stats["levels"][0]["ssts"]


@pytest.mark.day4_task1
def test_the_memtable_freezes_when_its_size_reaches_the_target(open_db: OpenDb) -> None:
    """A memtable whose approximate size reached target_sst_size exactly was not frozen (or one below it was)."""
    db = open_db()
    db.put(b"k1", b"x" * (TARGET - 3))  # 2 + 253 = 255 bytes: one short of the target
    assert frozen_count(db) == 0, (
        f"a memtable of {TARGET - 1} bytes is below target_sst_size={TARGET} and must stay active, "
        f"but {frozen_count(db)} memtable(s) were frozen"
    )
    db.put(b"k1", b"x" * (TARGET - 2))  # the value one byte longer: 256 bytes, the target reached exactly
    assert frozen_count(db) == 1, (
        f"a memtable whose approximate_size() reaches target_sst_size={TARGET} exactly must be frozen "
        f"by the write that made it so, but {frozen_count(db)} memtable(s) were frozen"
    )


@pytest.mark.day4_task4
def test_memtable_bytes_counts_the_frozen_memtables_too(open_db: OpenDb) -> None:
    """stats()['memtable_bytes'] left out the immutable memtables still held in memory."""
    db = open_db()
    db.put(b"k1", b"x" * (TARGET - 2))  # exactly the target: frozen, and kept in memory (no flush)
    db.put(b"k2", b"abc")
    stats = db.stats()
    assert stats["memtables"] == 2, f"expected one frozen and one active memtable, stats() says {stats}"
    assert stats["memtable_bytes"] == TARGET + 5, (
        f"memtable_bytes is the approximate size of every memtable in memory: {TARGET} in the frozen one "
        f"plus 5 in the active one = {TARGET + 5}, got {stats['memtable_bytes']}"
    )


@pytest.mark.day4_task2
def test_a_get_overtaken_by_a_compaction_reads_one_state(open_db: OpenDb) -> None:
    """A get that a compaction overtook mixed two states (a KeyError, or a value from the wrong table)."""
    db = open_db(target_sst_size=128, block_size=48)
    for round_ in range(3):
        for n in range(12):
            db.put(b"key%02d" % n, b"round-%d" % round_)
        db.force_flush()
    assert db.stats()["levels"][0]["ssts"] >= 3, f"expected several L0 SSTs, stats() says {db.stats()}"
    memtable = db.state.memtable
    overtaken: list[bool] = []

    def get_then_compact(key: bytes) -> object:
        # the engine has taken its state and is looking in the memtables: a full compaction
        # now replaces every SST it holds before it reaches them
        del memtable.get
        db.force_full_compaction()
        overtaken.append(True)
        return memtable.get(key)

    memtable.get = get_then_compact
    got = db.get(b"key05")
    assert overtaken, "the test's compaction did not run inside the get (the active memtable was not asked)"
    assert got == b"round-2", (
        "a get takes the state once and reads every table from it: a compaction that publishes a new state "
        f"while the get runs must not change what it finds. Expected b'round-2', got {got!r}"
    )


class SstNames:
    """Watches fsyncs and renames (real calls on real files): which SSTs got a durable name, in order."""

    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.directory = directory
        self.events: list[str] = []  # "sst NNNNN.sst" when an SST was fsynced or renamed into place; "directory"
        watch_file_calls(monkeypatch, self._observe)

    def _observe(self, when: str, call: str, arguments: list) -> None:
        if when != "after":
            return
        if call == "fsync":
            status = arguments[0]
            if status["folder"]:
                self.events.append("directory")
                return
            name = next((e.name for e in self.directory.iterdir() if e.stat().st_ino == status["inode"]), "")
            if SST_NAME.fullmatch(name):
                self.events.append(f"sst {name}")
        elif call in ("replace", "rename") and SST_NAME.fullmatch(Path(arguments[1]).name):
            self.events.append(f"sst {Path(arguments[1]).name}")


@pytest.mark.day4_task4
@pytest.mark.parametrize("call", ["sync", "close"])
def test_without_a_wal_the_new_sst_names_are_durable_before_sync_or_close_returns(
    open_db: OpenDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    """Without a WAL, sync() or close() returned before the directory was fsynced after its new SSTs were named."""
    db = open_db()
    for n in range(5):
        db.put(b"key%d" % n, b"value")
    names = SstNames(tmp_path / "db", monkeypatch)
    getattr(db, call)()
    ssts = [event for event in names.events if event.startswith("sst ")]
    assert ssts, f"{call}() with enable_wal=False must write the memtable to an SST, saw {names.events}"
    last_sst = max(i for i, event in enumerate(names.events) if event.startswith("sst "))
    assert "directory" in names.events[last_sst + 1 :], (
        f"{call}() with enable_wal=False wrote {ssts[-1][4:]}, but the directory was not fsynced after it: a new "
        "file's name is an entry of its directory, and a power cut can lose it although its bytes were fsynced "
        f"(calls seen: {names.events})"
    )
