"""Day 1 visible tests: what a block must do. Run with ``pytest days/day1``."""

from __future__ import annotations

import pytest

from checker.grading.isolation.engine import engine_for_this_test
from tinylsm.block import Block, BlockBuilder, BlockIterator
from tinylsm.errors import CorruptionError
from tinylsm.testkit import collect, options_for_day, show

ENTRY_OVERHEAD = 9 + 2  # the entry header, plus the entry's offset in the trailer


def build(entries: list[tuple[bytes, bytes | None]], block_size: int = 4096) -> Block:
    builder = BlockBuilder(options_for_day(1, block_size=block_size))
    for key, value in entries:
        assert builder.add(key, value), f"add({show(key)}, ...) returned False, but the block had room for it"
    return builder.build()


FRUIT = [(b"apple", b"red"), (b"banana", b"yellow"), (b"cherry", b"dark red"), (b"grape", b"green")]


def decoded_elsewhere(raw: bytes, *, verified: bool = False) -> list[tuple[bytes, bytes | None]]:
    """The entries of ``raw``, decoded by another process: it learns the block from these bytes alone."""
    block = engine_for_this_test().module("tinylsm.block")
    return collect(block.BlockIterator.create_and_seek_to_first(block.Block.decode(raw, verified=verified)))


@pytest.mark.day1_task1
def test_first_entry_is_accepted_even_when_larger_than_block() -> None:
    """The first entry of a block is accepted even when it alone is larger than block_size."""
    builder = BlockBuilder(options_for_day(1, block_size=64))
    accepted = builder.add(b"key", b"v" * 500)
    assert accepted, "the first entry of a block must be accepted even if it alone is larger than block_size"
    assert not builder.add(b"key2", b"v"), "after an oversized first entry the block is full: add must return False"


@pytest.mark.day1_task1
def test_add_returns_false_when_entry_does_not_fit() -> None:
    """add returns False when the entry and its offset do not fit in the block."""
    builder = BlockBuilder(options_for_day(1, block_size=64))
    assert builder.add(b"a", b"x" * 20)
    accepted = builder.add(b"b", b"y" * 40)
    assert not accepted, (
        "a 64-byte block holding one 30-byte entry has no room for a 50-byte entry (plus its offset): "
        f"expected add to return False, got {accepted!r}"
    )


@pytest.mark.day1_task1
def test_built_block_never_exceeds_block_size() -> None:
    """A built block never encodes to more than block_size bytes, and the size check is not too strict."""
    builder = BlockBuilder(options_for_day(1, block_size=256))
    count = 0
    while builder.add(b"key%05d" % count, b"value"):
        count += 1
    encoded = builder.build().encode()
    assert len(encoded) <= 256, (
        f"a block of block_size=256 holding {count} small entries encoded to {len(encoded)} bytes; "
        "the size check must count the offsets and the entry count too"
    )
    assert count >= 256 // (ENTRY_OVERHEAD + 13) - 1, f"only {count} entries fitted: the size check is too strict"


@pytest.mark.day1_task1
@pytest.mark.invariant
def test_new_builder_is_empty_until_an_entry_is_added() -> None:
    """A new builder is empty until an entry is added."""
    builder = BlockBuilder(options_for_day(1))
    assert builder.is_empty(), "a new builder must be empty"
    builder.add(b"k", b"v")
    assert not builder.is_empty(), "a builder with one entry must not be empty"


@pytest.mark.day1_task1
def test_building_an_empty_block_is_refused() -> None:
    """Building a block with no entry raises ValueError."""
    with pytest.raises(ValueError):
        BlockBuilder(options_for_day(1)).build()


@pytest.mark.day1_task2
def test_encode_then_decode_keeps_every_entry_in_order() -> None:
    """decode(encode(block)) gives back every entry, in order."""
    got = decoded_elsewhere(build(FRUIT).encode())
    assert got == FRUIT, f"decode(encode(block)) should give back {show(FRUIT)}, got {show(got)}"


@pytest.mark.day1_task2
def test_tombstone_and_empty_value_stay_distinct() -> None:
    """A tombstone (None) and an empty value (b'') survive encoding as themselves."""
    entries = [(b"deleted", None), (b"empty", b"")]
    got = decoded_elsewhere(build(entries).encode())
    assert got == entries, (
        f"a tombstone (value None) and an empty value (b'') must survive encoding as themselves: got {show(got)}"
    )


@pytest.mark.day1_task2
def test_decode_of_garbage_raises_corruption_error() -> None:
    """Decoding garbage raises CorruptionError."""
    with pytest.raises(CorruptionError):
        Block.decode(b"\xff\xff")


@pytest.mark.day1_task2
def test_a_verified_decode_gives_the_same_entries_and_still_checks_the_count() -> None:
    """decode(raw, verified=True) gives the same entries and still refuses an impossible count."""
    got = decoded_elsewhere(build(FRUIT).encode(), verified=True)
    assert got == FRUIT, f"decode(raw, verified=True) should give back {show(FRUIT)}, got {show(got)}"
    with pytest.raises(CorruptionError):
        Block.decode(b"\xff\xff", verified=True)  # a checksum cannot make an impossible count possible


@pytest.mark.day1_task2
def test_unpack_keys_lists_every_key_in_order() -> None:
    """unpack_keys fills block.keys with every key in order, tombstones' keys included, and the entries stay."""
    entries = [*FRUIT[:2], (b"cherry", None), *FRUIT[3:]]
    elsewhere = engine_for_this_test().module("tinylsm.block")  # a process that knows the block by its bytes alone
    block = elsewhere.Block.decode(build(entries).encode())
    assert block.keys is None, (
        f"a decoded block holds its entries as bytes: block.keys should be None, got {block.keys!r:.80}"
    )
    block.unpack_keys()
    want = [key for key, _ in entries]
    assert block.keys == want, f"after unpack_keys, block.keys should be {show(want)}, got {show(block.keys)}"
    got = collect(elsewhere.BlockIterator.create_and_seek_to_first(block))
    for index, (want_entry, got_entry) in enumerate(zip(entries, got, strict=False)):
        assert got_entry == want_entry, (
            f"an unpacked block should still iterate as before: entry {index} should be {show(want_entry)}, "
            f"got {show(got_entry)}"
        )
    assert len(got) == len(entries), f"an unpacked block should still iterate {len(entries)} entries, got {len(got)}"


@pytest.mark.day1_task2
def test_entries_lists_every_entry_in_order() -> None:
    """entries() gives every (key, value) in order: None for a tombstone, b"" for an empty value."""
    entries = [(b"apple", b"red"), (b"banana", b""), (b"cherry", None), (b"grape", b"green")]
    elsewhere = engine_for_this_test().module("tinylsm.block")  # a process that knows the block by its bytes alone
    got = elsewhere.Block.decode(build(entries).encode()).entries()
    for index, (want_entry, got_entry) in enumerate(zip(entries, got, strict=False)):
        assert got_entry == want_entry, (
            f"entries() of a decoded block: entry {index} should be {show(want_entry)}, got {show(got_entry)} "
            "(a tombstone's value is None, an empty value is b'')"
        )
    assert len(got) == len(entries), f"entries() should list the block's {len(entries)} entries, got {len(got)}"


@pytest.mark.day1_task3
def test_iterating_from_first_visits_keys_in_ascending_order() -> None:
    """Iterating from the first entry visits the keys in ascending order, then is invalid."""
    iterator = BlockIterator.create_and_seek_to_first(build(FRUIT))
    keys = [key for key, _ in collect(iterator)]
    assert keys == [k for k, _ in FRUIT], f"expected keys {show([k for k, _ in FRUIT])}, got {show(keys)}"
    assert not iterator.is_valid(), "after the last entry the iterator must be invalid"


@pytest.mark.day1_task3
def test_seek_to_existing_key_lands_on_it() -> None:
    """seek_to_key on a key the block holds lands on it."""
    iterator = BlockIterator.create_and_seek_to_key(build(FRUIT), b"cherry")
    assert iterator.is_valid(), "seek_to_key(b'cherry') in a block that holds b'cherry' must be valid"
    assert (iterator.key(), iterator.value()) == (b"cherry", b"dark red"), (
        "seek_to_key(b'cherry') should land on (b'cherry', b'dark red'), "
        f"got ({iterator.key()!r}, {iterator.value()!r})"
    )


@pytest.mark.day1_task3
def test_seek_to_key_between_entries_lands_on_next_key() -> None:
    """seek_to_key between two keys lands on the next key."""
    iterator = BlockIterator.create_and_seek_to_key(build(FRUIT), b"blueberry")
    assert iterator.is_valid() and iterator.key() == b"cherry", (
        "seek_to_key(b'blueberry') should land on the first key >= it, b'cherry'; "
        f"got {iterator.key() if iterator.is_valid() else 'an invalid iterator'!r}"
    )


@pytest.mark.day1_task3
def test_seek_before_first_key_lands_on_first_key() -> None:
    """seek_to_key before the first key lands on the first key."""
    iterator = BlockIterator.create_and_seek_to_key(build(FRUIT), b"a")
    assert iterator.is_valid() and iterator.key() == b"apple", "seek_to_key(b'a') should land on b'apple'"


@pytest.mark.day1_task3
@pytest.mark.invariant
def test_seek_past_last_key_makes_iterator_invalid() -> None:
    """seek_to_key past the last key leaves the iterator invalid."""
    iterator = BlockIterator.create_and_seek_to_key(build(FRUIT), b"zucchini")
    assert not iterator.is_valid(), "seek_to_key past the last key must leave the iterator invalid"


@pytest.mark.day1_task3
def test_seek_to_first_after_the_end_starts_over() -> None:
    """seek_to_first after the end starts over at the first key."""
    iterator = BlockIterator.create_and_seek_to_key(build(FRUIT), b"zucchini")
    iterator.seek_to_first()
    assert iterator.is_valid() and iterator.key() == b"apple", "seek_to_first must return to b'apple'"


@pytest.mark.day1_task3
def test_an_iterator_over_an_unpacked_block_searches_its_key_list() -> None:
    """On a block whose keys are unpacked, the iterator bisects block.keys and takes each key from it."""
    block = build(FRUIT)
    block.unpack_keys()
    # The test swaps in keys that differ from the bytes, so only an iterator reading the list sees them.
    block.keys = [key + b"!" for key, _ in FRUIT]
    iterator = BlockIterator.create_and_seek_to_key(block, b"banana!")
    got = collect(iterator)
    want = [(key + b"!", value) for key, value in FRUIT[1:]]
    assert got == want, (
        "after unpack_keys, seek_to_key and next must use block.keys instead of decoding keys from the bytes "
        f"again (values still come from the bytes): expected {show(want)}, got {show(got)}"
    )
