"""Day 4 hidden tests: the contract's edges, the read order, scan bounds, durability calls and stats."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

import tinylsm.extensions
from checker.grading.isolation.engine import watch_file_calls
from tinylsm.durability import Op, PlainDurability
from tinylsm.engine import LsmStorage
from tinylsm.errors import LsmError
from tinylsm.files import sst_path
from tinylsm.lookup import ABSENT
from tinylsm.options import MAX_KEY_SIZE, MAX_VALUE_SIZE, LsmStorageOptions
from tinylsm.sstable import SsTable, SsTableBuilder
from tinylsm.state import LsmStorageState
from tinylsm.testkit import options_for_day, show

OpenDb = Callable[..., LsmStorage]
NO_FLUSH = 1000
"""A ``num_memtable_limit`` that no test reaches: memtables freeze, but nothing flushes."""
KEY_LIMIT = r"65,?535|MAX_KEY_SIZE"
VALUE_LIMIT = r"1,?048,?576|MAX_VALUE_SIZE|1 ?MiB"


def options(**overrides: int) -> LsmStorageOptions:
    sizes = {"target_sst_size": 256, "block_size": 64, "num_memtable_limit": 2, **overrides}
    return options_for_day(4, **sizes)


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[OpenDb]:
    """Opens engines in ``tmp_path`` (or ``path=``); closes what a test leaves open, ignoring errors."""
    opened: list[LsmStorage] = []

    def open_(path: Path | None = None, **overrides: int) -> LsmStorage:
        db = LsmStorage.open(path or tmp_path, options(**overrides))
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


def write_sst(
    directory: Path, sst_id: int, entries: Sequence[tuple[bytes, bytes | None]], block_size: int = 64
) -> None:
    """Write SST ``NNNNN.sst`` holding ``entries`` (a larger id is newer), as a flush would."""
    builder = SsTableBuilder(options(block_size=block_size))
    for key, value in sorted(entries):
        builder.add(key, value)
    builder.build(sst_id, sst_path(directory, sst_id), None).close()


def sst_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if re.fullmatch(r"\d{5}\.sst", p.name))


def fill(db: LsmStorage, prefix: bytes, count: int = 8) -> None:
    """Write ``count`` filler keys of about 20 bytes each: enough to freeze a 64-byte memtable twice."""
    for n in range(count):
        db.put(prefix + b"-filler%02d" % n, b"f" * 8)


# Task 1: write path

BAD_WRITES: dict[str, tuple[Callable[[LsmStorage], object], type[Exception], str | None]] = {
    "put-str-key": (lambda db: db.put("key", b"v"), TypeError, "key"),
    "put-bytearray-key": (lambda db: db.put(bytearray(b"key"), b"v"), TypeError, "key"),
    "put-int-key": (lambda db: db.put(5, b"v"), TypeError, "key"),
    "put-none-value": (lambda db: db.put(b"key", None), TypeError, "value"),
    "put-str-value": (lambda db: db.put(b"key", "v"), TypeError, "value"),
    "put-bytearray-value": (lambda db: db.put(b"key", bytearray(b"red")), TypeError, "value"),
    "delete-str-key": (lambda db: db.delete("key"), TypeError, "key"),
    "delete-none-key": (lambda db: db.delete(None), TypeError, "key"),
    "put-key-of-65536-bytes": (lambda db: db.put(b"k" * (MAX_KEY_SIZE + 1), b"v"), ValueError, KEY_LIMIT),
    "delete-key-of-65536-bytes": (lambda db: db.delete(b"k" * (MAX_KEY_SIZE + 1)), ValueError, KEY_LIMIT),
    "put-empty-key": (lambda db: db.put(b"", b"v"), ValueError, None),
    "delete-empty-key": (lambda db: db.delete(b""), ValueError, None),
    "put-value-of-1-MiB-plus-1": (lambda db: db.put(b"key", b"v" * (MAX_VALUE_SIZE + 1)), ValueError, VALUE_LIMIT),
}


T = TypeVar("T")


def durability_layers(monkeypatch: pytest.MonkeyPatch, kind: type[T]) -> list[T]:
    """Make every engine opened from now on use a durability layer of ``kind``; the list of those made."""
    made: list[T] = []

    def factory(options: LsmStorageOptions, directory: Path, block_cache: object) -> T:
        made.append(kind(options, directory, block_cache))  # type: ignore[call-arg]
        return made[-1]

    monkeypatch.setattr(tinylsm.extensions, "durability", factory)
    return made


def engine_with_layer(
    monkeypatch: pytest.MonkeyPatch, open_db: OpenDb, kind: type[T], **overrides: object
) -> tuple[LsmStorage, T]:
    """An engine opened with a durability layer of ``kind``, which is told the engine (``layer.engine``)."""
    made = durability_layers(monkeypatch, kind)
    db = open_db(**overrides)
    assert len(made) == 1, f"opening the engine should create one durability layer, it created {len(made)}"
    made[0].engine = db
    return db, made[0]


@pytest.mark.day4_task1
@pytest.mark.parametrize("case", list(BAD_WRITES))
def test_bad_write_is_refused_and_changes_nothing(open_db: OpenDb, case: str) -> None:
    """A write of a wrong type or size was not refused with TypeError/ValueError naming the problem, or changed data."""
    call, error, pattern = BAD_WRITES[case]
    db = open_db()
    db.put(b"key", b"old")
    with pytest.raises(error, match=pattern):
        call(db)
        pytest.fail(f"{case}: expected {error.__name__}, but the call returned")
    got = db.get(b"key")
    assert got == b"old", f"{case} was refused, so get(b'key') should still give b'old', got {show(got)}"


BAD_BATCH_OPS: dict[str, tuple[object, type[Exception] | tuple[type[Exception], ...]]] = {
    "value-of-wrong-type": ((b"z", 5), TypeError),
    "key-of-wrong-type": (("z", b"1"), TypeError),
    "bytearray-key": ((bytearray(b"z"), b"1"), TypeError),
    "str-value": ((b"z", "1"), TypeError),
    "bytearray-value": ((b"z", bytearray(b"1")), TypeError),
    "delete-of-str-key": (("z", None), TypeError),
    "delete-of-empty-key": ((b"", None), ValueError),
    "empty-key": ((b"", b"1"), ValueError),
    "key-of-65536-bytes": ((b"z" * (MAX_KEY_SIZE + 1), b"1"), ValueError),
    "value-of-1-MiB-plus-1": ((b"z", b"v" * (MAX_VALUE_SIZE + 1)), ValueError),
    "three-items": ((b"z", b"1", b"2"), (TypeError, ValueError)),
    "one-item": ((b"z",), (TypeError, ValueError)),
}


@pytest.mark.day4_task1
@pytest.mark.parametrize("case", list(BAD_BATCH_OPS))
def test_batch_with_a_bad_operation_leaves_the_database_unchanged(open_db: OpenDb, case: str) -> None:
    """A batch with one bad operation was not refused, or the good operations before it were applied anyway."""
    bad_op, error = BAD_BATCH_OPS[case]
    db = open_db()
    db.put(b"key", b"old")
    db.put(b"other", b"1")
    batch = [(b"key", b"new"), (b"other", None), (b"fresh", b"1"), bad_op, (b"late", b"2")]
    with pytest.raises(error):
        db.write_batch(batch)  # type: ignore[arg-type]
        pytest.fail(f"a batch holding a bad operation ({case}) was accepted")
    got = {key: db.get(key) for key in (b"key", b"other", b"fresh", b"late")}
    want = {b"key": b"old", b"other": b"1", b"fresh": None, b"late": None}
    assert got == want, (
        f"a batch refused for its 4th operation ({case}) must change nothing: expected {show(want)}, got {show(got)}"
    )


@pytest.mark.day4_task1
def test_longest_key_and_largest_value_are_accepted(open_db: OpenDb) -> None:
    """A key of exactly 65,535 bytes or a value of exactly 1 MiB was refused or came back different."""
    db = open_db(target_sst_size=1 << 20, num_memtable_limit=NO_FLUSH)
    key, value = b"k" * MAX_KEY_SIZE, b"v" * MAX_VALUE_SIZE
    db.put(key, value)
    db.write_batch([(b"x" * MAX_KEY_SIZE, b"w" * MAX_VALUE_SIZE)])
    assert db.get(key) == value, "the longest key with the largest value did not come back"
    assert db.get(b"x" * MAX_KEY_SIZE) == b"w" * MAX_VALUE_SIZE, "a batch with the largest key and value was lost"
    db.delete(key)
    assert db.get(key) is None, "deleting the longest key did not hide it"


@pytest.mark.day4_task1
def test_later_operation_on_a_key_in_one_batch_wins(open_db: OpenDb) -> None:
    """Within one batch, an earlier operation on a key won over a later one."""
    db = open_db()
    db.write_batch([(b"a", b"1"), (b"a", b""), (b"b", None), (b"b", b"2"), (b"c", b"3"), (b"c", None)])
    got = {key: db.get(key) for key in (b"a", b"b", b"c")}
    want = {b"a": b"", b"b": b"2", b"c": None}
    assert got == want, f"expected {show(want)} (the last operation on each key wins), got {show(got)}"


@pytest.mark.day4_task1
def test_empty_batch_is_accepted_and_changes_nothing(open_db: OpenDb) -> None:
    """An empty batch raised, or changed the database."""
    db = open_db()
    db.put(b"a", b"1")
    db.write_batch([])
    db.write_batch(iter(()))
    assert db.get(b"a") == b"1", "an empty batch must change nothing"


@pytest.mark.day4_task1
def test_batch_given_as_a_generator_is_applied(open_db: OpenDb) -> None:
    """write_batch given a generator (any iterable of pairs) lost operations."""
    db = open_db()
    db.write_batch((b"g%d" % n, b"%d" % n) for n in range(5))
    got = [db.get(b"g%d" % n) for n in range(5)]
    assert got == [b"%d" % n for n in range(5)], f"a batch from a generator gave {show(got)}"


@pytest.mark.day4_task1
def test_batch_operation_given_as_a_list_is_refused_with_type_error(open_db: OpenDb) -> None:
    """write_batch accepted an operation given as a list [key, value] instead of a (key, value) tuple."""
    db = open_db()
    db.put(b"k", b"old")
    with pytest.raises(TypeError):
        db.write_batch([[b"k", b"new"]])  # type: ignore[list-item]
        pytest.fail(
            "write_batch([[b'k', b'new']]) should raise TypeError: each operation must be a (key, value) tuple, "
            "and a list [key, value] is not one"
        )
    got = db.get(b"k")
    assert got == b"old", (
        f"a batch refused with TypeError must change nothing: get(b'k') expected b'old', got {show(got)}"
    )


@pytest.mark.day4_task1
def test_frozen_memtables_stay_readable_newest_first(open_db: OpenDb) -> None:
    """A full memtable was not frozen, writes in a frozen memtable were lost, or imm_memtables is not newest first."""
    db = open_db(target_sst_size=100, num_memtable_limit=NO_FLUSH)
    expected = {b"key%04d" % n: b"value-%d" % n for n in range(300)}
    for key, value in expected.items():
        db.put(key, value)
    state = db.state
    frozen = len(state.imm_memtables)
    assert frozen >= 20, f"about 5,000 bytes written into 100-byte memtables froze only {frozen} of them"
    ids = [m.id for m in state.imm_memtables]
    assert ids == sorted(ids, reverse=True) and state.memtable.id > ids[0], (
        f"imm_memtables must be newest (largest id) first, below the active memtable {state.memtable.id}: got {ids}"
    )
    wrong = [key for key, value in expected.items() if db.get(key) != value]
    assert not wrong, f"{len(wrong)} keys written before freezes came back wrong, e.g. {show(wrong[:3])}"


# The durability layer, recorded


class RecordingDurability(PlainDurability):
    """The plain durability layer, also recording each call and what the engine looked like then."""

    def __init__(self, options: LsmStorageOptions, directory: Path, block_cache: object) -> None:
        super().__init__(options, directory, block_cache)  # type: ignore[arg-type]
        self.directory = Path(directory)
        self.engine: LsmStorage | None = None
        self.calls: list[tuple] = []
        self.problems: list[str] = []

    def log(self, memtable_id: int, ops: Sequence[Op]) -> None:
        ops = [tuple(op) for op in ops]
        engine = self.engine
        if engine is not None:
            memtable = engine.state.memtable
            if memtable.id != memtable_id:
                self.problems.append(
                    f"log({memtable_id}, ...) named a memtable other than the active one, {memtable.id}"
                )
            for key, _ in ops:
                if memtable.get(key) is not ABSENT:
                    self.problems.append(f"the write of {key!r} was already in the memtable when log() was called")
        self.calls.append(("log", memtable_id, ops))

    def sync(self) -> None:
        self.calls.append(("sync",))

    def memtable_frozen(self, frozen_id: int, new_id: int) -> None:
        self.calls.append(("frozen", frozen_id, new_id))

    def memtable_flushed(self, memtable_id: int, sst_id: int) -> None:
        path = sst_path(self.directory, sst_id)
        try:
            SsTable.open(sst_id, path, None).close()
        except Exception as error:
            self.problems.append(
                f"memtable_flushed({memtable_id}, {sst_id}) came before {path.name} was complete: {error!r}"
            )
        self.calls.append(("flushed", memtable_id, sst_id))

    def close(self) -> None:
        self.calls.append(("close",))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, open_db: OpenDb) -> Callable[..., tuple[LsmStorage, RecordingDurability]]:
    """Open an engine whose durability layer is a ``RecordingDurability``."""

    def open_recorded(**overrides: int) -> tuple[LsmStorage, RecordingDurability]:
        return engine_with_layer(monkeypatch, open_db, RecordingDurability, **overrides)

    return open_recorded


@pytest.mark.day4_task1
def test_every_write_is_logged_once_before_it_is_applied(recorded: Callable) -> None:
    """A write was not logged, was logged in pieces, or was applied to the memtable before log() was called."""
    db, durability = recorded(target_sst_size=1 << 20)
    memtable_id = db.state.memtable.id
    db.put(b"p1", b"v1")
    db.delete(b"d1")
    db.write_batch([(b"b1", b"x"), (b"b2", None), (b"b3", b"")])
    logs = [call for call in durability.calls if call[0] == "log"]
    want = [
        ("log", memtable_id, [(b"p1", b"v1")]),
        ("log", memtable_id, [(b"d1", None)]),
        ("log", memtable_id, [(b"b1", b"x"), (b"b2", None), (b"b3", b"")]),
    ]
    assert logs == want, f"expected one log() per write, the batch as one record: {show(want)}, got {show(logs)}"
    assert not durability.problems, durability.problems[0]


@pytest.mark.day4_task1
def test_freeze_reports_the_old_and_the_new_memtable(recorded: Callable) -> None:
    """A freeze did not call memtable_frozen(old_id, new_id) with the memtable frozen and the one that replaced it."""
    db, durability = recorded(target_sst_size=64, num_memtable_limit=NO_FLUSH)
    switches = []
    for n in range(30):
        before = db.state.memtable.id
        db.put(b"key%02d" % n, b"v" * 10)
        after = db.state.memtable.id
        if after != before:
            switches.append(("frozen", before, after))
    frozen = [call for call in durability.calls if call[0] == "frozen"]
    assert switches, "30 writes of 15 bytes into 64-byte memtables should have frozen some"
    assert frozen == switches, f"the active memtable changed as {switches}, but memtable_frozen was called as {frozen}"
    assert not durability.problems, durability.problems[0]


# Task 2: point reads

BAD_GET_KEYS: dict[str, tuple[object, type[Exception], str | None]] = {
    "str": ("key", TypeError, "key"),
    "int": (7, TypeError, "key"),
    "none": (None, TypeError, "key"),
    "bytearray": (bytearray(b"key"), TypeError, "key"),
    "empty": (b"", ValueError, None),
    "65536-bytes": (b"k" * (MAX_KEY_SIZE + 1), ValueError, KEY_LIMIT),
}


@pytest.mark.day4_task2
@pytest.mark.parametrize("case", list(BAD_GET_KEYS))
def test_get_with_a_bad_key_is_refused(open_db: OpenDb, tmp_path: Path, case: str) -> None:
    """get with a key of the wrong type or size did not raise TypeError/ValueError naming the problem."""
    key, error, pattern = BAD_GET_KEYS[case]
    write_sst(tmp_path, 1, [(b"key", b"1")])
    db = open_db()
    assert db.get(b"key") == b"1", "get(b'key') should find the SST's value"
    with pytest.raises(error, match=pattern):
        db.get(key)  # type: ignore[arg-type]
        pytest.fail(f"get({show(key)}) should raise {error.__name__}")


@pytest.mark.day4_task2
def test_newer_l0_sst_wins_over_older(open_db: OpenDb, tmp_path: Path) -> None:
    """get returned a key's value from an older L0 SST although a newer one holds the key."""
    write_sst(tmp_path, 1, [(b"a", b"only-in-1"), (b"k", b"old"), (b"m", b"1")])
    write_sst(tmp_path, 2, [(b"k", b"middle"), (b"m", b"2")])
    write_sst(tmp_path, 3, [(b"k", b"new"), (b"z", b"3")])
    db = open_db()
    got = {key: db.get(key) for key in (b"a", b"k", b"m", b"z")}
    want = {b"a": b"only-in-1", b"k": b"new", b"m": b"2", b"z": b"3"}
    assert got == want, f"L0 SSTs 1 < 2 < 3 (3 newest): expected {show(want)}, got {show(got)}"


@pytest.mark.day4_task2
def test_tombstone_in_newer_l0_sst_hides_value_in_older(open_db: OpenDb, tmp_path: Path) -> None:
    """A tombstone in a newer L0 SST did not hide the key's value in an older one (or came back as b'')."""
    write_sst(tmp_path, 1, [(b"k", b"old"), (b"j", b"old")])
    write_sst(tmp_path, 2, [(b"k", None), (b"j", None)])
    write_sst(tmp_path, 3, [(b"j", b"again")])
    db = open_db()
    got = db.get(b"k")
    assert got is None, f"SST 2's tombstone must hide SST 1's b'old': expected None, got {show(got)}"
    got = db.get(b"j")
    assert got == b"again", f"SST 3's b'again' is newer than SST 2's tombstone: got {show(got)}"


@pytest.mark.day4_task2
def test_newest_immutable_memtable_wins(open_db: OpenDb, tmp_path: Path) -> None:
    """With a key in several frozen memtables, get did not return the newest frozen memtable's entry."""
    write_sst(tmp_path, 1, [(b"k", b"sst")])
    db = open_db(target_sst_size=64, num_memtable_limit=NO_FLUSH)
    for value in (b"first", b"second", b"third"):
        db.put(b"k", value)
        fill(db, value)
    assert len(db.state.imm_memtables) >= 3, "each round of filler writes should have frozen a memtable"
    got = db.get(b"k")
    assert got == b"third", f"three frozen memtables hold b'k' (b'third' newest): got {show(got)}"
    db.delete(b"k")
    fill(db, b"deleted")
    got = db.get(b"k")
    assert got is None, f"a tombstone in the newest frozen memtable must hide the older values: got {show(got)}"


@pytest.mark.day4_task2
def test_binary_keys_with_zero_and_ff_bytes_are_found(open_db: OpenDb, tmp_path: Path) -> None:
    """A key holding 0x00 or 0xff bytes was not found, or was confused with a neighbouring key."""
    in_sst = [(b"\x00", b"zero"), (b"\x00\xff", b"zero-ff"), (b"\xff", b"ff"), (b"a\x00b", b"a0b")]
    in_memtable = [(b"\x00\x00", b"zero-zero"), (b"\xff\x00", b"ff-zero"), (b"\xff\xff", b"")]
    write_sst(tmp_path, 1, in_sst)
    db = open_db()
    for key, value in in_memtable:
        db.put(key, value)
    for key, value in in_sst + in_memtable:
        got = db.get(key)
        assert got == value, f"get({key!r}) expected {value!r}, got {show(got)}"
    for absent in (b"\x00\x00\x00", b"\xff\xff\xff", b"a\x00", b"a"):
        got = db.get(absent)
        assert got is None, f"get({absent!r}) of a key never written should give None, got {show(got)}"


@pytest.mark.day4_task2
def test_repeated_get_of_a_flushed_key_hits_the_block_cache(open_db: OpenDb) -> None:
    """Repeated gets of one key in an SST never hit the block cache: get did not put the block it read in the cache."""
    db = open_db(target_sst_size=1 << 20, block_cache_bytes=1 << 20)
    for n in range(50):
        db.put(b"key%03d" % n, b"value-%d" % n)
    db.force_flush()
    before = db.stats()
    got = [db.get(b"key025") for _ in range(5)]
    after = db.stats()
    assert got == [b"value-25"] * 5, f"five gets of b'key025' (in the SST) expected b'value-25' each, got {show(got)}"
    hits = after["block_cache_hits"] - before["block_cache_hits"]
    misses = after["block_cache_misses"] - before["block_cache_misses"]
    assert hits >= 4, (
        f"five gets of the same key read the same block, and a 1 MiB block cache holds it after the first read: "
        f"expected at least 4 block cache hits, got {hits} hits and {misses} misses (a get must read its block "
        "through the cache and keep it there)"
    )


# Task 3: scans


BAD_BOUNDS: dict[str, dict[str, object]] = {
    "str-start": {"start": "a"},
    "int-stop": {"stop": 5},
    "bytearray-start": {"start": bytearray(b"a")},
    "str-stop": {"start": b"a", "stop": "z"},
}


@pytest.mark.day4_task3
@pytest.mark.parametrize("case", list(BAD_BOUNDS))
def test_scan_with_a_bound_that_is_not_bytes_is_refused(open_db: OpenDb, case: str) -> None:
    """scan with a start or stop that is neither bytes nor None did not raise TypeError naming it."""
    db = open_db()
    db.put(b"m", b"1")
    bounds = BAD_BOUNDS[case]
    with pytest.raises(TypeError, match="start" if "start" in case else "stop"):
        list(db.scan(**bounds))  # type: ignore[arg-type]
        pytest.fail(f"scan(**{bounds!r}) should raise TypeError")


@pytest.mark.day4_task3
@pytest.mark.parametrize("bounds", [(None, None), (b"b", b"a")], ids=["whole-range", "start-above-stop"])
def test_scan_after_close_raises_at_the_call_itself(open_db: OpenDb, bounds: tuple[bytes | None, bytes | None]) -> None:
    """scan() on a closed database returned an iterator (or nothing) instead of raising LsmError at the call."""
    db = open_db()
    db.put(b"a", b"1")
    db.close()
    start, stop = bounds
    with pytest.raises(LsmError):
        db.scan(start, stop)
        pytest.fail(
            f"scan({start!r}, {stop!r}) after close() returned without raising: the call itself must raise "
            "LsmError, before any next(), even when the range is empty"
        )


@pytest.mark.day4_task3
def test_exclusive_start_skips_a_start_key_held_only_in_an_sst(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan with include_start=False returned the start key when that key lives in an SST."""
    write_sst(tmp_path, 1, [(b"b", b"sst-b"), (b"d", b"sst-d"), (b"f", b"sst-f"), (b"h", b"sst-h")])
    db = open_db()
    for key in (b"a", b"c", b"e", b"g"):
        db.put(key, b"mem-" + key)
    db.put(b"f", b"mem-f")  # f in both: the memtable's copy is newer
    db.delete(b"h")  # h deleted in the memtable over a value in the SST
    cases = [
        ((b"b", None), [b"c", b"d", b"e", b"f", b"g"]),
        ((b"d", b"f"), [b"e"]),
        ((b"f", None), [b"g"]),
        ((b"h", None), []),
        ((b"bb", b"e"), [b"c", b"d"]),
    ]
    for (start, stop), want in cases:
        got = [key for key, _ in db.scan(start, stop, include_start=False)]
        assert got == want, f"scan({start!r}, {stop!r}, include_start=False) expected keys {want}, got {got}"


@pytest.mark.day4_task3
def test_stop_bound_applies_to_the_first_key_found(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan whose range falls in a gap between stored keys returned the first key past its stop bound."""
    write_sst(tmp_path, 1, [(b"key00", b"0"), (b"key11", b"11"), (b"key22", b"22")])
    db = open_db()
    cases = [
        ((b"key01", b"key01", True, True), []),
        ((b"key01", b"key05", True, False), []),
        ((b"key01", b"key11", True, False), []),
        ((b"key00", b"key05", False, True), []),
        ((b"key01", b"key11", True, True), [(b"key11", b"11")]),
        ((b"key12", b"key22", False, False), []),
    ]
    for (start, stop, include_start, include_stop), want in cases:
        got = list(db.scan(start, stop, include_start=include_start, include_stop=include_stop))
        call = f"scan({start!r}, {stop!r}, include_start={include_start}, include_stop={include_stop})"
        assert got == want, f"{call} over keys key00, key11, key22 (in an SST) expected {show(want)}, got {show(got)}"


@pytest.mark.day4_task3
def test_start_equal_to_stop_follows_both_flags(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan with start == stop ignored include_start or include_stop."""
    write_sst(tmp_path, 1, [(b"l", b"1"), (b"m", b"2"), (b"n", b"3")])
    db = open_db()
    for include_start in (False, True):
        for include_stop in (False, True):
            got = list(db.scan(b"m", b"m", include_start=include_start, include_stop=include_stop))
            want = [(b"m", b"2")] if include_start and include_stop else []
            assert got == want, (
                f"scan(b'm', b'm', include_start={include_start}, include_stop={include_stop}) "
                f"expected {show(want)}, got {show(got)}"
            )


@pytest.mark.day4_task3
def test_open_side_of_a_scan_ignores_its_include_flag(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan bound of None did not leave its side open (an include flag on a None bound dropped a key)."""
    write_sst(tmp_path, 1, [(b"a", b"1"), (b"c", b"3")])
    db = open_db()
    db.put(b"b", b"2")
    db.put(b"d", b"4")
    everything = [(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4")]
    got = list(db.scan(None, None, include_start=False, include_stop=True))
    assert got == everything, f"scan(None, None, include_start=False) expected {show(everything)}, got {show(got)}"
    got = list(db.scan(None, b"c"))
    assert got == everything[:2], f"scan(None, b'c') expected {show(everything[:2])}, got {show(got)}"
    got = list(db.scan(b"b"))
    assert got == everything[1:], f"scan(b'b') expected {show(everything[1:])}, got {show(got)}"


@pytest.mark.day4_task3
def test_scan_starting_inside_an_sst_key_range_finds_its_keys(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan whose start falls inside an SST's key range skipped that SST's keys."""
    letters = [(bytes([c]), bytes([c]) * 3) for c in range(ord("a"), ord("z") + 1)]
    write_sst(tmp_path, 1, letters)
    db = open_db()
    got = list(db.scan(b"m", b"p"))
    want = [(b"m", b"mmm"), (b"n", b"nnn"), (b"o", b"ooo")]
    assert got == want, f"scan(b'm', b'p') over an SST holding a..z expected {show(want)}, got {show(got)}"
    got = list(db.scan(b"mm", b"n", include_stop=True))
    assert got == [(b"n", b"nnn")], f"scan(b'mm', b'n', include_stop=True) expected [(b'n', b'nnn')], got {show(got)}"


@pytest.mark.day4_task3
def test_scan_takes_the_newest_copy_across_l0_ssts(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan returned a key's value from an older L0 SST, or showed a key a newer L0 SST deletes."""
    write_sst(tmp_path, 1, [(b"a", b"1"), (b"b", b"1"), (b"c", b"1"), (b"d", b"1")])
    write_sst(tmp_path, 2, [(b"b", b"2"), (b"c", None)])
    write_sst(tmp_path, 3, [(b"b", b"3"), (b"e", b"3")])
    db = open_db()
    got = list(db.scan())
    want = [(b"a", b"1"), (b"b", b"3"), (b"d", b"1"), (b"e", b"3")]
    assert got == want, f"L0 SSTs 1 < 2 < 3 (SST 2 deletes c): expected {show(want)}, got {show(got)}"


@pytest.mark.day4_task3
def test_scan_takes_the_newest_copy_across_memtables(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan returned a key's value from an older memtable or SST although a newer memtable holds the key."""
    write_sst(tmp_path, 1, [(b"k", b"sst"), (b"s", b"sst")])
    db = open_db(target_sst_size=64, num_memtable_limit=NO_FLUSH)
    for value in (b"first", b"second"):
        db.put(b"k", value)
        db.put(b"s", value)
        fill(db, b"x" + value)
    db.delete(b"s")
    got = [(key, value) for key, value in db.scan(b"a", b"t")]
    assert got == [(b"k", b"second")], (
        f"two frozen memtables hold k (b'second' newest) and the active one deletes s: expected "
        f"[(b'k', b'second')], got {show(got)}"
    )


@pytest.mark.day4_task3
def test_scan_orders_binary_keys_bytewise(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan over keys with 0x00 and 0xff bytes came out of byte order or mishandled a bound."""
    in_sst = [(b"\x00", b"1"), (b"\x00\xff", b"3"), (b"\xff", b"5"), (b"\xff\xff", b"7")]
    in_memtable = [(b"\x00\x00", b"2"), (b"a", b"4"), (b"\xff\x00", b"6")]
    write_sst(tmp_path, 1, in_sst)
    db = open_db()
    for key, value in in_memtable:
        db.put(key, value)
    everything = sorted(in_sst + in_memtable)
    got = list(db.scan())
    assert got == everything, f"a full scan expected {show(everything)}, got {show(got)}"
    got = list(db.scan(b"\x00", b"\xff", include_start=False))
    want = everything[1:4]
    assert got == want, f"scan(b'\\x00', b'\\xff', include_start=False) expected {show(want)}, got {show(got)}"
    got = list(db.scan(b"\xff", None, include_start=False))
    want = everything[5:]
    assert got == want, f"scan(b'\\xff', include_start=False) expected {show(want)}, got {show(got)}"


@pytest.mark.day4_task3
def test_narrow_scan_reads_no_block_of_ssts_outside_its_range(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan of a narrow range read blocks of L0 SSTs whose key ranges lie entirely outside it."""
    for table in range(10):  # one block each: k00..k09, k10..k19, ..., k90..k99
        write_sst(tmp_path, table + 1, [(b"k%d%d" % (table, n), b"v" * 20) for n in range(10)], block_size=4096)
    db = open_db()
    counters = db.block_cache.counters
    before = counters.blocks_read + counters.block_cache_hits
    got = [key for key, _ in db.scan(b"k31", b"k34")]
    touched = counters.blocks_read + counters.block_cache_hits - before
    assert got == [b"k31", b"k32", b"k33"], f"scan(b'k31', b'k34') expected keys k31..k33, got {got}"
    assert touched <= 2, (
        f"10 L0 SSTs of one block each, with disjoint key ranges, and only one overlaps [k31, k34): the scan "
        f"touched {touched} blocks; an SST whose key range lies outside the bounds must not be opened"
    )


# Task 4: flush, sync and close


@pytest.mark.day4_task4
def test_flush_writes_the_oldest_immutable_memtable_first(open_db: OpenDb) -> None:
    """flush_next_imm_memtable flushed a newer frozen memtable before an older one, so an old value won."""
    db = open_db(target_sst_size=64, num_memtable_limit=NO_FLUSH)
    for value in (b"older", b"newer"):
        db.put(b"k", value)
        fill(db, value)
    frozen = [m.id for m in db.state.imm_memtables]
    assert len(frozen) >= 2, "two rounds of filler writes should have frozen two memtables"
    assert db.flush_next_imm_memtable() is True, "flush_next_imm_memtable should return True when it flushed"
    state = db.state
    assert [m.id for m in state.imm_memtables] == frozen[:-1], (
        f"the oldest frozen memtable ({frozen[-1]}) should have left imm_memtables {frozen}, "
        f"leaving {frozen[:-1]}, got {[m.id for m in state.imm_memtables]}"
    )
    assert len(state.l0_sstables) == 1, f"one flush should make one L0 SST, got {state.l0_sstables}"
    got = db.get(b"k")
    assert got == b"newer", f"after flushing the oldest memtable, get(b'k') expected b'newer', got {show(got)}"
    while db.flush_next_imm_memtable():
        pass
    assert db.flush_next_imm_memtable() is False, "with no frozen memtable left, flush_next_imm_memtable returns False"
    l0 = db.state.l0_sstables
    assert list(l0) == sorted(l0, reverse=True), f"l0_sstables must be newest (largest id) first, got {l0}"
    got = db.get(b"k")
    assert got == b"newer", f"after flushing every memtable, get(b'k') expected b'newer', got {show(got)}"


@pytest.mark.day4_task4
def test_memtable_limit_of_one_flushes_at_every_freeze(open_db: OpenDb) -> None:
    """With num_memtable_limit=1, a frozen memtable was kept in memory instead of being flushed at once."""
    db = open_db(target_sst_size=64, num_memtable_limit=1)
    for n in range(40):
        db.put(b"key%02d" % n, b"v" * 12)
        memtables = db.stats()["memtables"]
        assert memtables == 1, (
            f"num_memtable_limit=1 allows only the active memtable, but after put #{n} there are {memtables}"
        )
    assert db.stats()["levels"][0]["ssts"] >= 5, "600 bytes written into 64-byte memtables should have made 5+ SSTs"
    wrong = [n for n in range(40) if db.get(b"key%02d" % n) != b"v" * 12]
    assert not wrong, f"keys {wrong} were lost by the flushes"


@pytest.mark.day4_task4
def test_many_tiny_memtables_and_l0_ssts_read_like_a_dict(open_db: OpenDb) -> None:
    """With many tiny memtables flushed into many L0 SSTs, a get or a scan disagreed with a dict of the same writes."""
    import random

    seed = 4
    rng = random.Random(seed)
    db = open_db(target_sst_size=200, block_size=64, num_memtable_limit=3)
    model: dict[bytes, bytes] = {}
    keys = [b"key%03d" % n for n in range(120)]
    for _ in range(1500):
        key = rng.choice(keys)
        if rng.random() < 0.25:
            db.delete(key)
            model.pop(key, None)
        else:
            value = b"%d" % rng.randrange(10**6)
            db.put(key, value)
            model[key] = value
    l0 = db.stats()["levels"][0]["ssts"]
    assert l0 >= 30, f"seed {seed}: 1,500 writes into 200-byte memtables should make 30+ L0 SSTs, made {l0}"
    for key in keys:
        got = db.get(key)
        assert got == model.get(key), f"seed {seed}: get({key!r}) expected {show(model.get(key))}, got {show(got)}"
    got = list(db.scan(b"key030", b"key090"))
    want = sorted((k, v) for k, v in model.items() if b"key030" <= k < b"key090")
    assert got == want, f"seed {seed}: scan(b'key030', b'key090') expected {show(want)}, got {show(got)}"


@pytest.mark.day4_task4
def test_force_flush_with_nothing_to_flush_writes_no_sst(open_db: OpenDb, tmp_path: Path) -> None:
    """force_flush wrote an SST although the memtable was empty (or wrote none when it was not)."""
    db = open_db(target_sst_size=1 << 20)
    db.force_flush()
    assert sst_files(tmp_path) == [], f"force_flush of an empty database wrote {sst_files(tmp_path)}"
    db.put(b"k", b"v")
    db.force_flush()
    db.force_flush()
    files = sst_files(tmp_path)
    assert len(files) == 1, f"one put and two force_flush calls should leave one SST, found {[f.name for f in files]}"


@pytest.mark.day4_task4
def test_sync_without_wal_puts_every_write_in_sst_files(open_db: OpenDb, tmp_path: Path) -> None:
    """After sync() with enable_wal=False, some write existed only in memory (a copy of the files lacked it)."""
    db = open_db(path=tmp_path / "db", target_sst_size=128, num_memtable_limit=3)
    expected = {b"key%03d" % n: b"value-%d" % n for n in range(50)}
    for key, value in expected.items():
        db.put(key, value)
    db.delete(b"key010")
    del expected[b"key010"]
    db.sync()
    shutil.copytree(tmp_path / "db", tmp_path / "copy")  # what a crash right now would leave on disk
    copy = open_db(path=tmp_path / "copy", target_sst_size=128, num_memtable_limit=3)
    got = list(copy.scan())
    assert got == sorted(expected.items()), (
        f"a copy of the directory taken right after sync() should hold every write: expected "
        f"{show(sorted(expected.items()))}, got {show(got)}"
    )


@pytest.mark.day4_task4
def test_second_open_of_an_open_directory_raises_lsm_error(open_db: OpenDb, tmp_path: Path) -> None:
    """A second LsmStorage opened a directory that was already open, or close() did not release it."""
    db = open_db()
    db.put(b"k", b"v")
    with pytest.raises(LsmError):
        LsmStorage.open(tmp_path, options())
        pytest.fail("a second open of a directory that is open should raise LsmError")
    db.close()
    again = open_db()
    assert again.get(b"k") == b"v", "after close, the directory can be opened again and holds the write"


@pytest.mark.day4_task4
@pytest.mark.invariant
def test_second_close_is_a_no_op(open_db: OpenDb, tmp_path: Path) -> None:
    """A second close() raised, or wrote anything."""
    db = open_db()
    db.put(b"k", b"v")
    db.close()
    files = sst_files(tmp_path)
    db.close()
    assert sst_files(tmp_path) == files, "a second close must not write anything"


AFTER_CLOSE: dict[str, Callable[[LsmStorage], object]] = {
    "put": lambda db: db.put(b"k", b"v"),
    "delete": lambda db: db.delete(b"k"),
    "write_batch": lambda db: db.write_batch([(b"k", b"v")]),
    "empty-write_batch": lambda db: db.write_batch([]),
    "get": lambda db: db.get(b"k"),
    "scan": lambda db: list(db.scan()),
    "bounded-scan": lambda db: list(db.scan(b"a", b"z", include_start=False, include_stop=True)),
    "sync": lambda db: db.sync(),
    "force_flush": lambda db: db.force_flush(),
    "stats": lambda db: db.stats(),
}


@pytest.mark.day4_task4
@pytest.mark.parametrize("case", list(AFTER_CLOSE))
def test_call_after_close_raises_lsm_error(open_db: OpenDb, case: str) -> None:
    """A call on a closed database did not raise LsmError."""
    db = open_db()
    db.put(b"k", b"v")
    db.close()
    with pytest.raises(LsmError):
        AFTER_CLOSE[case](db)
        pytest.fail(f"{case} after close() should raise LsmError, but it returned")


@pytest.mark.day4_task4
def test_close_writes_every_memtable_to_l0(open_db: OpenDb) -> None:
    """close() with enable_wal=False left a frozen or active memtable unwritten, so a reopen lost writes."""
    db = open_db(target_sst_size=64, num_memtable_limit=NO_FLUSH)
    fill(db, b"a")
    fill(db, b"b")
    db.put(b"last", b"write")
    memtables = 1 + len(db.state.imm_memtables)
    db.close()
    db = open_db(target_sst_size=64, num_memtable_limit=NO_FLUSH)
    l0 = db.stats()["levels"][0]["ssts"]
    assert l0 == memtables, f"{memtables} non-empty memtables at close should become {memtables} L0 SSTs, got {l0}"
    assert db.get(b"last") == b"write", "the active memtable's last write was lost by close"
    assert len(list(db.scan())) == 17, "16 filler keys and b'last' should survive close and reopen"


@pytest.mark.day4_task4
@pytest.mark.invariant
def test_flush_is_reported_only_after_its_sst_is_complete(recorded: Callable) -> None:
    """memtable_flushed was called before the SST file was complete, or not for every flush, or not oldest first."""
    db, durability = recorded(target_sst_size=64, num_memtable_limit=2)
    for n in range(40):
        db.put(b"key%02d" % n, b"v" * 12)
    db.force_flush()
    frozen = [call[1] for call in durability.calls if call[0] == "frozen"]
    flushed = [call[1:] for call in durability.calls if call[0] == "flushed"]
    assert not durability.problems, durability.problems[0]
    assert [memtable_id for memtable_id, _ in flushed] == frozen, (
        f"memtables were frozen in the order {frozen}; each should be flushed once, in that order, "
        f"but memtable_flushed was called for {[m for m, _ in flushed]}"
    )
    l0 = set(db.state.l0_sstables)
    missing = [sst_id for _, sst_id in flushed if sst_id not in l0]
    assert not missing, f"memtable_flushed named SSTs {missing} that are not in L0 {sorted(l0)}"


class FlushDuringFreezeDurability(RecordingDurability):
    """Flushes the oldest immutable memtable from inside the next freeze, as another thread's flush could."""

    armed = False

    def memtable_frozen(self, frozen_id: int, new_id: int) -> None:
        super().memtable_frozen(frozen_id, new_id)
        if self.armed and self.engine is not None:
            self.armed = False
            self.engine.flush_next_imm_memtable()


@pytest.mark.day4_task4
def test_a_flush_during_a_freeze_is_not_undone(monkeypatch: pytest.MonkeyPatch, open_db: OpenDb) -> None:
    """A freeze published the immutable memtables it read before a flush that ran meanwhile: the flushed one is back."""
    db, durability = engine_with_layer(
        monkeypatch, open_db, FlushDuringFreezeDurability, target_sst_size=64, num_memtable_limit=NO_FLUSH
    )
    expected = {}
    n = 0
    while not db.state.imm_memtables:
        expected[b"key%03d" % n] = b"v" * 12
        db.put(b"key%03d" % n, b"v" * 12)
        n += 1
    oldest = db.state.imm_memtables[-1].id
    durability.armed = True
    while durability.armed:
        expected[b"key%03d" % n] = b"v" * 12
        db.put(b"key%03d" % n, b"v" * 12)
        n += 1
    state = db.state
    imm = [m.id for m in state.imm_memtables]
    l0 = state.l0_sstables
    assert oldest in l0, f"memtable {oldest} was flushed during the freeze, but L0 is {l0}"
    assert oldest not in imm, (
        f"memtable {oldest} was flushed to L0 while the next freeze ran, yet it is still among the immutable "
        f"memtables {imm} after the freeze: expected only the memtable just frozen"
    )
    db.force_flush()
    wrong = [key for key, value in expected.items() if db.get(key) != value]
    assert not wrong, f"{len(wrong)} writes came back wrong after the flush, e.g. {show(wrong[:3])}"


WRITER_WAIT_SECONDS = 1.0
"""How long a durability hook waits for another thread's call, which a correct engine holds back until the hook ends."""


class WriteDuringFreezeDurability(RecordingDurability):
    """Lets another thread write a whole memtable's worth while force_flush is freezing the active memtable."""

    armed = False
    writer: threading.Thread | None = None

    def memtable_frozen(self, frozen_id: int, new_id: int) -> None:
        super().memtable_frozen(frozen_id, new_id)
        if self.armed and self.engine is not None:
            self.armed = False
            engine = self.engine
            self.writer = threading.Thread(target=lambda: engine.put(b"from-another-thread", b"w" * 100))
            self.writer.start()
            self.writer.join(WRITER_WAIT_SECONDS)


@pytest.mark.day4_task4
def test_force_flush_freezes_while_holding_writers_back(monkeypatch: pytest.MonkeyPatch, open_db: OpenDb) -> None:
    """force_flush froze the active memtable while another thread wrote and froze it too: a memtable was doubled."""
    db, durability = engine_with_layer(
        monkeypatch, open_db, WriteDuringFreezeDurability, target_sst_size=64, num_memtable_limit=NO_FLUSH
    )
    expected = {b"key%d" % n: b"v" for n in range(3)}
    for key, value in expected.items():
        db.put(key, value)
    durability.armed = True
    try:
        db.force_flush()
    except Exception as error:
        raise AssertionError(
            f"force_flush raised {error!r} after another thread wrote while it froze the active memtable; "
            "expected the writer to wait, and every memtable to be flushed once"
        ) from error
    finally:
        if durability.writer is not None:
            durability.writer.join()
    expected[b"from-another-thread"] = b"w" * 100
    imm = [m.id for m in db.state.imm_memtables]
    assert len(set(imm)) == len(imm), f"a memtable is twice among the immutable memtables {imm}"
    db.force_flush()
    l0 = list(db.state.l0_sstables)
    assert len(set(l0)) == len(l0), f"a memtable was flushed twice: L0 is {l0}"
    wrong = [key for key, value in expected.items() if db.get(key) != value]
    assert not wrong, f"{len(wrong)} writes came back wrong, e.g. {show(wrong[:3])}"


class CloseDuringLogDurability(RecordingDurability):
    """Lets another thread call close() while a write is being logged, and notes whether the close got through."""

    armed = False
    logging = False
    closer: threading.Thread | None = None

    def log(self, memtable_id: int, ops: Sequence[Op]) -> None:
        if self.armed and self.engine is not None:
            self.armed = False
            self.logging = True
            self.closer = threading.Thread(target=self.engine.close)
            self.closer.start()
            self.closer.join(WRITER_WAIT_SECONDS)
            self.logging = False
        super().log(memtable_id, ops)

    def close(self) -> None:
        if self.logging:
            self.problems.append(
                "close() closed the durability layer while a write was still being logged: with a WAL, that write "
                "would go to a closed log, neither refused nor durable"
            )
        super().close()


@pytest.mark.day4_task4
def test_close_waits_for_a_write_in_progress(monkeypatch: pytest.MonkeyPatch, open_db: OpenDb) -> None:
    """close() closed the durability layer while another thread's write was still being logged."""
    # enable_wal: close() syncs the log instead of flushing
    db, durability = engine_with_layer(
        monkeypatch, open_db, CloseDuringLogDurability, target_sst_size=1 << 20, enable_wal=True
    )
    db.put(b"before", b"1")
    durability.armed = True
    try:
        db.put(b"racing", b"2")
    finally:
        if durability.closer is not None:
            durability.closer.join()
    assert not durability.problems, durability.problems[0]
    names = [call[0] for call in durability.calls]
    assert names[-1] == "close", f"close() must close the durability layer last, after the racing write: calls {names}"
    with pytest.raises(LsmError):
        db.put(b"after", b"3")


@pytest.mark.day4_task4
def test_close_flushes_then_closes_the_durability_layer_once(recorded: Callable) -> None:
    """close() did not close the durability layer exactly once, after flushing every memtable."""
    db, durability = recorded(target_sst_size=64, num_memtable_limit=NO_FLUSH)
    fill(db, b"a")
    db.put(b"last", b"write")
    active = db.state.memtable.id
    db.close()
    db.close()
    names = [call[0] for call in durability.calls]
    assert names.count("close") == 1, f"two close() calls should close the durability layer once: calls {names}"
    assert names[-1] == "close", f"closing the durability layer must be the last call, got {names[-3:]}"
    flushed = [call[1] for call in durability.calls if call[0] == "flushed"]
    assert active in flushed, f"the active memtable {active} was never reported flushed before close: {flushed}"
    assert not durability.problems, durability.problems[0]


class FailingCloseDurability(PlainDurability):
    """The plain durability layer, whose close fails as a full disk does."""

    def close(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device (the test's full disk, at the durability layer's close)")


@pytest.mark.day4_task4
def test_a_close_that_fails_still_releases_the_directory(
    monkeypatch: pytest.MonkeyPatch, open_db: OpenDb, tmp_path: Path
) -> None:
    """A close() whose durability layer failed kept the directory's LOCK: the database could not be opened again."""

    def factory(options: LsmStorageOptions, directory: Path, block_cache: object) -> FailingCloseDurability:
        return FailingCloseDurability(options, directory, block_cache)  # type: ignore[arg-type]

    monkeypatch.setattr(tinylsm.extensions, "durability", factory)  # a class itself cannot reach the engine
    db = open_db()
    db.put(b"k", b"v")
    with pytest.raises(OSError):
        db.close()
        raise AssertionError("the durability layer's close() raised OSError, but close() returned without an error")
    monkeypatch.undo()
    try:
        again = open_db()
    except LsmError as error:
        raise AssertionError(
            f"close() failed, and then the directory could not be opened again: {error}. Release the LOCK "
            "whatever the durability layer's close() raises (a try/finally)"
        ) from None
    got = again.get(b"k")
    assert got == b"v", f"the write flushed before the failed close should be there, got {got!r}"


@pytest.mark.day4_task4
def test_user_bytes_written_counts_key_and_value_bytes(open_db: OpenDb) -> None:
    """stats()['user_bytes_written'] did not count exactly the key and value bytes of accepted writes."""
    db = open_db(target_sst_size=1 << 20)
    db.put(b"abc", b"12345")  # 8
    db.delete(b"abcd")  # 4: a delete writes its key
    db.write_batch([(b"k", b""), (b"kk", b"vv")])  # 1 + 4
    with pytest.raises(TypeError):
        db.put(b"refused", None)  # type: ignore[arg-type]
    db.put(b"abc", b"1")  # an overwrite counts again: 4
    got = db.stats()["user_bytes_written"]
    assert got == 21, f"writes of 8 + 4 + 5 + 4 key and value bytes (and one refused write): expected 21, got {got}"


@pytest.mark.day4_task4
def test_flush_bytes_written_equals_sst_bytes_on_disk(open_db: OpenDb, tmp_path: Path) -> None:
    """stats() flush bytes, SST bytes or write amplification disagree with the SST files on disk."""
    db = open_db(target_sst_size=128, num_memtable_limit=2)
    for n in range(100):
        db.put(b"key%03d" % n, b"value-%d" % n)
    db.force_flush()
    stats = db.stats()
    on_disk = sum(os.path.getsize(path) for path in sst_files(tmp_path))
    assert stats["flush_bytes_written"] == on_disk, (
        f"flush_bytes_written is {stats['flush_bytes_written']}, the SST files hold {on_disk} bytes"
    )
    assert stats["sst_bytes"] == on_disk and stats["levels"][0]["bytes"] == on_disk, (
        f"sst_bytes {stats['sst_bytes']} and L0 bytes {stats['levels'][0]['bytes']} should be {on_disk}"
    )
    assert stats["levels"][0]["ssts"] == len(sst_files(tmp_path)), "L0's ssts should count the SST files"
    assert stats["compaction_bytes_written"] == 0, "nothing compacts on day 4"
    expected = on_disk / stats["user_bytes_written"]
    assert stats["write_amplification"] == pytest.approx(expected), (
        f"write_amplification should be flushed bytes / user bytes = {expected:.3f}, got {stats['write_amplification']}"
    )
    assert stats["memtables"] == 1 and stats["memtable_bytes"] == 0, (
        f"after force_flush one empty memtable remains: memtables={stats['memtables']}, "
        f"memtable_bytes={stats['memtable_bytes']}"
    )


def bytes_on_disk(path: Path) -> int:
    return sum(os.path.getsize(file) for file in sst_files(path))


def two_flushes_and_a_full_compaction(open_db: OpenDb, path: Path) -> tuple[LsmStorage, int, int, int]:
    """Two rounds over the same 40 keys, each flushed, then a full compaction into a level below L0.

    Returns the engine, the key and value bytes written, the bytes the flushes wrote
    and the bytes the compaction wrote (each read from the SST files on disk).
    """
    db = open_db(path=path, target_sst_size=256, num_memtable_limit=NO_FLUSH)
    user = 0
    for round_ in range(2):
        for n in range(40):
            key, value = b"key%03d" % n, b"round-%d" % round_
            db.put(key, value)
            user += len(key) + len(value)
        db.force_flush()
    flushed = bytes_on_disk(path)
    db.force_full_compaction()
    compacted = bytes_on_disk(path)
    levels = db.stats()["levels"]
    assert levels[0]["ssts"] == 0 and sum(level["ssts"] for level in levels[1:]) >= 2, (
        f"a full compaction should move every SST into a level below L0, stats()['levels'] says {levels}"
    )
    return db, user, flushed, compacted


@pytest.mark.day4_task4
def test_write_amplification_counts_the_bytes_compactions_wrote(open_db: OpenDb, tmp_path: Path) -> None:
    """stats()['write_amplification'] left out the bytes that compactions wrote (it counted flushed bytes only)."""
    db, user, flushed, compacted = two_flushes_and_a_full_compaction(open_db, tmp_path / "db")
    got = db.stats()["write_amplification"]
    expected = (flushed + compacted) / user
    assert got == pytest.approx(expected), (
        f"{user} key and value bytes written, {flushed} bytes of SSTs flushed, then a full compaction wrote "
        f"{compacted} bytes of SSTs: write_amplification = (flush + compaction bytes) / user bytes = "
        f"{expected:.3f}, got {got!r}"
    )


@pytest.mark.day4_task4
def test_sst_bytes_counts_the_levels_below_l0(open_db: OpenDb, tmp_path: Path) -> None:
    """stats()['sst_bytes'] was not the size of every live SST: it left out the levels below L0 (or L0)."""
    db, _, _, compacted = two_flushes_and_a_full_compaction(open_db, tmp_path / "db")
    db.put(b"key100", b"after the compaction")
    db.force_flush()  # one SST in L0 above the level
    stats = db.stats()
    on_disk = bytes_on_disk(tmp_path / "db")
    assert stats["levels"][0]["ssts"] == 1, f"the last flush should leave one SST in L0, got {stats['levels']}"
    assert stats["sst_bytes"] == on_disk, (
        f"the live SST files (one in L0, the rest in the level a full compaction made, {compacted} bytes) hold "
        f"{on_disk} bytes, but sst_bytes is {stats['sst_bytes']} (stats()['levels'] says {stats['levels']})"
    )


TARGET = 256
SST_NAME = re.compile(r"\d{5}\.sst")


def frozen_count(db: LsmStorage) -> int:
    """Memtables frozen so far: the immutable ones still in memory plus those already flushed to L0."""
    stats = db.stats()
    return stats["memtables"] - 1 + stats["levels"][0]["ssts"]


@pytest.mark.day4_task1
def test_the_memtable_freezes_when_its_size_reaches_the_target(open_db: OpenDb, tmp_path: Path) -> None:
    """A memtable whose approximate size reached target_sst_size exactly was not frozen (or one below it was)."""
    db = open_db(path=tmp_path / "db", num_memtable_limit=NO_FLUSH, target_sst_size=TARGET)
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
def test_memtable_bytes_counts_the_frozen_memtables_too(open_db: OpenDb, tmp_path: Path) -> None:
    """stats()['memtable_bytes'] left out the immutable memtables still held in memory."""
    db = open_db(path=tmp_path / "db", num_memtable_limit=NO_FLUSH, target_sst_size=TARGET)
    db.put(b"k1", b"x" * (TARGET - 2))  # exactly the target: frozen, and kept in memory (no flush)
    db.put(b"k2", b"abc")
    stats = db.stats()
    assert stats["memtables"] == 2, f"expected one frozen and one active memtable, stats() says {stats}"
    assert stats["memtable_bytes"] == TARGET + 5, (
        f"memtable_bytes is the approximate size of every memtable in memory: {TARGET} in the frozen one "
        f"plus 5 in the active one = {TARGET + 5}, got {stats['memtable_bytes']}"
    )


def overtaken_by_a_compaction(open_db: OpenDb, tmp_path: Path, method: str) -> tuple[LsmStorage, list[bool]]:
    """Three rounds of 12 keys in three L0 SSTs; the active memtable's ``method`` runs a full compaction once.

    A get or a scan calls that method after it has taken the state: the compaction
    then replaces every SST of that state before the call reaches them. The list
    gets an entry when that happened.
    """
    db = open_db(path=tmp_path / "db", num_memtable_limit=NO_FLUSH, target_sst_size=128, block_size=48)
    for round_ in range(3):
        for n in range(12):
            db.put(b"key%02d" % n, b"round-%d" % round_)
        db.force_flush()
    assert db.stats()["levels"][0]["ssts"] >= 3, f"expected several L0 SSTs, stats() says {db.stats()}"
    memtable = db.state.memtable
    overtaken: list[bool] = []

    def compact_then_answer(*arguments: object, **flags: object) -> object:
        delattr(memtable, method)
        db.force_full_compaction()
        overtaken.append(True)
        return getattr(memtable, method)(*arguments, **flags)

    setattr(memtable, method, compact_then_answer)
    return db, overtaken


@pytest.mark.day4_task2
def test_a_get_overtaken_by_a_compaction_reads_one_state(open_db: OpenDb, tmp_path: Path) -> None:
    """A get that a compaction overtook mixed two states (a KeyError, or a value from the wrong table)."""
    db, overtaken = overtaken_by_a_compaction(open_db, tmp_path, "get")
    got = db.get(b"key05")
    assert overtaken, "the test's compaction did not run inside the get (the active memtable was not asked)"
    assert got == b"round-2", (
        "a get takes the state once and reads every table from it: a compaction that publishes a new state "
        f"while the get runs must not change what it finds. Expected b'round-2', got {got!r}"
    )


@pytest.mark.day4_task3
def test_a_scan_overtaken_by_a_compaction_reads_one_state(open_db: OpenDb, tmp_path: Path) -> None:
    """A scan that a compaction overtook as it started mixed two states (a KeyError, or keys from the wrong table)."""
    db, overtaken = overtaken_by_a_compaction(open_db, tmp_path, "scan")
    got = list(db.scan())
    assert overtaken, "the test's compaction did not run inside the scan (the active memtable was not scanned)"
    want = [(b"key%02d" % n, b"round-2") for n in range(12)]
    assert got == want, (
        "a scan takes the state once and reads every table from it: a compaction that publishes a new state while "
        f"the scan starts must not change what it finds. Expected {show(want)}, got {show(got)}"
    )


@pytest.mark.day4_task2
def test_a_get_asks_each_table_s_filter_before_reading_a_block(tmp_path: Path) -> None:
    """With bloom filters on, a get of an absent key read the SST's blocks instead of asking may_contain first."""
    chosen = options_for_day(4, bloom_bits_per_key=10, block_cache_bytes=0, target_sst_size=1 << 20)
    with LsmStorage.open(tmp_path / "db", chosen) as db:
        for n in range(0, 400, 2):
            db.put(b"key%04d" % n, b"value")
        db.force_flush()
        before = db.stats()
        for n in range(1, 400, 2):  # absent keys inside the table's key range
            db.get(b"key%04d" % n)
        after = db.stats()
    read = after["blocks_read"] - before["blocks_read"]
    assert read <= 20, (
        f"200 gets of absent keys inside one SST's range read {read} blocks: the table's filter (day 7, "
        "SsTable.may_contain) rules out most of them without a read; ask it before reading a block"
    )


@pytest.mark.day4_task4
def test_sync_after_close_raises_even_with_a_wal(tmp_path: Path) -> None:
    """With the WAL on, sync() after close() returned quietly instead of raising LsmError."""
    db = LsmStorage.open(tmp_path / "db", options_for_day(4, enable_wal=True, enable_manifest=True))
    db.put(b"k", b"v")
    db.close()
    with pytest.raises(LsmError):
        db.sync()
        pytest.fail("sync() on a closed database must raise LsmError: nothing it promises can happen any more")


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
    db = open_db(path=tmp_path / "db", num_memtable_limit=NO_FLUSH, target_sst_size=TARGET)
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


# Recovery that brings back frozen memtables (as day 6's write-ahead log does)


class RecoveredMemtablesDurability(PlainDurability):
    """The plain durability layer, whose recovery also brings back three frozen memtables and an active one."""

    FROZEN = 3

    def recover(self) -> tuple[LsmStorageState, int]:
        from tinylsm.memtable import MemTable

        memtables = []
        for memtable_id in range(1, self.FROZEN + 2):  # ids 1..3 frozen (oldest first), 4 active
            memtable = MemTable(memtable_id, self._options)
            memtable.put(b"key%d" % memtable_id, b"from memtable %d" % memtable_id)
            memtables.append(memtable)
        state = LsmStorageState(memtable=memtables[-1], imm_memtables=tuple(reversed(memtables[:-1])))
        return state, self.FROZEN + 2


def open_with_recovered_memtables(monkeypatch: pytest.MonkeyPatch, open_db: OpenDb) -> LsmStorage:
    def factory(options: LsmStorageOptions, directory: Path, block_cache: object) -> RecoveredMemtablesDurability:
        return RecoveredMemtablesDurability(options, directory, block_cache)  # type: ignore[arg-type]

    monkeypatch.setattr(tinylsm.extensions, "durability", factory)
    return open_db(target_sst_size=1 << 20, num_memtable_limit=2)


RECOVERED = {b"key%d" % n: b"from memtable %d" % n for n in range(1, RecoveredMemtablesDurability.FROZEN + 2)}


@pytest.mark.day4_task4
def test_an_open_that_recovers_too_many_frozen_memtables_flushes_down_to_the_limit(
    monkeypatch: pytest.MonkeyPatch, open_db: OpenDb
) -> None:
    """After an open that recovered too many frozen memtables, over num_memtable_limit memtables stayed in memory."""
    db = open_with_recovered_memtables(monkeypatch, open_db)
    got = {key: db.get(key) for key in RECOVERED}
    assert got == RECOVERED, (
        f"every recovered memtable's write should be readable: expected {show(RECOVERED)}, got {show(got)}"
    )
    stats = db.stats()
    assert stats["memtables"] <= 2, (
        "recovery brought back 3 frozen memtables and an active one with num_memtable_limit=2: open should flush "
        "the oldest frozen ones until at most 2 memtables (the active one included) stay in memory, as a writer "
        f"does, but stats()['memtables'] is {stats['memtables']}"
    )
    assert stats["levels"][0]["ssts"] == 4 - stats["memtables"], (
        f"the frozen memtables open flushed should be SSTs in L0: {stats['memtables']} memtables stay in memory, "
        f"so {4 - stats['memtables']} SSTs were expected in L0, stats()['levels'] says {stats['levels']}"
    )


@pytest.mark.day4_task4
def test_write_amplification_is_zero_before_the_first_write_even_after_flushes(
    monkeypatch: pytest.MonkeyPatch, open_db: OpenDb
) -> None:
    """stats()['write_amplification'] was not 0.0 before any write, after an open that flushed recovered memtables."""
    db = open_with_recovered_memtables(monkeypatch, open_db)
    stats = db.stats()
    assert stats["levels"][0]["ssts"] >= 1, (
        "recovery brought back 3 frozen memtables with num_memtable_limit=2: open should flush some of them to L0, "
        f"but stats()['levels'] says {stats['levels']}"
    )
    assert stats["user_bytes_written"] == 0 and stats["write_amplification"] == 0.0, (
        "no key or value has been written through this engine yet (open only flushed recovered memtables): "
        "user_bytes_written should be 0 and write_amplification 0.0 (nothing to divide by), got "
        f"user_bytes_written={stats['user_bytes_written']!r}, write_amplification={stats['write_amplification']!r}"
    )
