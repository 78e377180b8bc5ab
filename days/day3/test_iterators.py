"""Day 3 visible tests: merging and concatenating iterators. Run with ``pytest days/day3``."""

from __future__ import annotations

from bisect import bisect_left

import pytest

from tinylsm.iterators import ConcatIterator, MergeIterator, TwoMergeIterator
from tinylsm.testkit import ListIterator, collect, show

Entries = list[tuple[bytes, bytes | None]]


class Table:
    """A stand-in for an SSTable: sorted entries and the range of keys they cover."""

    def __init__(self, entries: Entries, first_key: bytes | None = None, last_key: bytes | None = None) -> None:
        self.entries = entries
        self.first_key = entries[0][0] if first_key is None else first_key
        self.last_key = entries[-1][0] if last_key is None else last_key


def open_table(table: Table, key: bytes) -> ListIterator:
    """Open ``table`` on its first entry >= key, as SsTableIterator.create_and_seek_to_key does."""
    return ListIterator(table.entries[bisect_left([k for k, _ in table.entries], key) :])


def merge(*children: Entries) -> MergeIterator:
    return MergeIterator([ListIterator(entries) for entries in children])


@pytest.mark.day3_task2
def test_merge_yields_every_key_once_in_ascending_order() -> None:
    """A MergeIterator yields every key of its children once, in ascending order, tombstones included."""
    got = collect(merge([(b"b", b"1"), (b"e", b"1")], [(b"a", b"2"), (b"d", None)], [(b"c", b"3")]))
    want = [(b"a", b"2"), (b"b", b"1"), (b"c", b"3"), (b"d", None), (b"e", b"1")]
    assert got == want, f"merging three children should give {show(want)}, got {show(got)}"


@pytest.mark.day3_task2
def test_merge_on_equal_keys_the_smaller_index_wins() -> None:
    """A key held by several children comes out of the merge once, with the value of the smallest-index child."""
    newest, older, oldest = [(b"k", b"new")], [(b"k", b"older")], [(b"k", b"oldest"), (b"z", b"old z")]
    got = collect(merge(newest, older, oldest))
    want = [(b"k", b"new"), (b"z", b"old z")]
    assert got == want, (
        f"b'k' is in children 0, 1 and 2: child 0's value must win, and b'k' must appear once; "
        f"expected {show(want)}, got {show(got)}"
    )


@pytest.mark.day3_task2
def test_merge_skips_empty_children() -> None:
    """A merge skips the children that hold no entry."""
    got = collect(merge([], [(b"a", b"1")], [], [(b"b", b"2")], []))
    assert got == [(b"a", b"1"), (b"b", b"2")], f"empty children must be skipped: got {show(got)}"


@pytest.mark.day3_task2
@pytest.mark.invariant
def test_merge_of_no_children_is_invalid() -> None:
    """A merge of no children, or of only empty ones, is invalid from the start."""
    assert not MergeIterator([]).is_valid(), "a merge of no iterators must not be valid"
    assert not merge([], []).is_valid(), "a merge of empty iterators must not be valid"


@pytest.mark.day3_task2
@pytest.mark.invariant
def test_merge_stays_invalid_after_the_last_entry() -> None:
    """After its last entry a merge is invalid, and num_active_iterators() is 0."""
    iterator = merge([(b"a", b"1")], [(b"a", b"2")])
    iterator.next()
    assert not iterator.is_valid(), "after its only key the merge must be invalid"
    assert iterator.num_active_iterators() == 0, (
        f"no child is valid any more: num_active_iterators() should be 0, got {iterator.num_active_iterators()}"
    )


@pytest.mark.day3_task2
def test_num_active_iterators_counts_children_still_valid() -> None:
    """num_active_iterators() of a merge counts the children that are still valid."""
    iterator = merge([(b"a", b"1")], [(b"a", b"2"), (b"b", b"2")], [(b"c", b"3")], [])
    counts = []
    while iterator.is_valid():
        counts.append(iterator.num_active_iterators())
        iterator.next()
    assert counts == [3, 2, 1], f"valid children on a, b, c should be [3, 2, 1], got {counts}"


@pytest.mark.day3_task3
def test_two_merge_prefers_a_on_equal_keys() -> None:
    """TwoMergeIterator returns every key of a and b once, in order, with a's entry (even a tombstone) on a tie."""
    a = ListIterator([(b"b", b"from a"), (b"d", None)])
    b = ListIterator([(b"a", b"from b"), (b"b", b"old"), (b"d", b"old"), (b"e", b"from b")])
    got = collect(TwoMergeIterator.create(a, b))
    want = [(b"a", b"from b"), (b"b", b"from a"), (b"d", None), (b"e", b"from b")]
    assert got == want, f"a must win every key both hold: expected {show(want)}, got {show(got)}"


@pytest.mark.day3_task3
def test_concat_walks_tables_in_order_and_skips_an_empty_table() -> None:
    """ConcatIterator walks its tables in order and skips a table that holds no entry."""
    tables = [
        Table([(b"a", b"1"), (b"b", b"2")]),
        Table([], first_key=b"c", last_key=b"d"),
        Table([(b"e", b"3"), (b"f", None)]),
    ]
    got = collect(ConcatIterator.create_and_seek_to_first(tables, open_table))
    want = [(b"a", b"1"), (b"b", b"2"), (b"e", b"3"), (b"f", None)]
    assert got == want, f"expected {show(want)}, got {show(got)}"


@pytest.mark.day3_task3
def test_concat_seek_into_the_gap_between_tables_lands_on_the_next_table() -> None:
    """A ConcatIterator sought to a key in the gap between two tables lands on the next table's first entry."""
    tables = [Table([(b"apple", b"1"), (b"banana", b"2")]), Table([(b"fig", b"3"), (b"grape", b"4")])]
    iterator = ConcatIterator.create_and_seek_to_key(tables, b"cherry", open_table)
    got = collect(iterator)
    assert got == [(b"fig", b"3"), (b"grape", b"4")], (
        f"seek_to_key(b'cherry') lies between the tables: expected to land on b'fig', got {show(got)}"
    )
