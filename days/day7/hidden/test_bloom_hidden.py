"""Day 7 hidden tests, task 1: the pinned filter format, its edges, and the filter inside the engine."""

from __future__ import annotations

import math
import random
from pathlib import Path

import mmh3
import pytest

from tinylsm.bloom import Bloom, BloomBuilder, false_positive_rate, probe_count
from tinylsm.engine import LsmStorage
from tinylsm.errors import CorruptionError
from tinylsm.files import sst_path
from tinylsm.options import LsmStorageOptions, NoCompaction
from tinylsm.sstable import SsTable, SsTableBuilder
from tinylsm.testkit import OpLog, call_each, options_for_day, replay_on_failure, show

SEED = 0x544C534D  # the pinned seed of mmh3.hash64 ("TLSM")


def encode(keys: list[bytes], bits_per_key: int) -> bytes:
    builder = BloomBuilder(bits_per_key)
    call_each(builder.add_key, keys)
    return builder.build()


def reference_filter(keys: list[bytes], bits_per_key: int) -> bytes:
    """The filter as the book pins it, computed here from scratch."""
    k = max(1, min(30, round(bits_per_key * math.log(2))))
    nbytes = max(8, math.ceil(len(keys) * bits_per_key / 8))
    nbits = nbytes * 8
    bits = bytearray(nbytes)
    for key in keys:
        h1, h2 = mmh3.hash64(key, seed=SEED, signed=False)
        for i in range(k):
            position = (h1 + i * h2) % nbits
            bits[position // 8] |= 1 << (position % 8)
    return bytes(bits) + bytes([k])


def random_keys(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    keys: set[bytes] = set()
    while len(keys) < count:
        keys.add(rng.randbytes(rng.randint(4, 24)))
    ordered = sorted(keys)
    rng.shuffle(ordered)
    return ordered


def engine_options(**overrides: object) -> LsmStorageOptions:
    """Day 7's filters alone: no other day-7 feature, no WAL or manifest (day 6), no compaction (day 5)."""
    fields: dict[str, object] = {
        "enable_wal": False,
        "enable_manifest": False,
        "compaction": NoCompaction(),
        "prefix_compression": False,
        "checksums": False,
        "block_size": 128,
        "target_sst_size": 2048,
        "num_memtable_limit": 2,
    }
    return options_for_day(7, **{**fields, **overrides})


@pytest.mark.day7_task1
def test_golden_bytes_of_a_three_key_filter() -> None:
    """The encoded filter of three keys differs from the pinned format (bits, least significant first, then k)."""
    got = encode([b"apple", b"banana", b"cherry"], 10)
    # 3 keys * 10 bits = 30 bits, below the 64-bit minimum: 8 bytes of bits, then k = round(6.93) = 7.
    expected = bytes.fromhex("84 10 4c 20 81 07 18 70" + "07")
    assert got == expected, f"expected {expected.hex(' ')}\n     got {got.hex(' ')}"


@pytest.mark.day7_task1
@pytest.mark.parametrize("bits_per_key,count", [(1, 100), (7, 50), (10, 1000), (13, 3)])
def test_bits_set_are_exactly_the_pinned_probe_positions(bits_per_key: int, count: int) -> None:
    """The filter's bits are not those of mmh3.hash64(key, seed=0x544C534D) probed at (h1 + i*h2) mod nbits."""
    keys = random_keys(count, seed=bits_per_key)
    got, expected = encode(keys, bits_per_key), reference_filter(keys, bits_per_key)
    assert len(got) == len(expected), f"expected a {len(expected)}-byte filter, got {len(got)} bytes"
    differing = [index for index, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b]
    assert not differing, (
        f"{len(differing)} bytes differ from the pinned format, first at offset {differing[0]}: "
        f"expected {expected[differing[0]]:08b}, got {got[differing[0]]:08b} (bit i of a byte is 1 << i)"
    )


@pytest.mark.day7_task1
@pytest.mark.parametrize("count", [0, 1, 6, 7, 100, 1001])
@pytest.mark.parametrize("bits_per_key", [1, 3, 10])
@pytest.mark.invariant
def test_filter_size_is_keys_times_bits_per_key_rounded_up_to_bytes(count: int, bits_per_key: int) -> None:
    """The bit array is not ceil(keys * bits_per_key / 8) bytes (at least 8), followed by one byte of k."""
    got = len(encode([b"key%d" % i for i in range(count)], bits_per_key))
    expected = max(8, math.ceil(count * bits_per_key / 8)) + 1
    assert got == expected, f"{count} keys at {bits_per_key} bits per key: expected {expected} bytes, got {got}"


@pytest.mark.day7_task1
def test_many_bits_per_key_store_at_most_30_probes() -> None:
    """A filter with many bits per key stored a k above 30 (k must be clamped), or could not be read back."""
    keys = [b"key%d" % i for i in range(20)]
    raw = encode(keys, 60)
    assert raw[-1] == 30, f"60 bits per key: k = round(60 ln 2) = 42 must be clamped to 30, got k = {raw[-1]}"
    bloom = Bloom.decode(raw)
    missed = [key for key in keys if not bloom.may_contain(key)]
    assert not missed, f"keys added but not found: {show(missed)}"


@pytest.mark.day7_task1
@pytest.mark.parametrize("k", [0, 31, 64, 255])
def test_decode_refuses_k_outside_1_to_30(k: int) -> None:
    """Bloom.decode accepted a stored k outside 1..30 (a filter with k = 0 would let every key through)."""
    with pytest.raises(CorruptionError):
        Bloom.decode(bytes(16) + bytes([k]))


@pytest.mark.day7_task1
@pytest.mark.parametrize("length", range(9))
def test_decode_refuses_filters_shorter_than_nine_bytes(length: int) -> None:
    """Bloom.decode accepted fewer than 8 bytes of bits plus the k byte."""
    with pytest.raises(CorruptionError):
        Bloom.decode(b"\x07" * length)


@pytest.mark.day7_task1
def test_decode_reads_k_from_the_last_byte() -> None:
    """A filter of all-zero bits answered True, or one of all-one bits answered False (k or the bits misread)."""
    for k in (1, 7, 30):
        assert not Bloom.decode(bytes(8) + bytes([k])).may_contain(b"any key"), f"all bits 0, k={k}: must be False"
        assert Bloom.decode(b"\xff" * 8 + bytes([k])).may_contain(b"any key"), f"all bits 1, k={k}: must be True"


@pytest.mark.day7_task1
def test_probe_count_and_false_positive_rate_follow_the_formulas() -> None:
    """probe_count or false_positive_rate does not follow k = round(b ln 2) in 1..30 and (1 - e^(-k/b))^k."""
    for bits in range(1, 64):
        expected_k = max(1, min(30, round(bits * math.log(2))))
        assert probe_count(bits) == expected_k, f"probe_count({bits}): expected {expected_k}, got {probe_count(bits)}"
    for bits, k in [(1, 1), (4, 3), (10, 7), (10, 3), (20, 14)]:
        expected = (1 - math.exp(-k / bits)) ** k
        got = false_positive_rate(bits, k)
        assert got == pytest.approx(expected, rel=1e-9), f"false_positive_rate({bits}, {k}): expected {expected}"


@pytest.mark.day7_task1
@pytest.mark.parametrize("bits_per_key", [4, 7])
def test_false_positive_rate_at_4_and_7_bits_per_key_matches_the_formula(bits_per_key: int) -> None:
    """The measured false positive rate is far from (1 - e^(-k/b))^k: bits are missing or k is wrong."""
    keys = random_keys(12_000, seed=7000 + bits_per_key)
    added, probed = keys[:6000], keys[6000:]
    bloom = Bloom.decode(encode(added, bits_per_key))
    rate = sum(call_each(bloom.may_contain, probed)) / len(probed)
    k = round(bits_per_key * math.log(2))
    expected = (1 - math.exp(-k / bits_per_key)) ** k
    tolerance = 4 * math.sqrt(expected * (1 - expected) / len(probed))  # four binomial standard deviations
    assert abs(rate - expected) <= tolerance, (
        f"{bits_per_key} bits per key, k = {k}: expected a false positive rate of {expected:.4f} ± {tolerance:.4f}, "
        f"got {rate:.4f}"
    )


@pytest.mark.day7_task1
@pytest.mark.invariant
def test_adding_a_key_twice_changes_nothing_but_the_size() -> None:
    """Adding the same key twice set bits that adding it once does not."""
    keys = [b"alpha", b"beta", b"gamma"]
    once, twice = encode(keys, 10), encode([*keys, *keys], 10)
    assert once == twice, f"8 bytes either way (minimum size); expected {once.hex(' ')}, got {twice.hex(' ')}"


@pytest.mark.day7_task1
def test_builder_refuses_fewer_than_one_bit_per_key() -> None:
    """BloomBuilder(0) was accepted: a filter needs at least one bit per key."""
    with pytest.raises(ValueError):
        BloomBuilder(0)


@pytest.mark.day7_task1
def test_an_sst_written_with_a_filter_rules_out_missing_keys(tmp_path: Path) -> None:
    """An SST built with a filter did not consult it (no filter_negatives counted), or hid a stored key."""
    options = options_for_day(7, checksums=False, prefix_compression=False, block_size=64)
    builder = SsTableBuilder(options)
    stored = [b"row%04d" % i for i in range(0, 600, 3)]
    for key in stored:
        builder.add(key, b"x")
    builder.build(1, sst_path(tmp_path, 1), None).close()
    table = SsTable.open(1, sst_path(tmp_path, 1), None)
    try:
        hidden = [key for key in stored if not table.may_contain(key)]
        assert not hidden, f"the filter ruled out stored keys: {show(hidden)}"
        missing = [b"row%04d" % i for i in range(1, 597, 3)]  # all inside the table's key range
        ruled_out = sum(not table.may_contain(key) for key in missing)
        assert table.counters.filter_negatives == ruled_out >= 0.9 * len(missing), (
            f"{ruled_out} of {len(missing)} missing keys ruled out, filter_negatives = "
            f"{table.counters.filter_negatives}: expected about 99% at 10 bits per key, each one counted"
        )
        assert table.counters.blocks_read == 0, f"may_contain read {table.counters.blocks_read} blocks from disk"
    finally:
        table.close()


@pytest.mark.day7_task1
def test_filters_never_hide_stored_keys_across_tables_and_a_reopen(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """With filters on, get() missed a stored key in one of several tables, or a reopened table lost its filter."""
    options = engine_options()
    log = OpLog(options)
    model: dict[bytes, bytes | None] = {}
    with replay_on_failure(log, request.node.name):
        with LsmStorage.open(tmp_path, options) as db:
            for round_ in range(4):
                for i in range(round_, 300, 4):
                    key = b"item:%06d" % i
                    if i % 7 == 0:
                        log.record("delete", key)
                        db.delete(key)
                        model[key] = None
                    else:
                        value = b"v%d-%d" % (round_, i)
                        log.record("put", key, value)
                        db.put(key, value)
                        model[key] = value
                log.record("flush")
                db.force_flush()
            assert len(db.state.l0_sstables) >= 4, "expected several L0 tables"
        log.record("reopen")
        with LsmStorage.open(tmp_path, options) as db:
            wrong = []
            for key, value in sorted(model.items()):
                log.record("get", key)
                got = db.get(key)
                if got != value:
                    wrong.append((key, got, value))
            assert not wrong, f"after a reopen, get(key) gave (key, got, expected): {show(wrong)}"
            before = db.stats()["filter_negatives"]
            for i in range(300):
                log.record("get", b"item:%06d~" % i)
                db.get(b"item:%06d~" % i)
            negatives = db.stats()["filter_negatives"] - before
            assert negatives > 0, "after a reopen, no get of a missing key was ruled out: the tables lost their filters"
