"""Day 3 hidden tests: the edges of the concat iterator (one-key tables, faults) and iterators past their end."""

from __future__ import annotations

import contextlib

import pytest

from tinylsm.errors import LsmError
from tinylsm.iterators import ConcatIterator, MergeIterator, TwoMergeIterator
from tinylsm.memtable import MemTable
from tinylsm.testkit import ListIterator, collect, options_for_day, show

Entries = list[tuple[bytes, bytes | None]]


class DiskError(Exception):
    """What a table raises to simulate a failed read."""


class Table:
    def __init__(self, entries: Entries, fail_after: int | None = None) -> None:
        self.entries = entries
        self.first_key = entries[0][0]
        self.last_key = entries[-1][0]
        self.fail_after = fail_after


class FailingIterator(ListIterator):
    """Raises DiskError when next() would move past entry ``fail_after``."""

    def __init__(self, entries: Entries, fail_after: int | None) -> None:
        super().__init__(entries)
        self.fail_after = fail_after

    def next(self) -> None:
        if self.fail_after is not None and self.position == self.fail_after:
            raise DiskError(f"read after entry {self.fail_after} failed")
        super().next()


def open_table(table: Table, key: bytes) -> ListIterator:
    return FailingIterator([e for e in table.entries if e[0] >= key], table.fail_after)


@pytest.mark.day3_task3
def test_concat_of_one_key_tables_returns_each_key() -> None:
    """ConcatIterator refused, or walked wrongly, tables that each hold one key (first_key == last_key)."""
    tables = [Table([(b"%02d" % n, b"v%d" % n)]) for n in range(0, 10, 2)]
    got = collect(ConcatIterator.create_and_seek_to_first(tables, open_table))
    want = [entry for table in tables for entry in table.entries]
    assert got == want, f"expected {show(want)}, got {show(got)}"
    for n in range(-1, 11):
        target = b"%02d" % n if n >= 0 else b""
        got = collect(ConcatIterator.create_and_seek_to_key(tables, target, open_table))
        want_seek = [entry for entry in want if entry[0] >= target]
        assert got == want_seek, f"seek to {target!r}: expected {show(want_seek)}, got {show(got)}"


@pytest.mark.day3_task3
def test_concat_refuses_touching_tables_and_inverted_bounds() -> None:
    """ConcatIterator accepted two tables sharing a key, or a table whose first_key is after its last_key."""
    a, b = Table([(b"a", b"1"), (b"c", b"1")]), Table([(b"c", b"2"), (b"e", b"2")])
    with pytest.raises(ValueError):
        ConcatIterator([a, b], open_table)
        pytest.fail("tables [a..c] and [c..e] share the key b'c', yet were accepted")
    inverted = Table([(b"x", b"1")])
    inverted.first_key, inverted.last_key = b"y", b"x"
    with pytest.raises(ValueError):
        ConcatIterator([inverted], open_table)
        pytest.fail("a table with first_key b'y' > last_key b'x' was accepted")


@pytest.mark.day3_task3
def test_an_error_inside_a_table_propagates_and_fails_the_concat_until_a_seek() -> None:
    """An exception raised while reading inside a table was swallowed, or the concat went on after it."""
    tables = [Table([(b"a", b"1"), (b"b", b"1"), (b"c", b"1")], fail_after=1), Table([(b"d", b"2"), (b"e", b"2")])]
    iterator = ConcatIterator.create_and_seek_to_first(tables, open_table)
    iterator.next()
    assert iterator.key() == b"b", f"expected to be on b'b', got {iterator.key()!r}"
    with pytest.raises(DiskError):
        iterator.next()
        pytest.fail("the table's read error did not reach the caller")
    assert not iterator.is_valid(), "after a table failed, the concat must not be valid"
    with pytest.raises(LsmError):
        iterator.next()
    iterator.seek_to_key(b"d")
    got = collect(iterator)
    assert got == [(b"d", b"2"), (b"e", b"2")], f"a new seek must make the iterator usable again: got {show(got)}"


@pytest.mark.day3_task3
@pytest.mark.invariant
def test_next_past_the_end_keeps_every_iterator_exhausted() -> None:
    """next() on an exhausted iterator raised an unexpected error or made it valid again."""
    memtable = MemTable(1, options_for_day(3))
    memtable.put(b"a", b"1")
    scan = memtable.scan()
    assert scan.num_active_iterators() == 1, f"a memtable scan is one iterator, got {scan.num_active_iterators()}"
    made = {
        "memtable scan": scan,
        "merge": MergeIterator([ListIterator([(b"a", b"1")])]),
        "two-merge": TwoMergeIterator(ListIterator([(b"a", b"1")]), ListIterator([])),
        "concat": ConcatIterator.create_and_seek_to_first([Table([(b"a", b"1")])], open_table),
    }
    for name, iterator in made.items():
        collect(iterator)
        for _ in range(2):
            with contextlib.suppress(LsmError):
                iterator.next()
            assert not iterator.is_valid(), f"{name}: next() after the end made the iterator valid again"
