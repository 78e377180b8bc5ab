"""Day 3 hidden tests for the memtable: bounds, snapshots, sizes, threads and models."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinylsm.lookup import ABSENT
from tinylsm.memtable import MemTable
from tinylsm.testkit import assert_empty_bounds_are_bounds, call_each, collect, options_for_day, show

keys = st.lists(st.sampled_from(b"abcde\x00\xff"), min_size=1, max_size=3).map(bytes)
values = st.none() | st.binary(max_size=12)
operations = st.lists(st.tuples(keys, values), max_size=60)
bounds = st.none() | keys


class RecordingBuilder:
    def __init__(self) -> None:
        self.entries: list[tuple[bytes, bytes | None]] = []

    def add(self, key: bytes, value: bytes | None) -> bool:
        self.entries.append((key, value))
        return True


def apply(ops: list[tuple[bytes, bytes | None]]) -> tuple[MemTable, dict[bytes, bytes | None]]:
    memtable, model = MemTable(1, options_for_day(3)), {}
    for key, value in ops:
        if value is None:
            memtable.delete(key)
        else:
            memtable.put(key, value)
        model[key] = value
    return memtable, model


def in_range(key: bytes, start: bytes | None, stop: bytes | None, include_start: bool, include_stop: bool) -> bool:
    above = start is None or key > start or (include_start and key == start)
    below = stop is None or key < stop or (include_stop and key == stop)
    return above and below


@pytest.mark.day3_task1
@given(operations, bounds, bounds, st.booleans(), st.booleans())
def test_scan_matches_a_sorted_list_for_every_bound_combination(
    ops: list[tuple[bytes, bytes | None]],
    start: bytes | None,
    stop: bytes | None,
    include_start: bool,
    include_stop: bool,
) -> None:
    """A scan with some combination of bounds (None, inclusive, exclusive, start > stop) returned the wrong entries."""
    memtable, model = apply(ops)
    want = [(k, v) for k, v in sorted(model.items()) if in_range(k, start, stop, include_start, include_stop)]
    got = collect(memtable.scan(start, stop, include_start=include_start, include_stop=include_stop))
    call = f"scan({start!r}, {stop!r}, include_start={include_start}, include_stop={include_stop})"
    assert got == want, f"{call} over keys {show(sorted(model))}: expected {show(want)}, got {show(got)}"


@pytest.mark.day3_task1
def test_scan_of_a_single_key_range_respects_both_flags() -> None:
    """A scan whose start and stop are the same key ignored include_start or include_stop."""
    memtable, _ = apply([(b"a", b"1"), (b"m", b"2"), (b"z", b"3")])
    for include_start in (False, True):
        for include_stop in (False, True):
            got = collect(memtable.scan(b"m", b"m", include_start=include_start, include_stop=include_stop))
            want = [(b"m", b"2")] if include_start and include_stop else []
            assert got == want, (
                f"scan(b'm', b'm', include_start={include_start}, include_stop={include_stop}) "
                f"should give {show(want)}, got {show(got)}"
            )


@pytest.mark.day3_task1
def test_an_empty_bound_is_a_bound_not_an_open_end() -> None:
    """A scan took a bound of b"" for no bound at all (tested as falsy, not as None): stop=b"" must give nothing."""
    memtable, model = apply([(b"\x00", b"zero"), (b"a", b""), (b"m", None), (b"\xff", b"last")])
    assert_empty_bounds_are_bounds(memtable.scan, sorted(model.items()))


@pytest.mark.day3_task1
@given(operations)
def test_get_agrees_with_a_dict_model(ops: list[tuple[bytes, bytes | None]]) -> None:
    """get() did not return the last value written, None after a delete, or ABSENT for a key never written."""
    memtable, model = apply(ops)
    for key in [*model, b"never written"]:
        want = model.get(key, ABSENT)
        got = memtable.get(key)
        assert got == want, f"get({key!r}) after {show(ops)}: expected {want!r}, got {got!r}"
    assert len(memtable) == len(model), f"len() should count {len(model)} distinct keys, got {len(memtable)}"


@pytest.mark.day3_task1
@given(operations)
def test_approximate_size_is_the_bytes_of_the_latest_entries(ops: list[tuple[bytes, bytes | None]]) -> None:
    """approximate_size() drifted from the sum of key and value lengths (overwrites or tombstones counted wrongly)."""
    memtable, model = apply(ops)
    want = sum(len(k) + (0 if v is None else len(v)) for k, v in model.items())
    got = memtable.approximate_size()
    assert got == want, f"after {show(ops)} approximate_size() should be {want}, got {got}"


@pytest.mark.day3_task1
def test_deleting_a_key_never_written_stores_a_tombstone() -> None:
    """delete() of a key the memtable did not hold stored nothing, so older copies elsewhere would show through."""
    memtable = MemTable(0, options_for_day(3))
    memtable.delete(b"ghost")
    assert memtable.get(b"ghost") is None, f"get(b'ghost') after delete should be None, got {memtable.get(b'ghost')!r}"
    assert not memtable.is_empty() and len(memtable) == 1, "a tombstone is an entry: the memtable is not empty"
    assert collect(memtable.scan()) == [(b"ghost", None)], "scan() must surface the tombstone as (b'ghost', None)"


@pytest.mark.day3_task1
@given(operations)
def test_flush_adds_the_latest_entries_in_key_order(ops: list[tuple[bytes, bytes | None]]) -> None:
    """flush() did not add exactly the latest entry of every key, tombstones included, in ascending key order."""
    memtable, model = apply(ops)
    builder = RecordingBuilder()
    memtable.flush(builder)
    want = sorted(model.items())
    assert builder.entries == want, f"flush after {show(ops)} should add {show(want)}, got {show(builder.entries)}"


@pytest.mark.day3_task1
@given(
    st.dictionaries(keys, values, min_size=1, max_size=30),
    st.lists(st.tuples(st.integers(min_value=0, max_value=3), keys, values), max_size=20),
)
def test_writes_during_a_scan_do_not_change_what_it_returns(
    initial: dict[bytes, bytes | None], writes: list[tuple[int, bytes, bytes | None]]
) -> None:
    """Writes made while a scan was in progress broke it, reordered it, or showed through it (a scan is a snapshot)."""
    memtable, _ = apply(list(initial.items()))
    want = sorted(initial.items())
    iterator = memtable.scan()
    got = []
    for steps, key, value in writes:
        for _ in range(steps):
            if iterator.is_valid():
                got.append((iterator.key(), iterator.value()))
                iterator.next()
        memtable.put(key, value)
    got.extend(collect(iterator))
    assert got == want, (
        f"a scan started over {show(want)} returned {show(got)} after writes {show(writes)} during it; "
        "it must return the entries as they were when scan() was called"
    )


@pytest.mark.day3_task1
@pytest.mark.invariant
def test_scans_running_alongside_a_writer_thread_see_a_consistent_prefix_of_its_writes() -> None:
    """A scan racing a writer thread failed, was out of order, or saw a later write without an earlier one."""
    seed = 3
    order = [b"key%05d" % n for n in range(4000)]
    random.Random(seed).shuffle(order)
    memtable = MemTable(0, options_for_day(3))
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            call_each(memtable.put, [(key, b"%d" % sequence) for sequence, key in enumerate(order)], unpack=True)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    scans = 0
    while thread.is_alive() or scans == 0:
        entries = collect(memtable.scan(b"key00500", b"key03500"))
        scans += 1
        assert entries == sorted(entries) and len({k for k, _ in entries}) == len(entries), (
            f"seed {seed}: a scan during writes was out of order or repeated a key"
        )
        seen = {int(v) for _, v in entries}  # type: ignore[arg-type]
        expected = {n for n in range(max(seen, default=-1) + 1) if b"key00500" <= order[n] < b"key03500"}
        assert seen == expected, (
            f"seed {seed}: a scan saw write #{max(seen)} but missed {len(expected - seen)} earlier writes in its range"
        )
    thread.join()
    assert not errors, f"the writer thread failed: {errors[0]!r}"
