"""Day 7 hidden tests, task 2: the overlap cap of a u16 key_overlap, for keys longer than it can count."""

from __future__ import annotations

import pytest

from tinylsm.prefix import MAX_OVERLAP, shared_prefix_length
from tinylsm.testkit import show


@pytest.mark.day7_task2
@pytest.mark.parametrize("extra", [1, 2, 1000])
def test_overlap_of_keys_longer_than_a_u16_is_capped_at_max_overlap(extra: int) -> None:
    """shared_prefix_length returned more than MAX_OVERLAP (65535) for keys sharing a longer prefix."""
    first = b"k" * (MAX_OVERLAP + extra) + b"a"
    key = b"k" * (MAX_OVERLAP + extra) + b"b"
    got = shared_prefix_length(first, key)
    assert got == MAX_OVERLAP, f"expected {MAX_OVERLAP} (a u16 caps key_overlap), got {got}"


@pytest.mark.day7_task2
def test_overlap_just_under_the_cap_is_exact() -> None:
    """shared_prefix_length capped, or miscounted, a common prefix that fits in a u16."""
    first = b"p" * (MAX_OVERLAP - 1) + b"a" + b"tail"
    key = b"p" * (MAX_OVERLAP - 1) + b"b" + b"more"
    got = shared_prefix_length(first, key)
    assert got == MAX_OVERLAP - 1, f"expected {MAX_OVERLAP - 1} for keys {show(key[-6:])}, got {got}"
