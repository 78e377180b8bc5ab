"""Day 7 visible tests, task 1: Bloom filters. Run with ``pytest days/day7 -m day7_task1``."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinylsm.bloom import Bloom, BloomBuilder, false_positive_rate, probe_count
from tinylsm.engine import LsmStorage
from tinylsm.errors import CorruptionError
from tinylsm.options import NoCompaction
from tinylsm.testkit import call_each, options_for_day, show

KEY_SET_SEED = 20240607
"""The seed of the fixed random key set of the false-positive test."""


def build_filter(keys: list[bytes], bits_per_key: int) -> Bloom:
    builder = BloomBuilder(bits_per_key)
    call_each(builder.add_key, keys)
    return Bloom.decode(builder.build())


def random_keys(count: int, seed: int) -> list[bytes]:
    """``count`` distinct random 16-byte keys, in a random order fixed by ``seed``."""
    rng = random.Random(seed)
    keys: set[bytes] = set()
    while len(keys) < count:
        keys.add(rng.randbytes(16))
    ordered = sorted(keys)
    rng.shuffle(ordered)
    return ordered


@pytest.mark.day7_task1
@given(st.sets(st.binary(min_size=1, max_size=20), max_size=200), st.integers(min_value=1, max_value=20))
@pytest.mark.invariant
def test_every_added_key_may_be_contained(keys: set[bytes], bits_per_key: int) -> None:
    """A decoded Bloom filter's may_contain is True for every key added, for any key set and bits_per_key."""
    bloom = build_filter(sorted(keys), bits_per_key)
    missed = [key for key in sorted(keys) if not bloom.may_contain(key)]
    assert not missed, (
        f"a filter of {bits_per_key} bits per key over {len(keys)} keys answered False for keys that were added "
        f"(a false negative would make get() miss a stored key): {show(missed)}"
    )


@pytest.mark.day7_task1
def test_probe_count_is_bits_per_key_times_ln2_clamped_to_1_to_30() -> None:
    """probe_count(bits_per_key) is round(bits_per_key * ln 2), clamped to 1..30."""
    got = {bits: probe_count(bits) for bits in (1, 2, 3, 5, 10, 16, 20, 43, 44, 100)}
    # round(bits * 0.693...): 0.69 -> 1, 1.39 -> 1, 2.08 -> 2, 3.47 -> 3, 6.93 -> 7, 11.09 -> 11,
    # 13.86 -> 14, 29.8 -> 30; 30.5 (44 bits) and 69.3 are clamped to 30.
    expected = {1: 1, 2: 1, 3: 2, 5: 3, 10: 7, 16: 11, 20: 14, 43: 30, 44: 30, 100: 30}
    assert got == expected, f"probe_count(bits_per_key): expected {expected}, got {got}"


@pytest.mark.day7_task1
def test_false_positive_rate_at_10_bits_per_key_matches_the_formula() -> None:
    """At 10 bits per key a filter's false positive rate matches false_positive_rate(10, 7) = (1 - e^-0.7)^7."""
    keys = random_keys(20_000, KEY_SET_SEED)
    added, probed = keys[:10_000], keys[10_000:]
    bloom = build_filter(added, 10)
    false_positives = sum(call_each(bloom.may_contain, probed))
    rate = false_positives / len(probed)
    # k = round(10 ln 2) = 7, and the formula gives p = (1 - e^(-7/10))^7 = 0.00819. The probed keys are a
    # sample: the count of false positives is binomial, with a standard deviation of
    # sqrt(p (1 - p) / 10,000) = 0.0009. Four standard deviations (0.0036) leave a correct filter
    # no realistic chance of failing, while a filter that misses bits or sets too few is far outside.
    expected = (1 - math.exp(-0.7)) ** 7
    tolerance = 4 * math.sqrt(expected * (1 - expected) / len(probed))
    assert abs(rate - expected) <= tolerance, (
        f"with 10 bits per key, 10,000 keys added and 10,000 others probed (key seed {KEY_SET_SEED}): expected a "
        f"false positive rate of {expected:.4f} ± {tolerance:.4f}, got {rate:.4f} ({false_positives} false positives)"
    )
    assert false_positive_rate(10, 7) == pytest.approx(expected), (
        f"false_positive_rate(10, 7) should be (1 - e^(-0.7))^7 = {expected:.6f}, got {false_positive_rate(10, 7)}"
    )


@pytest.mark.day7_task1
@pytest.mark.parametrize("raw", [b"", b"\x07", bytes(8), bytes(8) + b"\x00", bytes(8) + b"\x1f", b"\xff" * 16])
def test_decode_of_malformed_filter_raises_corruption_error(raw: bytes) -> None:
    """Bloom.decode raises CorruptionError for a filter shorter than 9 bytes or whose k is not in 1..30."""
    with pytest.raises(CorruptionError):
        Bloom.decode(raw)
        pytest.fail(f"Bloom.decode({show(raw)}) should raise CorruptionError (too short, or k not 1..30)")


@pytest.mark.day7_task1
def test_get_of_a_missing_key_is_answered_by_the_filter_without_reading_a_block(tmp_path: Path) -> None:
    """get rules out most missing keys with the SST's filter (filter_negatives), reading no block for them."""
    options = options_for_day(
        7,
        enable_wal=False,
        enable_manifest=False,
        compaction=NoCompaction(),
        checksums=False,
        prefix_compression=False,
        block_size=256,
    )
    with LsmStorage.open(tmp_path, options) as db:
        for number in range(0, 400, 2):
            db.put(b"key%05d" % number, b"value")
        db.force_flush()
        # Odd numbers were never written, and they lie inside the table's key range, so only
        # the filter can rule them out.
        missing = [b"key%05d" % number for number in range(1, 400, 2)]
        ruled_out = 0
        for key in missing:
            before = db.stats()
            assert db.get(key) is None, f"get({key!r}) of a key never written should be None"
            after = db.stats()
            negatives = after["filter_negatives"] - before["filter_negatives"]
            reads = after["blocks_read"] - before["blocks_read"]
            if negatives:
                ruled_out += 1
                assert reads == 0, f"get({key!r}) was ruled out by the filter but still read {reads} block(s)"
        assert ruled_out >= 0.9 * len(missing), (
            f"with 10 bits per key the filter should rule out about 99% of {len(missing)} missing keys; "
            f"stats()['filter_negatives'] grew for only {ruled_out}"
        )
