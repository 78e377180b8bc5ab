"""Day 1 hidden tests: blocks under the options of later days, and damage the entry walk must find.

Day 7's prefix compression stores each key after a block's first as ``key_overlap``
(the bytes it shares with the first key) and the rest; day 7's checksums make a
reader decode blocks as ``verified``. Both run through day 1's code, so they are
checked here, with the later days' options switched on.
"""

from __future__ import annotations

import struct
from bisect import bisect_left

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker.grading.isolation.engine import engine_for_this_test
from tinylsm.block import Block, BlockBuilder, BlockIterator
from tinylsm.errors import CorruptionError
from tinylsm.testkit import collect, options_for_day, show

Entries = list[tuple[bytes, bytes | None]]

# Keys that share prefixes of every length with each other and with a block's first key.
prefixes = st.sampled_from([b"", b"a", b"ab", b"user:", b"user:0", b"user:01"])
suffixes = st.binary(max_size=3) | st.sampled_from([b"", b"0", b"1", b"10", b":", b"~"])
shared_keys = st.builds(lambda prefix, suffix: prefix + suffix, prefixes, suffixes).filter(bool)
values = st.none() | st.binary(max_size=12)
shared_entries = st.dictionaries(shared_keys, values, min_size=1, max_size=40).map(lambda d: sorted(d.items()))


def compressed_options(block_size: int = 65536):
    return options_for_day(1, block_size=block_size, prefix_compression=True)


def build_all(entries: Entries, *, prefix_compression: bool = True) -> Block:
    builder = BlockBuilder(options_for_day(1, block_size=65536, prefix_compression=prefix_compression))
    for key, value in entries:
        assert builder.add(key, value), "a block refused an entry although it had room for it"
    return builder.build()


def entry(overlap: int, rest: bytes, value: bytes | None, *, kind: int | None = None) -> bytes:
    stored_kind, payload = (1, b"") if value is None else (0, value)
    kind = stored_kind if kind is None else kind
    return struct.pack("<HHBI", overlap, len(rest), kind, len(payload)) + rest + payload


def raw_block(*entries: bytes) -> bytes:
    offsets, position = [], 0
    for one in entries:
        offsets.append(position)
        position += len(one)
    return b"".join(entries) + struct.pack(f"<{len(offsets)}H", *offsets) + struct.pack("<H", len(offsets))


def stored_overlaps(encoded: bytes) -> list[int]:
    """The key_overlap field of every entry, read from the bytes as the format table places them."""
    (count,) = struct.unpack_from("<H", encoded, len(encoded) - 2)
    offsets = struct.unpack_from(f"<{count}H", encoded, len(encoded) - 2 - 2 * count)
    return [struct.unpack_from("<H", encoded, offset)[0] for offset in offsets]


@pytest.mark.day1_task1
def test_prefix_compressed_block_stores_the_prefix_shared_with_the_first_key() -> None:
    """With prefix compression on, key_overlap was not the prefix each key shares with the block's first key."""
    entries: Entries = [(b"ab", b"1"), (b"abc", b"2"), (b"abcd", b"3"), (b"abd", None), (b"b", b"5")]
    encoded = build_all(entries).encode()
    # vs the first key b"ab": 2 bytes for b"abc", b"abcd" and b"abd", none for b"b"
    want = [0, 2, 2, 2, 0]
    got = stored_overlaps(encoded)
    assert got == want, f"expected key_overlap {want} (shared with the first key, not the previous), got {got}"
    back = collect(BlockIterator.create_and_seek_to_first(Block.decode(encoded)))
    assert back == entries, f"expected {show(entries)}, got {show(back)}"


@pytest.mark.day1_task1
def test_prefix_compressed_entry_that_fills_the_block_exactly_is_accepted() -> None:
    """With prefix compression on, the size check counted the whole key instead of the stored rest."""
    # entry 0: 9 + 6 + 1 = 16 bytes; entry 1 stores b"2" after 5 shared bytes: 9 + 1 + 1 = 11 bytes;
    # two offsets and the count: 16 + 11 + 4 + 2 = 33 bytes
    builder = BlockBuilder(compressed_options(block_size=33))
    builder.add(b"user:1", b"x")
    accepted = builder.add(b"user:2", b"y")
    assert accepted, "an entry whose stored rest fits exactly (encoded size == block_size) must be accepted"
    size = len(builder.build().encode())
    assert builder.estimated_size() == size == 33, (
        f"expected estimated_size() == encoded size == 33, got {builder.estimated_size()} and {size}"
    )


@pytest.mark.day1_task1
@given(shared_entries, st.integers(min_value=16, max_value=300))
def test_prefix_compressed_size_estimate_is_the_encoded_size(entries: Entries, block_size: int) -> None:
    """With prefix compression on, estimated_size() differed from the encoded size, or a block grew past block_size."""
    builder = BlockBuilder(compressed_options(block_size))
    added = 0
    for key, value in entries:
        if not builder.add(key, value):
            break
        added += 1
    encoded = builder.build().encode()
    assert builder.estimated_size() == len(encoded), (
        f"estimated_size() said {builder.estimated_size()}, encode() wrote {len(encoded)} bytes"
    )
    assert added == 1 or len(encoded) <= block_size, f"{added} entries made a {len(encoded)}-byte block of {block_size}"
    plain = build_all(entries[:added], prefix_compression=False).encode()
    assert len(encoded) <= len(plain), f"prefix compression made the block larger: {len(encoded)} > {len(plain)} bytes"


@pytest.mark.day1_task2
@given(shared_entries)
def test_prefix_compressed_block_round_trips(entries: Entries) -> None:
    """A block written with prefix compression on did not decode to the entries it was built from."""
    encoded = build_all(entries).encode()
    block_module = engine_for_this_test().module("tinylsm.block")  # it knows the block from its bytes alone
    for verified in (False, True):
        block = block_module.Block.decode(encoded, verified=verified)
        got = collect(block_module.BlockIterator.create_and_seek_to_first(block))
        assert got == entries, f"decode(verified={verified}) gave {show(got)}, expected {show(entries)}"
        assert len(block) == len(entries), f"len(block) should be {len(entries)}, got {len(block)}"
        assert block.encode() == encoded, f"decode then encode (verified={verified}) changed the block's bytes"


@pytest.mark.day1_task2
def test_entry_that_does_not_end_where_the_next_begins_is_detected() -> None:
    """A block whose entry lengths disagree with its offsets was accepted."""
    first = entry(0, b"a", b"1")
    raw = raw_block(first[:-1] + b"\x00\x00", entry(0, b"b", b"2"))  # entry 0 has a byte the header does not name
    with pytest.raises(CorruptionError):
        Block.decode(raw)


@pytest.mark.day1_task2
@pytest.mark.parametrize(
    "entries",
    [
        pytest.param((entry(0, b"ab", b"1"), entry(3, b"c", b"2")), id="overlap-longer-than-first-key"),
        pytest.param(
            (entry(0, b"a", b"1"), entry(0, b"bcd", b"2"), entry(2, b"z", b"3")),
            id="overlap-longer-than-first-key-after-a-longer-key",
        ),
        pytest.param(
            (entry(0, b"ab", b"1"), entry(0, b"b", b"2"), entry(1, b"c", b"3")),
            id="overlap-rebuilt-from-first-key-out-of-order",
        ),
        pytest.param((entry(1, b"ab", b"1"), entry(0, b"b", b"2")), id="first-entry-with-overlap"),
        pytest.param((entry(0, b"a", b"1"), entry(0, b"", b"2")), id="empty-key"),
        pytest.param((entry(0, b"a", b"1"), entry(0, b"b", b"2", kind=2)), id="unknown-kind"),
        pytest.param((entry(0, b"a", b"1"), entry(0, b"b", b"2", kind=1)), id="tombstone-with-a-value"),
        pytest.param((entry(0, b"0z", b"1"), entry(1, b"a", b"2")), id="shared-prefix-key-out-of-order"),
    ],
)
def test_impossible_entries_are_detected(entries: tuple[bytes, ...]) -> None:
    """A block with an impossible entry (key length, kind, or a prefix-compressed key out of order) was accepted."""
    raw = raw_block(*entries)
    try:
        block = Block.decode(raw)
    except CorruptionError:
        return
    got = collect(BlockIterator.create_and_seek_to_first(block))
    pytest.fail(f"expected CorruptionError, decode accepted {raw.hex(' ')} and gave {show(got)}")


@pytest.mark.day1_task3
@given(shared_entries, st.lists(shared_keys, min_size=1, max_size=8))
def test_seek_in_a_prefix_compressed_block_lands_on_first_key_at_or_after_target(
    entries: Entries, targets: list[bytes]
) -> None:
    """With prefix compression on, seek_to_key did not land on the first key >= the target."""
    keys = [key for key, _ in entries]
    iterator = BlockIterator(build_all(entries))
    for target in targets + keys:
        iterator.seek_to_key(target)
        index = bisect_left(keys, target)
        want = entries[index] if index < len(entries) else None
        got = (iterator.key(), iterator.value()) if iterator.is_valid() else None
        assert got == want, f"seek_to_key({target!r}) should land on {show(want)}, got {show(got)}"


@pytest.mark.day1_task3
def test_seek_compares_whole_keys_not_their_stored_rest() -> None:
    """With prefix compression on, seek_to_key compared the stored rest of a key instead of the whole key."""
    entries: Entries = [(b"user:%03d" % i, b"v%d" % i) for i in range(0, 100, 7)] + [(b"zebra", b"z")]
    block = build_all(entries)
    keys = [key for key, _ in entries]
    for target in [b"user:", b"user:050", b"user:098", b"user:1", b"v", b"zebra", b"zz"]:
        index = bisect_left(keys, target)
        want = keys[index:]
        got = [key for key, _ in collect(BlockIterator.create_and_seek_to_key(block, target))]
        assert got == want, f"seek_to_key({target!r}) then iterating should give {show(want)}, got {show(got)}"


@pytest.mark.day1_task3
@pytest.mark.invariant
def test_a_block_iterator_counts_as_one_iterator() -> None:
    """num_active_iterators() of a block iterator was not 1."""
    got = BlockIterator.create_and_seek_to_first(build_all([(b"a", b"1")])).num_active_iterators()
    assert got == 1, f"expected 1, got {got}"


@pytest.mark.day1_task2
@given(shared_entries)
def test_unpacked_keys_of_a_prefix_compressed_block_are_whole_keys(entries: Entries) -> None:
    """unpack_keys on a prefix-compressed block did not rebuild each key from the first key's prefix."""
    block = engine_for_this_test().module("tinylsm.block").Block.decode(build_all(entries).encode())
    block.unpack_keys()
    want = [key for key, _ in entries]
    assert block.keys == want, (
        "each key after a block's first is stored as the prefix it shares with the first key plus the rest: "
        f"unpack_keys should give {show(want)}, got {show(block.keys)}"
    )


@pytest.mark.day1_task2
@given(shared_entries)
def test_entries_of_a_prefix_compressed_block_are_whole(entries: Entries) -> None:
    """entries() of a prefix-compressed block did not give every whole key with its value, in order."""
    got = engine_for_this_test().module("tinylsm.block").Block.decode(build_all(entries).encode()).entries()
    assert got == entries, (
        "each key after a block's first is stored as the prefix it shares with the first key plus the rest, and a "
        f"tombstone's value is None: entries() should give {show(entries)}, got {show(got)}"
    )


@pytest.mark.day1_task3
@given(shared_entries, shared_keys)
def test_seek_in_an_unpacked_prefix_compressed_block_lands_on_first_key_at_or_after_target(
    entries: Entries, target: bytes
) -> None:
    """seek_to_key in a prefix-compressed block whose keys are unpacked did not land on the first key >= the target."""
    block = build_all(entries)
    block.unpack_keys()
    want = entries[bisect_left([key for key, _ in entries], target) :]
    got = collect(BlockIterator.create_and_seek_to_key(block, target))
    assert got == want, (
        f"after unpack_keys, seek_to_key({target!r}) then iterating should give {show(want)}, got {show(got)}"
    )
