"""Day 7 hidden tests, task 2: prefix compression against plain blocks, the longest keys, and SSTs."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinylsm.block import Block, BlockIterator
from tinylsm.engine import LsmStorage
from tinylsm.options import NoCompaction
from tinylsm.prefix import shared_prefix_length
from tinylsm.testkit import OpLog, collect, encoded_block, options_for_day, replay_on_failure, show

# Keys over a four-byte alphabet share long prefixes, runs of 0x00 and 0xff, and are often
# prefixes of one another.
keys = st.binary(min_size=1, max_size=10).map(lambda raw: bytes(b"\x00\x01a\xff"[byte % 4] for byte in raw))
values = st.none() | st.binary(max_size=6)


def seek(raw: bytes, target: bytes) -> tuple[bytes, bytes | None] | None:
    iterator = BlockIterator.create_and_seek_to_key(Block.decode(raw), target)
    return (iterator.key(), iterator.value()) if iterator.is_valid() else None


@pytest.mark.day7_task2
@given(st.dictionaries(keys, values, min_size=1, max_size=40), st.lists(keys, max_size=15))
@pytest.mark.invariant
def test_compressed_and_plain_blocks_hold_the_same_entries_and_seek_alike(
    entries: dict[bytes, bytes | None], targets: list[bytes]
) -> None:
    """A block built with prefix compression read back or seeked differently from the same block without it."""
    ordered = sorted(entries.items())
    plain, compressed = encoded_block(ordered, day=6), encoded_block(ordered, day=7)
    got = collect(BlockIterator.create_and_seek_to_first(Block.decode(compressed)))
    assert got == ordered, f"expected {show(ordered)}, got {show(got)}"
    for target in [*targets, *entries]:
        want, found = seek(plain, target), seek(compressed, target)
        assert found == want, f"seek_to_key({target!r}): expected {show(want)}, got {show(found)}"


@pytest.mark.day7_task2
@given(keys, keys)
def test_shared_prefix_length_is_the_longest_prefix_that_leaves_a_byte(first_key: bytes, key: bytes) -> None:
    """shared_prefix_length was not the longest common prefix of the two keys, capped at len(key) - 1."""
    got = shared_prefix_length(first_key, key)
    common = 0
    while common < min(len(first_key), len(key)) and first_key[common] == key[common]:
        common += 1
    expected = min(common, len(key) - 1)
    assert got == expected, f"shared_prefix_length({first_key!r}, {key!r}): expected {expected}, got {got}"


@pytest.mark.day7_task2
def test_golden_bytes_of_a_compressed_block() -> None:
    """A block written with prefix compression does not store key_overlap and key_rest as pinned."""
    got = encoded_block([(b"user:1001", b"x"), (b"user:1002", b"y"), (b"user:1010", None)], day=7)
    expected = bytes.fromhex(
        "".join(
            [
                "0000 0900 00 01000000 757365723a31303031 78",  # entry 0: whole key "user:1001", value "x"
                "0800 0100 00 01000000 32 79",  # entry 1: 8 bytes from the first key, rest "2", value "y"
                "0700 0200 01 00000000 3130",  # entry 2: 7 bytes shared ("user:10"), rest "10", tombstone
                "0000 1300 1e00",  # offsets 0, 19, 30
                "0300",  # three entries
            ]
        )
    )
    assert got == expected, f"expected {expected.hex(' ')}\n     got {got.hex(' ')}"


@pytest.mark.day7_task2
def test_long_keys_share_a_prefix_that_fills_key_overlap() -> None:
    """Two 60,000-byte keys differing in the last byte did not share 59,999 bytes, or did not read back."""
    first, second = b"k" * 59_999 + b"a", b"k" * 59_999 + b"b"
    raw = encoded_block([(first, b"1"), (second, b"2")], day=7, block_size=65_536)
    (overlap, rest_len) = struct.unpack_from("<HH", raw, 9 + 60_000 + 1)
    assert (overlap, rest_len) == (59_999, 1), f"expected key_overlap 59999 and 1 byte of rest, got {overlap, rest_len}"
    got = collect(BlockIterator.create_and_seek_to_first(Block.decode(raw)))
    assert got == [(first, b"1"), (second, b"2")], "the two long keys did not read back"


@pytest.mark.day7_task2
@pytest.mark.invariant
def test_a_key_equal_to_the_first_keys_prefix_plus_one_byte_keeps_that_byte() -> None:
    """A key that extends the block's first key by one byte lost that byte (the overlap was one too long)."""
    entries = [(b"a", b"1"), (b"a\x00", b"2"), (b"a\x00\x00", b"3"), (b"a\xff", b"4")]
    raw = encoded_block(entries, day=7)
    got = collect(BlockIterator.create_and_seek_to_first(Block.decode(raw)))
    assert got == entries, f"expected {show(entries)}, got {show(got)}"


@pytest.mark.day7_task2
@pytest.mark.invariant
def test_engine_with_prefix_compression_reads_back_every_key(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """With prefix compression on, a scan or get through SSTables of many blocks gave a wrong key or value."""
    options = options_for_day(
        7,
        enable_wal=False,
        enable_manifest=False,
        compaction=NoCompaction(),
        bloom_bits_per_key=0,
        checksums=False,
        block_size=96,
        target_sst_size=1 << 20,
    )
    log = OpLog(options)
    model = {b"tenant/%03d/user/%06d" % (i % 3, i * 37 % 1000): b"value %d" % i for i in range(400)}
    with replay_on_failure(log, request.node.name), LsmStorage.open(tmp_path, options) as db:
        for key, value in model.items():
            log.record("put", key, value)
            db.put(key, value)
        log.record("flush")
        db.force_flush()
        log.record("scan", None, None, True, False)
        scanned = list(db.scan())
        assert scanned == sorted(model.items()), f"scan gave {show(scanned)}"
        wrong = []
        for key, value in model.items():
            log.record("get", key)
            if db.get(key) != value:
                wrong.append(key)
        assert not wrong, f"get gave wrong values for {show(wrong)}"
