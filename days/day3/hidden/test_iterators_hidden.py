"""Day 3 hidden tests for the merge, two-merge and concat iterators: models, ties, faults."""

from __future__ import annotations

from bisect import bisect_left

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinylsm.errors import LsmError
from tinylsm.iterators import ConcatIterator, MergeIterator, TwoMergeIterator
from tinylsm.testkit import ListIterator, collect, show

Entries = list[tuple[bytes, bytes | None]]

keys = st.lists(st.sampled_from(b"abcd"), min_size=1, max_size=2).map(bytes)
# Each child is a set of keys, each either a value or a tombstone; values name their child.
children = st.lists(st.dictionaries(keys, st.booleans(), max_size=15), max_size=7)


class DiskError(Exception):
    """What a child raises to simulate a failed read."""


class FaultyIterator(ListIterator):
    """Raises DiskError when next() would move onto entry ``fail_at``."""

    def __init__(self, entries: Entries, fail_at: int) -> None:
        super().__init__(entries)
        self.fail_at = fail_at
        self.error = DiskError(f"read of entry {fail_at} failed")

    def next(self) -> None:
        if self.position + 1 == self.fail_at:
            raise self.error
        super().next()


class Table:
    def __init__(self, entries: Entries, first_key: bytes, last_key: bytes) -> None:
        self.entries = entries
        self.first_key = first_key
        self.last_key = last_key


class Opener:
    """Opens tables like SsTableIterator.create_and_seek_to_key, and counts the openings."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.opened: list[bytes] = []
        self.fail_on = fail_on

    def __call__(self, table: Table, key: bytes) -> ListIterator:
        self.opened.append(table.first_key)
        if self.fail_on is not None and len(self.opened) == self.fail_on:
            raise DiskError(f"cannot open the table starting at {table.first_key!r}")
        return ListIterator(table.entries[bisect_left([k for k, _ in table.entries], key) :])


def child_entries(index: int, child: dict[bytes, bool]) -> Entries:
    return [(key, None if tombstone else b"child %d" % index) for key, tombstone in sorted(child.items())]


def newest_wins(lists: list[Entries]) -> Entries:
    model: dict[bytes, bytes | None] = {}
    for entries in lists:
        for key, value in entries:
            model.setdefault(key, value)
    return sorted(model.items())


@pytest.mark.day3_task2
@given(children)
def test_merge_equals_a_model_where_the_smallest_index_wins(kids: list[dict[bytes, bool]]) -> None:
    """The merge of several sorted children was not every key once, ascending, with the value of the lowest index."""
    lists = [child_entries(i, kid) for i, kid in enumerate(kids)]
    got = collect(MergeIterator([ListIterator(entries) for entries in lists]))
    want = newest_wins(lists)
    assert got == want, f"merging {show(lists)}: expected {show(want)}, got {show(got)}"


@pytest.mark.day3_task2
def test_merge_of_many_children_on_the_same_keys_takes_child_zero() -> None:
    """With many children holding the same keys, the merge repeated a key or took a value from the wrong child."""
    same = [b"k%02d" % n for n in range(30)]
    lists = [[(key, b"child %d" % index) for key in same] for index in range(40)]
    iterator = MergeIterator([ListIterator(entries) for entries in lists])
    got = collect(iterator)
    want = lists[0]
    assert got == want, f"40 children all holding 30 keys: expected child 0's {show(want)}, got {show(got)}"
    assert iterator.num_active_iterators() == 0, "after the merge ends every child must have been exhausted"


@pytest.mark.day3_task2
def test_merge_lowest_index_wins_even_when_listed_children_are_invalid() -> None:
    """A tie was won by the wrong child when some children before it in the list were empty."""
    lists: list[Entries] = [[], [(b"k", b"from 1")], [], [(b"k", b"from 3")], [(b"k", b"from 4")]]
    got = collect(MergeIterator([ListIterator(entries) for entries in lists]))
    assert got == [(b"k", b"from 1")], f"child 1 is the newest that holds b'k': got {show(got)}"


def assert_failed_for_good(iterator: object, expected: BaseException, raised: BaseException, what: str) -> None:
    """After a child's error reached the caller, ``iterator`` is invalid, holds no child, and refuses next()."""
    assert raised is expected, f"the child's own exception must reach the caller, got {raised!r}"
    assert not iterator.is_valid(), f"after a child failed, {what} must not be valid"
    active = iterator.num_active_iterators()
    assert active == 0, f"{what} failed, so it holds no active iterator (it drops its children), but it counts {active}"
    with pytest.raises(LsmError):
        iterator.next()
        pytest.fail(f"next() on {what} after it failed returned normally instead of raising LsmError")


@pytest.mark.day3_task2
@given(st.integers(min_value=1, max_value=5), st.integers(min_value=0, max_value=2))
def test_an_error_from_a_child_propagates_and_fails_the_merge(fail_at: int, position: int) -> None:
    """An exception raised by a child's next() was swallowed, or the merge went on returning entries after it."""
    healthy = [ListIterator([(b"%d" % n, b"h") for n in range(0, 10, 2)]) for _ in range(position)]
    faulty = FaultyIterator([(b"%d" % n, b"f") for n in range(1, 10, 2)], fail_at)
    iterator = MergeIterator([*healthy, faulty, ListIterator([(b"0", b"old")])])
    with pytest.raises(DiskError) as raised:
        collect(iterator)
    assert_failed_for_good(iterator, faulty.error, raised.value, "the merge")


@pytest.mark.day3_task2
def test_num_active_iterators_of_nested_merges_adds_up_the_leaves() -> None:
    """num_active_iterators() of a merge of merges was not the number of valid leaf iterators."""
    inner = MergeIterator([ListIterator([(b"a", b"1"), (b"c", b"1")]), ListIterator([(b"b", b"2")])])
    outer = MergeIterator([inner, ListIterator([(b"a", b"3"), (b"d", b"3")]), ListIterator([])])
    counts = []
    while outer.is_valid():
        counts.append(outer.num_active_iterators())
        outer.next()
    assert counts == [3, 3, 2, 1], f"valid leaves on a, b, c, d should be [3, 3, 2, 1], got {counts}"


@pytest.mark.day3_task2
@given(children, st.integers(min_value=0, max_value=7))
def test_a_merge_of_merges_equals_one_flat_merge(kids: list[dict[bytes, bool]], split: int) -> None:
    """A merge used as the child of another merge gave different entries from one flat merge."""
    lists = [child_entries(i, kid) for i, kid in enumerate(kids)]
    split = min(split, len(lists))
    inner = MergeIterator([ListIterator(entries) for entries in lists[:split]])
    outer = MergeIterator([inner, *(ListIterator(entries) for entries in lists[split:])])
    got, want = collect(outer), newest_wins(lists)
    assert got == want, f"merge(merge(first {split}), rest...) of {show(lists)}: expected {show(want)}, got {show(got)}"


@pytest.mark.day3_task3
@given(children.map(lambda kids: [*kids, {}, {}][:2]))
def test_two_merge_equals_a_model_where_a_wins(pair: list[dict[bytes, bool]]) -> None:
    """TwoMergeIterator did not return every key of a and b once, ascending, with a's value on a tie."""
    a, b = child_entries(0, pair[0]), child_entries(1, pair[1])
    got = collect(TwoMergeIterator(ListIterator(a), ListIterator(b)))
    want = newest_wins([a, b])
    assert got == want, f"two-merge of a={show(a)} and b={show(b)}: expected {show(want)}, got {show(got)}"


@pytest.mark.day3_task3
def test_two_merge_counts_active_iterators_of_both_sides() -> None:
    """TwoMergeIterator.num_active_iterators() did not add up the valid iterators of a and b."""
    a = MergeIterator([ListIterator([(b"a", b"1")]), ListIterator([(b"a", b"2"), (b"c", b"2")])])
    b = ListIterator([(b"b", b"3")])
    iterator = TwoMergeIterator(a, b)
    counts = []
    while iterator.is_valid():
        counts.append(iterator.num_active_iterators())
        iterator.next()
    assert counts == [3, 2, 1], f"valid leaves on a, b, c should be [3, 2, 1], got {counts}"
    assert iterator.num_active_iterators() == 0, "an exhausted two-merge has no active iterators"


@pytest.mark.day3_task3
def test_two_merge_of_empty_sides_is_invalid() -> None:
    """A two-merge with an empty side returned nothing, or something, when it should not."""
    only_b = collect(TwoMergeIterator(ListIterator([]), ListIterator([(b"x", b"1")])))
    assert only_b == [(b"x", b"1")], f"an empty a must leave b's entries: got {show(only_b)}"
    assert not TwoMergeIterator(ListIterator([]), ListIterator([])).is_valid(), "two empty sides: must be invalid"


@pytest.mark.day3_task3
def test_an_error_from_a_side_propagates_and_fails_the_two_merge() -> None:
    """An exception raised by a side of a two-merge was swallowed, or the two-merge went on after it."""
    faulty = FaultyIterator([(b"a", b"1"), (b"c", b"1"), (b"e", b"1")], 2)
    iterator = TwoMergeIterator(ListIterator([(b"b", b"2"), (b"d", b"2")]), faulty)
    with pytest.raises(DiskError):
        collect(iterator)
    assert not iterator.is_valid(), "after a side failed, the two-merge must not be valid"
    active = iterator.num_active_iterators()
    assert active == 0, f"a two-merge that failed holds no active iterator, but it counts {active}"
    with pytest.raises(LsmError):
        iterator.next()


@pytest.mark.day3_task3
def test_an_error_moving_b_off_a_shared_key_fails_the_two_merge() -> None:
    """When a and b held the same key and b raised while being moved past it, the two-merge stayed valid
    (on a half-advanced side) instead of failing: that step of b must fail the merge like any other."""
    faulty = FaultyIterator([(b"b", b"2"), (b"c", b"2"), (b"d", b"2")], 2)  # fails moving from c to d
    iterator = TwoMergeIterator(ListIterator([(b"a", b"1"), (b"c", b"1")]), faulty)
    seen = [iterator.key()]
    iterator.next()
    seen.append(iterator.key())
    assert seen == [b"a", b"b"], f"the two-merge should start on a (from a) then b (from b), got {show(seen)}"
    with pytest.raises(DiskError) as raised:
        iterator.next()  # b moves onto c, ties with a's c, and fails when moved past it
        pytest.fail("b raised while moving off the key c it shares with a, but next() returned normally")
    assert_failed_for_good(iterator, faulty.error, raised.value, "the two-merge")


@st.composite
def levels(draw: st.DrawFn) -> tuple[list[Table], Entries]:
    """Tables over keys 000..199: cut points split the key space; tables may be empty."""
    present = sorted(draw(st.sets(st.integers(min_value=0, max_value=199), max_size=50)))
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=199), max_size=12)))
    tables = []
    for low, high in zip([0, *cuts], [*cuts, 200], strict=True):
        entries = [(b"%03d" % n, None if n % 7 == 0 else b"v%d" % n) for n in present if low <= n < high]
        if entries:
            tables.append(Table(entries, entries[0][0], entries[-1][0]))
        elif draw(st.booleans()):
            tables.append(Table([], b"%03d" % low, b"%03d" % (high - 1)))
    return tables, [entry for table in tables for entry in table.entries]


@pytest.mark.day3_task3
@given(levels(), st.integers(min_value=-1, max_value=200))
def test_concat_seek_lands_on_the_first_key_at_or_after_the_target(
    level: tuple[list[Table], Entries], target_number: int
) -> None:
    """ConcatIterator.seek_to_key did not land on the first key >= the target (gaps and empty tables included)."""
    tables, entries = level
    target = b"" if target_number < 0 else b"%03d" % target_number
    got = collect(ConcatIterator.create_and_seek_to_key(tables, target, Opener()))
    want = entries[bisect_left([k for k, _ in entries], target) :]
    ranges = [(t.first_key, t.last_key, len(t.entries)) for t in tables]
    assert got == want, f"seek to {target!r} in tables {show(ranges)}: expected {show(want)}, got {show(got)}"


@pytest.mark.day3_task3
@given(levels())
def test_concat_from_first_returns_every_entry_and_opens_one_table_at_a_time(
    level: tuple[list[Table], Entries],
) -> None:
    """ConcatIterator did not return every entry of every table in order, or opened tables before it needed them."""
    tables, entries = level
    opener = Opener()
    iterator = ConcatIterator.create_and_seek_to_first(tables, opener)
    first_non_empty = next((i for i, t in enumerate(tables) if t.entries), len(tables))
    assert len(opener.opened) == min(first_non_empty + 1, len(tables)), (
        f"creating the iterator opened {len(opener.opened)} tables; only the tables up to the first "
        f"non-empty one ({first_non_empty + 1}) should be opened"
    )
    got = collect(iterator)
    assert got == entries, f"expected {show(entries)}, got {show(got)}"
    assert len(opener.opened) == len(tables), f"{len(tables)} tables were opened {len(opener.opened)} times"


@pytest.mark.day3_task3
def test_concat_refuses_overlapping_or_unsorted_tables() -> None:
    """ConcatIterator accepted tables whose key ranges overlap or are out of order."""
    a = Table([(b"a", b"1"), (b"f", b"1")], b"a", b"f")
    b = Table([(b"e", b"2"), (b"k", b"2")], b"e", b"k")
    c = Table([(b"m", b"3")], b"m", b"m")
    with pytest.raises(ValueError):
        ConcatIterator([a, b], Opener())
    with pytest.raises(ValueError):
        ConcatIterator([c, a], Opener())


@pytest.mark.day3_task3
@pytest.mark.invariant
def test_concat_of_no_tables_or_past_the_end_is_invalid() -> None:
    """A concat iterator over no tables, or seeked past the last key, claimed to be valid."""
    assert not ConcatIterator.create_and_seek_to_first([], Opener()).is_valid(), "no tables: must be invalid"
    tables = [Table([(b"a", b"1")], b"a", b"a"), Table([], b"b", b"c")]
    iterator = ConcatIterator.create_and_seek_to_key(tables, b"b", Opener())
    assert not iterator.is_valid(), "seek past the last key (only an empty table is left) must be invalid"
    assert iterator.num_active_iterators() == 0, "an invalid concat iterator has no active iterator"


@pytest.mark.day3_task3
def test_an_error_opening_a_table_propagates_and_fails_the_concat() -> None:
    """An exception raised while opening the next table was swallowed, or the concat iterator went on after it."""
    tables = [Table([(b"a", b"1")], b"a", b"a"), Table([(b"b", b"2")], b"b", b"b"), Table([(b"c", b"3")], b"c", b"c")]
    iterator = ConcatIterator.create_and_seek_to_first(tables, Opener(fail_on=2))
    assert iterator.key() == b"a", f"expected to start on b'a', got {iterator.key()!r}"
    with pytest.raises(DiskError):
        iterator.next()
    assert not iterator.is_valid(), "after a table failed to open, the iterator must not be valid"
    with pytest.raises(LsmError):
        iterator.next()
    iterator.seek_to_key(b"a")  # a new seek starts over, and forgets the failure
    got = collect(iterator)
    assert got == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")], f"after a new seek, expected every entry, got {show(got)}"
    iterator.next()  # past the end of an iterator that no longer failed: nothing happens
    assert not iterator.is_valid(), "next() past the end must leave the iterator invalid"


@pytest.mark.day3_task3
def test_seek_to_first_forgets_an_earlier_failure_of_the_concat() -> None:
    """After a table failed to open, seek_to_first did not start the concat afresh: a walk that then
    succeeded still raised LsmError for the old failure when next() was called at its end."""
    tables = [Table([(b"a", b"1")], b"a", b"a"), Table([(b"b", b"2")], b"b", b"b")]
    iterator = ConcatIterator.create_and_seek_to_first(tables, Opener(fail_on=2))
    with pytest.raises(DiskError):
        iterator.next()  # opening the second table fails
        pytest.fail("the second table failed to open, but next() returned normally")
    iterator.seek_to_first()  # a new seek starts over, and forgets the failure
    got = collect(iterator)
    assert got == [(b"a", b"1"), (b"b", b"2")], f"after seek_to_first, expected every entry, got {show(got)}"
    try:
        iterator.next()
    except LsmError as error:
        pytest.fail(
            "seek_to_first must clear an earlier failure: after a successful walk to the end, "
            f"next() should do nothing, but it raised {error!r}"
        )
    assert not iterator.is_valid(), "next() past the end must leave the iterator invalid"
