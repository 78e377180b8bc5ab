"""Day 4 visible tests: what the engine must do. Run with ``pytest days/day4``.

The tests of tasks 2 and 3 do not need task 4's flush: where they want data in
SSTables, they write the files with day 2's builder before opening the database,
which finds them in L0 (``tinylsm.durability.PlainDurability``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tinylsm.engine import LsmStorage
from tinylsm.errors import LsmError
from tinylsm.files import sst_path
from tinylsm.options import MAX_KEY_SIZE, MAX_VALUE_SIZE, LsmStorageOptions
from tinylsm.sstable import SsTableBuilder
from tinylsm.testkit import options_for_day, show

OpenDb = Callable[..., LsmStorage]
NO_FLUSH = 1000
"""A ``num_memtable_limit`` that no test reaches: memtables freeze, but nothing flushes."""


def options(**overrides: int) -> LsmStorageOptions:
    """Day-4 options with small sizes, so that a few writes freeze and flush memtables."""
    sizes = {"target_sst_size": 256, "block_size": 64, "num_memtable_limit": 2, **overrides}
    return options_for_day(4, **sizes)


@pytest.fixture
def open_db(tmp_path: Path) -> Iterator[OpenDb]:
    """Opens engines in ``tmp_path``; whatever a test leaves open is closed afterwards.

    That last close ignores errors, so that the tests of tasks 1-3 do not depend on
    ``close`` (task 4): task 4's tests call it themselves.
    """
    opened: list[LsmStorage] = []

    def open_(**overrides: int) -> LsmStorage:
        db = LsmStorage.open(tmp_path, options(**overrides))
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


def write_sst(directory: Path, sst_id: int, entries: list[tuple[bytes, bytes | None]]) -> None:
    """Write SST ``NNNNN.sst`` holding ``entries`` (a larger id is newer), as a flush would."""
    builder = SsTableBuilder(options())
    for key, value in sorted(entries):
        builder.add(key, value)
    builder.build(sst_id, sst_path(directory, sst_id), None).close()


def sst_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if re.fullmatch(r"\d{5}\.sst", p.name))


# Task 1: write path


@pytest.mark.day4_task1
def test_put_then_get_returns_every_value_across_freezes(open_db: OpenDb) -> None:
    """get returns the value of every put, also after the memtables holding them have been frozen."""
    db = open_db(target_sst_size=128, num_memtable_limit=NO_FLUSH)
    expected = {b"key%03d" % n: b"value-%d" % n for n in range(60)}
    for key, value in expected.items():
        db.put(key, value)
    frozen = len(db.state.imm_memtables)
    assert frozen >= 5, f"60 puts of 16 bytes into 128-byte memtables should freeze at least 5, froze {frozen}"
    for key, value in expected.items():
        got = db.get(key)
        assert got == value, f"after {frozen} freezes, get({key!r}) expected {value!r}, got {show(got)}"


@pytest.mark.day4_task1
def test_empty_value_is_a_value_and_delete_is_not(open_db: OpenDb) -> None:
    """get returns b'' for a key put with an empty value, and None for a deleted key, even one never written."""
    db = open_db()
    db.put(b"empty", b"")
    db.put(b"gone", b"here")
    db.delete(b"gone")
    db.delete(b"never-written")
    assert db.get(b"empty") == b"", f"put(b'empty', b'') then get should give b'', got {show(db.get(b'empty'))}"
    assert db.get(b"gone") is None, f"a deleted key should give None, got {show(db.get(b'gone'))}"
    assert db.get(b"never-written") is None, "deleting a key that was never written is allowed and gives None"


@pytest.mark.day4_task1
def test_write_batch_applies_puts_and_deletes_in_order(open_db: OpenDb) -> None:
    """write_batch applies its puts and deletes in order, so a later operation on a key wins."""
    db = open_db()
    db.put(b"old", b"1")
    db.write_batch([(b"a", b"1"), (b"b", b"2"), (b"a", None), (b"old", None), (b"c", b"3"), (b"b", b"4")])
    got = {key: db.get(key) for key in (b"a", b"b", b"c", b"old")}
    want = {b"a": None, b"b": b"4", b"c": b"3", b"old": None}
    assert got == want, f"after the batch (a later operation on a key wins) expected {show(want)}, got {show(got)}"


@pytest.mark.day4_task1
def test_wrong_types_raise_type_error_naming_the_argument(open_db: OpenDb) -> None:
    """put and delete raise TypeError naming the argument (key or value) that is not bytes, and write nothing."""
    db = open_db()
    db.put(b"k", b"v")
    with pytest.raises(TypeError, match="key"):
        db.put("k", b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value"):
        db.put(b"k", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key"):
        db.delete(7)  # type: ignore[arg-type]
    assert db.get(b"k") == b"v", f"refused writes must change nothing: get(b'k') gave {show(db.get(b'k'))}"


@pytest.mark.day4_task1
def test_sizes_over_the_limits_raise_value_error(open_db: OpenDb) -> None:
    """put raises ValueError for an empty key, a key over 65,535 bytes or a value over 1 MiB, and writes nothing."""
    db = open_db()
    db.put(b"k", b"v")
    with pytest.raises(ValueError, match=r"65,?535|MAX_KEY_SIZE"):
        db.put(b"k" * (MAX_KEY_SIZE + 1), b"v")
    with pytest.raises(ValueError):
        db.put(b"", b"v")
    with pytest.raises(ValueError, match=r"1,?048,?576|MAX_VALUE_SIZE|1 ?MiB"):
        db.put(b"k", b"v" * (MAX_VALUE_SIZE + 1))
    assert db.get(b"k") == b"v", f"refused writes must change nothing: get(b'k') gave {show(db.get(b'k'))}"


# Task 2: point reads


@pytest.mark.day4_task2
def test_get_of_a_key_never_written_returns_none(open_db: OpenDb, tmp_path: Path) -> None:
    """get finds a key held in an SST, and returns None for a key no table holds, inside its range or not."""
    write_sst(tmp_path, 1, [(b"apple", b"red"), (b"cherry", b"dark red")])
    db = open_db()
    assert db.get(b"apple") == b"red", f"get(b'apple') should find the SST's b'red', got {show(db.get(b'apple'))}"
    for key in (b"banana", b"aaa", b"zebra"):
        got = db.get(key)
        assert got is None, f"get({key!r}) of a key in no table should give None, got {show(got)}"


@pytest.mark.day4_task2
def test_newest_value_wins_across_memtables_and_ssts(open_db: OpenDb, tmp_path: Path) -> None:
    """get returns the newest value: the active memtable's over a frozen one's, a frozen one's over an SST's."""
    write_sst(tmp_path, 1, [(b"k", b"in-sst"), (b"other", b"x")])
    db = open_db(target_sst_size=64, num_memtable_limit=NO_FLUSH)
    db.put(b"k", b"frozen")
    for n in range(8):  # fill the memtable until it freezes, with b"k" = b"frozen" inside
        db.put(b"filler%d" % n, b"y" * 10)
    assert db.state.imm_memtables, "a memtable holding more than target_sst_size bytes should have been frozen"
    got = db.get(b"k")
    assert got == b"frozen", f"the frozen memtable's b'frozen' must win over the SST's b'in-sst', got {show(got)}"
    db.put(b"k", b"active")
    got = db.get(b"k")
    assert got == b"active", f"the active memtable's b'active' must win over older copies, got {show(got)}"


@pytest.mark.day4_task2
@pytest.mark.invariant
def test_tombstone_in_memtable_hides_older_value_in_sst(open_db: OpenDb, tmp_path: Path) -> None:
    """A delete in the memtable hides the key's older value in an SST: get returns None."""
    write_sst(tmp_path, 1, [(b"k", b"old")])
    db = open_db()
    db.delete(b"k")
    got = db.get(b"k")
    assert got is None, f"a tombstone in the memtable must hide b'old' in the SST: expected None, got {show(got)}"


# Task 3: scans

LETTERS = [(bytes([c]), b"v" + bytes([c])) for c in b"abcde"]


def open_with_letters(open_db: OpenDb, directory: Path) -> LsmStorage:
    """Keys a..e: a, c and e in an SST, b and d in the memtable."""
    write_sst(directory, 1, LETTERS[::2])
    db = open_db()
    for key, value in LETTERS[1::2]:
        db.put(key, value)
    return db


@pytest.mark.day4_task3
@pytest.mark.parametrize(
    ("include_start", "include_stop", "want_keys"),
    [(True, False, b"bc"), (True, True, b"bcd"), (False, False, b"c"), (False, True, b"cd")],
)
def test_scan_bounds_follow_both_include_flags(
    open_db: OpenDb, tmp_path: Path, include_start: bool, include_stop: bool, want_keys: bytes
) -> None:
    """scan includes or excludes each bound as include_start and include_stop say, for bounds in a memtable."""
    db = open_with_letters(open_db, tmp_path)
    got = list(db.scan(b"b", b"d", include_start=include_start, include_stop=include_stop))
    want = [(bytes([c]), b"v" + bytes([c])) for c in want_keys]
    assert got == want, (
        f"scan(b'b', b'd', include_start={include_start}, include_stop={include_stop}) over keys a..e "
        f"(a, c, e in an SST) expected {show(want)}, got {show(got)}"
    )


@pytest.mark.day4_task3
@pytest.mark.parametrize(
    ("include_start", "include_stop", "want_keys"),
    [(True, False, b"cd"), (True, True, b"cde"), (False, False, b"d"), (False, True, b"de")],
)
def test_scan_bounds_on_keys_held_in_an_sst(
    open_db: OpenDb, tmp_path: Path, include_start: bool, include_stop: bool, want_keys: bytes
) -> None:
    """scan includes or excludes each bound as include_start and include_stop say, for bounds in an SST."""
    db = open_with_letters(open_db, tmp_path)
    got = list(db.scan(b"c", b"e", include_start=include_start, include_stop=include_stop))
    want = [(bytes([c]), b"v" + bytes([c])) for c in want_keys]
    assert got == want, (
        f"scan(b'c', b'e', include_start={include_start}, include_stop={include_stop}), both bounds in the SST, "
        f"expected {show(want)}, got {show(got)}"
    )


@pytest.mark.day4_task3
def test_scan_merges_memtables_and_ssts_and_hides_tombstones(open_db: OpenDb, tmp_path: Path) -> None:
    """A full scan merges memtables and SSTs in key order, with each key's newest value and no deleted key."""
    db = open_with_letters(open_db, tmp_path)
    db.put(b"a", b"new")  # newer than the SST's a
    db.delete(b"e")  # hides the SST's e
    db.delete(b"zz")  # a tombstone for a key nobody wrote
    got = list(db.scan())
    want = [(b"a", b"new"), (b"b", b"vb"), (b"c", b"vc"), (b"d", b"vd")]
    assert got == want, f"a full scan expected {show(want)}, got {show(got)}"


@pytest.mark.day4_task3
@pytest.mark.invariant
def test_scan_with_start_after_stop_yields_nothing(open_db: OpenDb, tmp_path: Path) -> None:
    """scan with start after stop yields nothing, even with both bounds included."""
    db = open_with_letters(open_db, tmp_path)
    got = list(db.scan(b"d", b"b", include_start=True, include_stop=True))
    assert got == [], f"scan(b'd', b'b') has start > stop and must be empty, got {show(got)}"


# Task 4: flush, sync and close


@pytest.mark.day4_task4
def test_force_flush_writes_one_l0_sst(open_db: OpenDb, tmp_path: Path) -> None:
    """force_flush writes the memtable to one L0 SST file, leaves one empty memtable, and its keys stay readable."""
    db = open_db(target_sst_size=1 << 20)
    for key, value in LETTERS:
        db.put(key, value)
    db.force_flush()
    stats = db.stats()
    assert stats["levels"][0]["ssts"] == 1, f"one force_flush should make one L0 SST, stats() says {stats['levels']}"
    assert stats["memtables"] == 1, f"after a flush only the new, empty memtable remains, got {stats['memtables']}"
    files = sst_files(tmp_path)
    assert len(files) == 1, f"expected one NNNNN.sst file in the directory, found {files}"
    assert db.get(b"c") == b"vc", "a flushed key must still be found, now in the SST"


@pytest.mark.day4_task4
def test_writer_at_the_memtable_limit_flushes_instead_of_failing(open_db: OpenDb) -> None:
    """A write at num_memtable_limit flushes to L0 itself: the limit is never exceeded and no write is lost."""
    db = open_db(target_sst_size=64, num_memtable_limit=2)
    for n in range(80):
        db.put(b"key%03d" % n, b"value%03d" % n)
        memtables = db.stats()["memtables"]
        assert memtables <= 2, f"after put #{n} there are {memtables} memtables; num_memtable_limit is 2"
    l0 = db.stats()["levels"][0]["ssts"]
    assert l0 > 0, "80 puts into 64-byte memtables must have flushed some memtables to L0"
    missing = [n for n in range(80) if db.get(b"key%03d" % n) != b"value%03d" % n]
    assert not missing, f"the values of puts {show(missing)} were lost by the inline flushes"


@pytest.mark.day4_task4
def test_any_call_after_close_raises_lsm_error(open_db: OpenDb) -> None:
    """After close every call raises LsmError, and a second close does nothing."""
    db = open_db()
    db.put(b"k", b"v")
    db.close()
    calls = {
        "put": lambda: db.put(b"k", b"v"),
        "delete": lambda: db.delete(b"k"),
        "write_batch": lambda: db.write_batch([(b"k", b"v")]),
        "get": lambda: db.get(b"k"),
        "scan": lambda: list(db.scan()),
        "sync": db.sync,
        "force_flush": db.force_flush,
        "stats": db.stats,
    }
    for name, call in calls.items():
        with pytest.raises(LsmError):
            call()
            pytest.fail(f"{name} after close() should raise LsmError, but it returned")
    db.close()  # a second close does nothing


@pytest.mark.day4_task4
def test_reopen_after_close_keeps_every_write(open_db: OpenDb) -> None:
    """After close and a reopen, a full scan gives back every write, and no deleted key."""
    expected = {b"key%03d" % n: b"value-%d" % n for n in range(40)}
    db = open_db()
    for key, value in expected.items():
        db.put(key, value)
    db.delete(b"key007")
    del expected[b"key007"]
    db.close()
    db = open_db()
    got = list(db.scan())
    assert got == sorted(expected.items()), (
        f"after close and reopen, a full scan expected {show(sorted(expected.items()))}, got {show(got)}"
    )


@pytest.mark.day4_task4
def test_with_block_closes_the_database(open_db: OpenDb) -> None:
    """Leaving a with block closes the database (calls then raise LsmError) and keeps its writes."""
    with open_db() as db:
        db.put(b"k", b"v")
    with pytest.raises(LsmError):
        db.get(b"k")
    with open_db() as again:
        assert again.get(b"k") == b"v", "leaving a with block must close the database and keep its writes"
