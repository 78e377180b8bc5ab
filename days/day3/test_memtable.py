"""Day 3 visible tests: what a memtable must do. Run with ``pytest days/day3``."""

from __future__ import annotations

import pytest

from tinylsm.lookup import ABSENT
from tinylsm.memtable import MemTable
from tinylsm.testkit import collect, options_for_day, show


class RecordingBuilder:
    """Stands in for day 2's SsTableBuilder: remembers every entry it is given."""

    def __init__(self) -> None:
        self.entries: list[tuple[bytes, bytes | None]] = []

    def add(self, key: bytes, value: bytes | None) -> bool:
        self.entries.append((key, value))
        return True


def memtable_of(entries: list[tuple[bytes, bytes | None]]) -> MemTable:
    memtable = MemTable(0, options_for_day(3))
    for key, value in entries:
        memtable.put(key, value)
    return memtable


FRUIT = [(b"apple", b"red"), (b"banana", None), (b"cherry", b"dark red"), (b"grape", b""), (b"kiwi", b"brown")]


@pytest.mark.day3_task1
def test_new_memtable_is_empty_and_keeps_its_id() -> None:
    """A new MemTable keeps its id and is empty (len 0) until a put adds an entry."""
    memtable = MemTable(7, options_for_day(3))
    assert memtable.id == 7, f"MemTable(7, ...).id should be 7, got {memtable.id!r}"
    assert memtable.is_empty() and len(memtable) == 0, "a new memtable must be empty, with len() == 0"
    memtable.put(b"k", b"v")
    assert not memtable.is_empty() and len(memtable) == 1, "after one put the memtable holds one entry"


@pytest.mark.day3_task1
def test_get_returns_the_latest_value_written() -> None:
    """get returns the latest value put for a key, and an overwrite adds no entry."""
    memtable = memtable_of([(b"k", b"first"), (b"k", b"second")])
    got = memtable.get(b"k")
    assert got == b"second", f"after put(b'k', b'first') then put(b'k', b'second'), expected b'second', got {got!r}"
    assert len(memtable) == 1, f"overwriting a key must not add an entry: len() should be 1, got {len(memtable)}"


@pytest.mark.day3_task1
def test_tombstone_empty_value_and_absent_are_three_different_answers() -> None:
    """get tells apart an empty value (b''), a deleted key (None) and a key never written (ABSENT)."""
    memtable = memtable_of([(b"empty", b""), (b"gone", b"old")])
    memtable.delete(b"gone")
    answers = (memtable.get(b"empty"), memtable.get(b"gone"), memtable.get(b"never"))
    assert answers == (b"", None, ABSENT), (
        f"expected b'' for an empty value, None for a deleted key and ABSENT for a key never written; got {answers!r}"
    )


@pytest.mark.day3_task1
def test_scan_visits_every_entry_in_ascending_order_with_tombstones() -> None:
    """scan() without bounds visits every entry in ascending key order, tombstones as None."""
    memtable = memtable_of(list(reversed(FRUIT)))
    got = collect(memtable.scan())
    assert got == FRUIT, (
        f"scan() should give every entry in key order, tombstones as None: {show(FRUIT)}, got {show(got)}"
    )


@pytest.mark.day3_task1
def test_scan_includes_start_and_excludes_stop_by_default() -> None:
    """scan(start, stop) covers [start, stop) by default: start included, stop excluded."""
    memtable = memtable_of(FRUIT)
    got = [key for key, _ in collect(memtable.scan(b"banana", b"grape"))]
    assert got == [b"banana", b"cherry"], (
        f"scan(b'banana', b'grape') covers [banana, grape): expected [b'banana', b'cherry'], got {show(got)}"
    )


@pytest.mark.day3_task1
@pytest.mark.invariant
def test_scan_with_start_after_stop_is_empty() -> None:
    """scan with start after stop is an empty range: the iterator is invalid at once."""
    iterator = memtable_of(FRUIT).scan(b"kiwi", b"apple")
    assert not iterator.is_valid(), "scan(b'kiwi', b'apple') is an empty range: the iterator must not be valid"


@pytest.mark.day3_task1
def test_approximate_size_follows_puts_overwrites_and_deletes() -> None:
    """approximate_size() is the sum of key and value lengths through puts, overwrites and tombstones."""
    memtable = MemTable(0, options_for_day(3))
    steps = [
        ((b"key", b"12345"), 3 + 5),
        ((b"key", b"12"), 3 + 2),  # an overwrite replaces the old value's length
        ((b"other", b""), 3 + 2 + 5),
        ((b"key", None), 3 + 5),  # a tombstone keeps its key, with no value bytes
    ]
    for (key, value), expected in steps:
        memtable.put(key, value)
        got = memtable.approximate_size()
        assert got == expected, f"after put({key!r}, {value!r}) approximate_size() should be {expected}, got {got}"


@pytest.mark.day3_task1
def test_flush_adds_every_entry_in_key_order_including_tombstones() -> None:
    """flush adds every entry to the builder in ascending key order, tombstones included."""
    builder = RecordingBuilder()
    memtable_of(list(reversed(FRUIT))).flush(builder)
    assert builder.entries == FRUIT, (
        f"flush should add {show(FRUIT)} to the builder in key order, got {show(builder.entries)}"
    )
