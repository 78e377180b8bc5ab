"""Day 1 hidden tests: edges, the pinned format, damaged input and properties."""

from __future__ import annotations

import struct
from bisect import bisect_left

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker.grading.isolation.engine import engine_for_this_test
from tinylsm.block import Block, BlockBuilder, BlockIterator
from tinylsm.errors import CorruptionError
from tinylsm.options import MAX_KEY_SIZE
from tinylsm.testkit import collect, options_for_day, show

keys = st.binary(min_size=1, max_size=24)
values = st.none() | st.binary(max_size=40)
sorted_entries = st.dictionaries(keys, values, min_size=1, max_size=60).map(lambda d: sorted(d.items()))


def build_all(entries: list[tuple[bytes, bytes | None]], block_size: int = 65536) -> Block:
    builder = BlockBuilder(options_for_day(1, block_size=block_size))
    for key, value in entries:
        assert builder.add(key, value), "a block refused an entry although it had room for it"
    return builder.build()


def round_trip(entries: list[tuple[bytes, bytes | None]]) -> list[tuple[bytes, bytes | None]]:
    """The entries of a block built, encoded, then decoded by another process, which has nothing but the bytes."""
    raw = build_all(entries).encode()
    block = engine_for_this_test().module("tinylsm.block")
    return collect(block.BlockIterator.create_and_seek_to_first(block.Block.decode(raw)))


def entry(overlap: int, rest: bytes, value: bytes | None) -> bytes:
    kind, payload = (1, b"") if value is None else (0, value)
    return struct.pack("<HHBI", overlap, len(rest), kind, len(payload)) + rest + payload


@pytest.mark.day1_task1
def test_entry_that_fills_the_block_exactly_is_accepted() -> None:
    """An entry that makes the encoded block exactly block_size bytes long was refused."""
    first, second = (b"a", b"1"), (b"b", b"22")
    # entries 11 + 12 bytes, two offsets, the count: 23 + 4 + 2 = 29 bytes
    builder = BlockBuilder(options_for_day(1, block_size=29))
    builder.add(*first)
    assert builder.add(*second), "an entry that fits exactly (encoded size == block_size) must be accepted"
    assert len(builder.build().encode()) == 29, "the exact-fit block should encode to exactly block_size bytes"


@pytest.mark.day1_task1
@pytest.mark.invariant
def test_entry_one_byte_too_large_is_refused() -> None:
    """An entry one byte larger than the room left in the block was accepted."""
    builder = BlockBuilder(options_for_day(1, block_size=28))
    builder.add(b"a", b"1")
    assert not builder.add(b"b", b"22"), "a block must refuse an entry that would make it one byte too large"


@pytest.mark.day1_task1
def test_key_longer_than_the_limit_is_refused() -> None:
    """A key longer than 65,535 bytes was not refused with a ValueError."""
    builder = BlockBuilder(options_for_day(1))
    with pytest.raises(ValueError):
        builder.add(b"k" * (MAX_KEY_SIZE + 1), b"v")
    with pytest.raises(ValueError):
        builder.add(b"", b"v")


@pytest.mark.day1_task1
def test_keys_added_out_of_order_are_refused() -> None:
    """A block accepted a key smaller than (or equal to) the key before it, or called it full instead of refusing it."""
    builder = BlockBuilder(options_for_day(1))
    builder.add(b"m", b"1")
    with pytest.raises(ValueError):
        builder.add(b"c", b"2")
    with pytest.raises(ValueError):
        builder.add(b"m", b"3")
    full = BlockBuilder(options_for_day(1, block_size=32))
    assert full.add(b"m", b"x" * 10), "the first entry of an empty block must be accepted, whatever its size"
    with pytest.raises(ValueError):
        full.add(b"c", b"y" * 64)  # too large to fit as well: the key order is checked all the same


@pytest.mark.day1_task1
@given(sorted_entries, st.integers(min_value=16, max_value=512))
def test_estimated_size_is_the_encoded_size(entries: list[tuple[bytes, bytes | None]], block_size: int) -> None:
    """estimated_size() differed from the length of the encoded block, or a block grew past block_size."""
    builder = BlockBuilder(options_for_day(1, block_size=block_size))
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


@pytest.mark.day1_task2
def test_golden_bytes_of_a_two_entry_block() -> None:
    """The block's bytes on disk do not follow the pinned format (little-endian, 9-byte entry header)."""
    encoded = build_all([(b"a", b"1"), (b"b", None)]).encode()
    expected = bytes.fromhex(
        "".join(
            [
                "0000 0100 00 01000000 61 31",  # entry 0: overlap 0, key 1 byte, value of 1 byte, 'a', '1'
                "0000 0100 01 00000000 62",  # entry 1: overlap 0, key 1 byte, tombstone, no value, 'b'
                "0000 0b00",  # offsets 0 and 11
                "0200",  # two entries
            ]
        )
    )
    assert encoded == expected, f"expected {expected.hex(' ')}\n     got {encoded.hex(' ')}"


@pytest.mark.day1_task2
def test_decode_takes_the_shared_prefix_from_the_first_key() -> None:
    """A key stored with a shared prefix (key_overlap > 0) was not rebuilt from the block's first key."""
    data = entry(0, b"user:1", b"x") + entry(5, b"2", b"y") + entry(4, b"~", None)
    raw = data + struct.pack("<3H", 0, 16, 27) + struct.pack("<H", 3)
    got = collect(BlockIterator.create_and_seek_to_first(Block.decode(raw)))
    want = [(b"user:1", b"x"), (b"user:2", b"y"), (b"user~", None)]
    assert got == want, f"expected {show(want)}, got {show(got)}"


@pytest.mark.day1_task2
def test_bytes_before_the_first_entry_are_detected() -> None:
    """A block whose first offset is not 0 (stray bytes before the first entry) was accepted."""
    data = b"\x00\x00" + entry(0, b"user:1", b"x") + entry(5, b"2", b"y")
    raw = data + struct.pack("<2H", 2, 18) + struct.pack("<H", 2)
    with pytest.raises(CorruptionError):
        Block.decode(raw)


@pytest.mark.day1_task2
def test_keys_out_of_order_are_detected() -> None:
    """A block whose stored keys are not in ascending order was accepted, so seeks in it would go wrong."""
    data = entry(0, b"b", b"1") + entry(0, b"a", b"2")
    raw = data + struct.pack("<2H", 0, 11) + struct.pack("<H", 2)
    with pytest.raises(CorruptionError):
        Block.decode(raw)


@pytest.mark.day1_task2
@pytest.mark.invariant
def test_every_truncation_of_a_block_is_detected() -> None:
    """Decoding a block cut short at some length did not raise CorruptionError."""
    encoded = build_all([(b"apple", b"red"), (b"banana", None), (b"cherry", b"")]).encode()
    for length in range(len(encoded)):
        try:
            block = Block.decode(encoded[:length])
        except CorruptionError:
            continue
        got = collect(BlockIterator.create_and_seek_to_first(block))
        pytest.fail(f"decode of the first {length} of {len(encoded)} bytes was accepted and gave {show(got)}")


@pytest.mark.day1_task2
@given(st.binary(max_size=80))
@pytest.mark.invariant
def test_garbage_raises_only_corruption_error(raw: bytes) -> None:
    """Decoding garbage raised something other than CorruptionError (e.g. struct.error or IndexError)."""
    try:
        block = Block.decode(raw)
    except CorruptionError:
        return
    collect(BlockIterator.create_and_seek_to_first(block))


@pytest.mark.day1_task2
@given(sorted_entries)
def test_round_trip_keeps_any_sorted_entries(entries: list[tuple[bytes, bytes | None]]) -> None:
    """Some set of entries did not survive encode and decode unchanged."""
    got = round_trip(entries)
    assert got == entries, f"expected {show(entries)}, got {show(got)}"


@pytest.mark.day1_task2
def test_binary_keys_with_zero_and_ff_bytes_round_trip() -> None:
    """Keys made of 0x00 and 0xff bytes were mangled or misordered."""
    entries = [(b"\x00", b"zero"), (b"\x00\x00", b""), (b"\x00\xff", None), (b"\xff", b"\x00"), (b"\xff\xff", b"\xff")]
    assert round_trip(entries) == entries, f"expected {show(entries)}, got {show(round_trip(entries))}"


@pytest.mark.day1_task2
def test_longest_key_and_a_large_value_round_trip() -> None:
    """A key of the maximum length (65,535 bytes) or a 1 MiB value did not survive a block."""
    entries = [(b"k" * MAX_KEY_SIZE, b"v" * (1 << 20))]
    got = round_trip(entries)
    assert got == entries, "the longest key with a 1 MiB value came back different"


@pytest.mark.day1_task3
@given(sorted_entries, keys)
def test_seek_lands_on_first_key_at_or_after_target(entries: list[tuple[bytes, bytes | None]], target: bytes) -> None:
    """seek_to_key did not land on the first key >= the target."""
    iterator = BlockIterator.create_and_seek_to_key(build_all(entries), target)
    index = bisect_left([k for k, _ in entries], target)
    want = entries[index:]
    got = collect(iterator)
    assert got == want, f"seek_to_key({target!r}) then iterating should give {show(want)}, got {show(got)}"


@pytest.mark.day1_task3
@given(sorted_entries)
def test_seek_to_every_present_key_finds_its_value(entries: list[tuple[bytes, bytes | None]]) -> None:
    """Seeking to a key that is in the block did not land on it with its value."""
    block = build_all(entries)
    iterator = BlockIterator(block)
    for key, value in entries:
        iterator.seek_to_key(key)
        assert iterator.is_valid() and (iterator.key(), iterator.value()) == (key, value), (
            f"seek_to_key({key!r}) should give ({key!r}, {value!r})"
        )


@pytest.mark.day1_task3
@pytest.mark.invariant
def test_new_iterator_is_not_valid_until_positioned() -> None:
    """An iterator made with BlockIterator(block) claimed to be on an entry before any seek."""
    assert not BlockIterator(build_all([(b"a", b"1")])).is_valid(), "a fresh BlockIterator must not be valid"


@pytest.mark.day1_task3
def test_single_entry_block_seeks_both_ways() -> None:
    """Seeking in a block of one entry landed wrongly."""
    block = build_all([(b"m", b"only")])
    assert BlockIterator.create_and_seek_to_key(block, b"a").key() == b"m", "seek before the only key must land on it"
    assert not BlockIterator.create_and_seek_to_key(block, b"n").is_valid(), "seek after the only key must be invalid"


@pytest.mark.day1_task2
def test_an_entry_with_an_empty_key_is_corruption() -> None:
    """A block whose first entry has an empty key was decoded without CorruptionError (keys are never empty)."""
    entry = struct.pack("<HHBI", 0, 0, 0, 1) + b"x"  # overlap 0, no key byte, a value
    with pytest.raises(CorruptionError):
        Block.decode(entry + struct.pack("<HH", 0, 1))
        pytest.fail("an entry of 0 key bytes (overlap 0 and rest 0) must be refused: a key has at least one byte")


@pytest.mark.day1_task1
def test_built_block_does_not_change_when_the_builder_goes_on() -> None:
    """A block returned by build() changed when more entries were added to the builder afterwards."""
    builder = BlockBuilder(options_for_day(1))
    builder.add(b"a", b"1")
    block = builder.build()
    before = block.encode()
    assert builder.add(b"b", b"2"), "the builder refused a small second entry although it had room for it"
    assert len(block) == 1, f"build() was called after one entry, so its block holds 1 entry; it now has {len(block)}"
    after = block.encode()
    assert after == before, (
        f"a built block must not change: it encoded to {before.hex(' ')}, then after another add() to {after.hex(' ')}"
    )


@pytest.mark.day1_task3
@given(sorted_entries)
def test_seek_to_every_key_of_an_unpacked_block_finds_its_value(entries: list[tuple[bytes, bytes | None]]) -> None:
    """In a block whose keys are unpacked, seeking to a key the block holds did not land on it with its value."""
    block = build_all(entries)
    block.unpack_keys()
    iterator = BlockIterator(block)
    for key, value in entries:
        iterator.seek_to_key(key)
        got = (iterator.key(), iterator.value()) if iterator.is_valid() else "an invalid iterator"
        assert got == (key, value), (
            f"after unpack_keys, seek_to_key({key!r}) should give ({key!r}, {value!r}), got {got!r:.120}"
        )


@pytest.mark.day1_task2
def test_unpack_keys_again_leaves_the_list_as_it_is() -> None:
    """unpack_keys on a block whose keys are already unpacked decoded them again (it should do nothing)."""
    block = build_all([(b"a", b"1"), (b"b", None), (b"c", b"3")])
    block.unpack_keys()
    assert block.keys == [b"a", b"b", b"c"], (
        f"unpack_keys should list the keys [b'a', b'b', b'c'], got {show(block.keys)}"
    )
    # A list other than the bytes' keys shows whether the second call rebuilt it.
    block.keys = [b"a", b"b", b"c2"]
    block.unpack_keys()
    assert block.keys == [b"a", b"b", b"c2"], (
        "a block's keys are unpacked once: a second unpack_keys must leave block.keys as it is (a block shared by "
        f"many readers is unpacked once, not once per reader), got {show(block.keys)}"
    )
