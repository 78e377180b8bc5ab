"""Day 4 hidden tests: the engine against a plain dict, over generated sequences of calls."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from tinylsm.engine import LsmStorage
from tinylsm.files import sst_path
from tinylsm.sstable import SsTableBuilder
from tinylsm.testkit import apply_to_model, options_for_day, show

KEYS = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f", b"a\x00", b"c\xff", b"\x00", b"\xff", b"\xff\xff"])
VALUES = st.binary(max_size=24)
BOUNDS = st.none() | KEYS | st.binary(min_size=1, max_size=2)
OPTIONS = options_for_day(4, target_sst_size=96, block_size=40, num_memtable_limit=3)


def in_range(key: bytes, start: bytes | None, stop: bytes | None, include_start: bool, include_stop: bool) -> bool:
    above = start is None or key > start or (include_start and key == start)
    below = stop is None or key < stop or (include_stop and key == stop)
    return above and below


class EngineAgainstADict(RuleBasedStateMachine):
    """Drives one engine and a dict with the same calls; every read must agree."""

    def __init__(self, root: Path, numbers: itertools.count) -> None:
        super().__init__()
        self.path = root / f"db{next(numbers)}"
        self.db = LsmStorage.open(self.path, OPTIONS)
        self.model: dict[bytes, bytes] = {}

    @rule(key=KEYS, value=VALUES)
    def put(self, key: bytes, value: bytes) -> None:
        self.db.put(key, value)
        self.model[key] = value

    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        self.db.delete(key)
        self.model.pop(key, None)

    @rule(ops=st.lists(st.tuples(KEYS, st.none() | VALUES), max_size=6))
    def write_batch(self, ops: list[tuple[bytes, bytes | None]]) -> None:
        self.db.write_batch(ops)
        apply_to_model(self.model, ops)

    @rule(key=KEYS)
    def get(self, key: bytes) -> None:
        got = self.db.get(key)
        assert got == self.model.get(key), f"get({key!r}) expected {show(self.model.get(key))}, got {show(got)}"

    @rule(start=BOUNDS, stop=BOUNDS, include_start=st.booleans(), include_stop=st.booleans())
    def scan(self, start: bytes | None, stop: bytes | None, include_start: bool, include_stop: bool) -> None:
        got = list(self.db.scan(start, stop, include_start=include_start, include_stop=include_stop))
        want = sorted(
            (key, value) for key, value in self.model.items() if in_range(key, start, stop, include_start, include_stop)
        )
        call = f"scan({start!r}, {stop!r}, include_start={include_start}, include_stop={include_stop})"
        assert got == want, f"{call} expected {show(want)}, got {show(got)}"

    @rule()
    def force_flush(self) -> None:
        self.db.force_flush()

    @rule()
    def close_and_reopen(self) -> None:
        self.db.close()
        self.db = LsmStorage.open(self.path, OPTIONS)

    def teardown(self) -> None:
        with contextlib.suppress(Exception):  # a broken close fails close_and_reopen, not every example
            self.db.close()


@pytest.mark.day4_task3
def test_engine_agrees_with_a_dict_over_any_sequence_of_calls(tmp_path: Path) -> None:
    """Some sequence of puts, deletes, batches, flushes and reopens made a get or a scan disagree with a dict."""
    numbers = itertools.count()
    bounded = settings(max_examples=40, stateful_step_count=30, report_multiple_bugs=False)
    run_state_machine_as_test(lambda: EngineAgainstADict(tmp_path, numbers), settings=bounded)


layers = st.lists(st.dictionaries(KEYS, st.none() | VALUES, min_size=1, max_size=8), max_size=3)
writes = st.lists(st.tuples(KEYS, st.none() | VALUES), max_size=40)


@pytest.mark.day4_task2
@settings(max_examples=40, report_multiple_bugs=False)
@given(sst_layers=layers, ops=writes)
def test_get_agrees_with_a_dict_over_ssts_and_frozen_memtables(
    tmp_path_factory: pytest.TempPathFactory,
    sst_layers: list[dict[bytes, bytes | None]],
    ops: list[tuple[bytes, bytes | None]],
) -> None:
    """Over L0 SSTs and frozen memtables holding values and tombstones, some get disagreed with a dict."""
    directory = tmp_path_factory.mktemp("db")
    model: dict[bytes, bytes | None] = {}
    for sst_id, layer in enumerate(sst_layers, start=1):  # oldest first: a larger id is newer
        builder = SsTableBuilder(OPTIONS)
        for key, value in sorted(layer.items()):
            builder.add(key, value)
        builder.build(sst_id, sst_path(directory, sst_id), None).close()
        model.update(layer)
    db = LsmStorage.open(directory, options_for_day(4, target_sst_size=48, block_size=40, num_memtable_limit=1000))
    try:
        for key, value in ops:
            if value is None:
                db.delete(key)
            else:
                db.put(key, value)
            model[key] = value
        for key in sorted(set(model) | {b"zz"}):
            got = db.get(key)
            want = model.get(key)
            assert got == want, f"get({key!r}) expected {show(want)}, got {show(got)}"
    finally:
        with contextlib.suppress(Exception):  # close is task 4's
            db.close()
