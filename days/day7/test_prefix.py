"""Day 7 visible tests, task 2: prefix key compression. Run with ``pytest days/day7 -m day7_task2``.

Day 1's blocks call ``shared_prefix_length`` when ``options.prefix_compression`` is on
(``options_for_day(7)``), and not at all when it is off (``options_for_day(6)``): the
same entries must read back the same either way.
"""

from __future__ import annotations

import pytest

from tinylsm.block import Block, BlockIterator
from tinylsm.prefix import shared_prefix_length
from tinylsm.testkit import collect, encoded_block, show

ADVERSARIAL_KEYS = sorted(
    {
        b"\x00",
        b"\x00\x00",
        b"\x00\x00\x00",
        b"\x00\x01",
        b"ab",
        b"ab\x00",
        b"ab\x00\x00",
        b"abc",
        b"abcd",
        b"abcdef",
        b"abd",
        b"ab\xff",
        b"ab\xff\xff",
        b"ab\xff\xff\xff",
        b"ab\xff\xff\xff\xff",
        b"b",
        b"user:000000000001",
        b"user:000000000002",
        b"user:000000000010",
        b"user:1",
        b"\xff",
        b"\xff\xff",
        b"\xff\xff\x00",
        b"\xff\xff\xff",
    }
)
"""Keys that are prefixes of one another, share long runs of 0x00 or 0xff, or share nothing."""


def read_back(raw: bytes) -> list[tuple[bytes, bytes | None]]:
    return collect(BlockIterator.create_and_seek_to_first(Block.decode(raw)))


def seek(raw: bytes, target: bytes) -> tuple[bytes, bytes | None] | None:
    iterator = BlockIterator.create_and_seek_to_key(Block.decode(raw), target)
    return (iterator.key(), iterator.value()) if iterator.is_valid() else None


@pytest.mark.day7_task2
@pytest.mark.parametrize(
    "first_key,key,expected",
    [
        (b"user:1001", b"user:1002", 8),  # the common prefix "user:100"
        (b"apple", b"banana", 0),  # nothing in common
        (b"ab", b"abcd", 2),  # the first key is a prefix of the key: all of it is shared
        (b"abcdef", b"abd", 2),  # the first key is longer than the key
        (b"abc", b"abc", 2),  # equal keys: capped at len(key) - 1, so one byte is stored
        (b"abcd", b"ab", 1),  # the key is a prefix of the first key: capped at len(key) - 1
        (b"\xff\xff\xff\x00", b"\xff\xff\xff\xff", 3),  # runs of 0xff
        (b"k", b"k", 0),  # a one-byte key always stores its byte
    ],
)
@pytest.mark.invariant
def test_shared_prefix_length_is_the_common_prefix_capped_below_the_key_length(
    first_key: bytes, key: bytes, expected: int
) -> None:
    """shared_prefix_length is the length of the two keys' common prefix, capped at len(key) - 1."""
    got = shared_prefix_length(first_key, key)
    assert got == expected, (
        f"shared_prefix_length({first_key!r}, {key!r}): expected {expected} (the common prefix, at most "
        f"len(key) - 1 so that key_rest is never empty), got {got}"
    )


@pytest.mark.day7_task2
@pytest.mark.invariant
def test_compressed_blocks_of_adversarial_keys_read_back_like_plain_ones() -> None:
    """A prefix-compressed block of tricky keys holds the same entries and answers seek_to_key like a plain one."""
    for start in range(len(ADVERSARIAL_KEYS)):
        # Each key in turn is the block's first key, the one the others share a prefix with.
        entries = [(key, None if index % 5 == 4 else b"v%d" % index) for index, key in enumerate(ADVERSARIAL_KEYS)]
        entries = entries[start:]
        plain, compressed = encoded_block(entries, day=6), encoded_block(entries, day=7)
        got = read_back(compressed)
        assert got == entries, f"block starting at {entries[0][0]!r}: expected {show(entries)}, got {show(got)}"
        targets = [b"", b"\x00\x00\x01", b"ab\x01", b"abce", b"ab\xff\xfe", b"user:", b"\xff\xff\xff\xff"]
        for target in [*targets, *(key for key, _ in entries)]:
            want, found = seek(plain, target), seek(compressed, target)
            assert found == want, (
                f"block starting at {entries[0][0]!r}: seek_to_key({target!r}) should land on {show(want)} "
                f"as in the uncompressed block, got {show(found)}"
            )


@pytest.mark.day7_task2
def test_prefix_heavy_keys_make_the_block_smaller_by_the_shared_bytes() -> None:
    """Prefix compression shrinks a block by exactly the shared prefix bytes, and the block reads back whole."""
    entries = [(b"user:%012d" % number, b"v") for number in range(100)]
    plain, compressed = encoded_block(entries, day=6), encoded_block(entries, day=7)
    # Uncompressed, each entry is 9 (header) + 17 (key) + 1 (value) = 27 bytes, plus 2 for its offset,
    # and the count takes 2: 100 * 29 + 2 = 2902 bytes. Compressed, every key after the first
    # shares with b"user:000000000000" all but its last 1 (keys 1-9) or 2 (keys 10-99) bytes, so
    # keys 1-9 save 16 bytes each and keys 10-99 save 15: 9 * 16 + 90 * 15 = 1494 bytes saved,
    # and the block is 2902 - 1494 = 1408 bytes, 48.5% of the uncompressed size.
    assert len(plain) == 2902, f"the uncompressed block should be 2902 bytes, got {len(plain)}"
    assert len(compressed) == 1408, (
        f"with prefix compression the block of 100 keys b'user:%012d' should be 1408 bytes "
        f"(1494 bytes of shared prefixes not stored), got {len(compressed)}"
    )
    assert read_back(compressed) == entries, "the compressed block does not read back its 100 entries"
