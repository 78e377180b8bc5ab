"""Day 2 visible tests: what an SST must do. Run with ``pytest days/day2``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinylsm.errors import CorruptionError
from tinylsm.files import sst_path
from tinylsm.sstable import SsTable, SsTableBuilder, SsTableIterator
from tinylsm.testkit import collect, options_for_day, show

# Twenty entries k000, k010, ..., k190 with 4-byte values. Each entry takes 17 bytes
# plus its 2-byte offset, so a 100-byte block holds five of them: block i holds
# k{5i}0 .. k{5i+4}0, and a key such as k045 lies between two blocks.
ENTRIES = [(b"k%03d" % (10 * i), b"v%03d" % i) for i in range(20)]
BLOCK_SIZE = 100


def build_table(
    directory: Path, entries: list[tuple[bytes, bytes | None]] = ENTRIES, block_size: int = BLOCK_SIZE, sst_id: int = 1
) -> SsTable:
    builder = SsTableBuilder(options_for_day(2, block_size=block_size))
    for key, value in entries:
        builder.add(key, value)
    return builder.build(sst_id, sst_path(directory, sst_id), None)


def reopen(table: SsTable) -> SsTable:
    table.close()
    return SsTable.open(table.id, table.path, None)


@pytest.mark.day2_task1
def test_builder_cuts_a_new_block_when_the_current_one_is_full(tmp_path: Path) -> None:
    """SsTableBuilder starts a new block when the current one is full, and no block exceeds block_size."""
    table = build_table(tmp_path)
    sizes = [meta.size for meta in table.block_meta]
    assert len(sizes) == 4, (
        f"20 entries of 19 bytes with block_size={BLOCK_SIZE} make 4 blocks of 5 entries; got {len(sizes)} blocks"
    )
    assert all(size <= BLOCK_SIZE for size in sizes), f"every block must fit in block_size={BLOCK_SIZE}: sizes {sizes}"


@pytest.mark.day2_task1
def test_block_meta_records_the_first_and_last_key_of_each_block(tmp_path: Path) -> None:
    """The block meta records the first and the last key of each block, in order."""
    table = build_table(tmp_path)
    got = [(meta.first_key, meta.last_key) for meta in table.block_meta]
    want = [(ENTRIES[5 * i][0], ENTRIES[5 * i + 4][0]) for i in range(4)]
    assert got == want, f"expected (first_key, last_key) per block {show(want)}, got {show(got)}"


@pytest.mark.day2_task1
def test_table_first_and_last_key_come_from_its_first_and_last_block(tmp_path: Path) -> None:
    """A table's first_key is its first block's first key, and its last_key its last block's last key."""
    table = build_table(tmp_path)
    got = (table.first_key, table.last_key)
    assert got == (b"k000", b"k190"), (
        "a table's first_key is the first key of its first block and its last_key the last key of its last "
        f"block: expected (b'k000', b'k190'), got {got!r}"
    )


@pytest.mark.day2_task1
def test_estimated_size_grows_as_entries_are_added(tmp_path: Path) -> None:
    """estimated_size grows as entries are added (is_empty until the first), and the file is no smaller than it."""
    builder = SsTableBuilder(options_for_day(2, block_size=BLOCK_SIZE))
    assert builder.is_empty(), "a new builder must be empty"
    sizes = []
    for key, value in ENTRIES:
        builder.add(key, value)
        sizes.append(builder.estimated_size())
    assert not builder.is_empty(), "a builder with entries must not be empty"
    assert sizes[0] > 0 and sizes == sorted(sizes) and sizes[-1] >= 20 * 19, (
        "estimated_size() must count the blocks written so far and the open block, so it grows with every "
        f"entry; got {show(sizes)}"
    )
    table = builder.build(1, sst_path(tmp_path, 1), None)
    assert table.size >= sizes[-1], f"the file ({table.size} bytes) is smaller than the estimate {sizes[-1]}"


@pytest.mark.day2_task1
def test_building_an_empty_table_is_refused(tmp_path: Path) -> None:
    """Building an SST with no entry raises ValueError."""
    with pytest.raises(ValueError):
        SsTableBuilder(options_for_day(2)).build(1, sst_path(tmp_path, 1), None)


@pytest.mark.day2_task2
def test_open_reads_back_the_block_index_the_builder_wrote(tmp_path: Path) -> None:
    """SsTable.open reads back the block meta, key range and number of blocks that the builder wrote."""
    built = build_table(tmp_path)
    written = list(built.block_meta)
    table = reopen(built)
    assert table.block_meta == written, f"open read the block meta {show(table.block_meta)}, expected {show(written)}"
    assert (table.first_key, table.last_key) == (b"k000", b"k190"), (
        f"an opened table should span b'k000'..b'k190', got {table.first_key!r}..{table.last_key!r}"
    )
    assert table.num_blocks() == 4, f"expected 4 blocks, got {table.num_blocks()}"


@pytest.mark.day2_task2
def test_open_reads_no_data_block(tmp_path: Path) -> None:
    """SsTable.open reads no data block, and each read_block call counts one block read."""
    table = reopen(build_table(tmp_path))
    assert table.counters.blocks_read == 0, (
        f"open must read only the footer, meta and filter; counters.blocks_read is {table.counters.blocks_read}"
    )
    table.read_block(2)
    assert table.counters.blocks_read == 1, (
        f"one read_block call must count one block read, got {table.counters.blocks_read}"
    )


@pytest.mark.day2_task2
def test_read_block_returns_the_entries_of_that_block(tmp_path: Path) -> None:
    """read_block(i) of a reopened table returns the entries of block i."""
    from tinylsm.block import BlockIterator

    table = reopen(build_table(tmp_path))
    got = collect(BlockIterator.create_and_seek_to_first(table.read_block(2)))
    assert got == ENTRIES[10:15], f"block 2 should hold {show(ENTRIES[10:15])}, got {show(got)}"


@pytest.mark.day2_task2
def test_find_block_idx_picks_the_first_block_whose_last_key_is_at_or_after_key(tmp_path: Path) -> None:
    """find_block_idx returns the first block whose last key is >= the key, or num_blocks() past the end."""
    table = build_table(tmp_path)
    cases = [(b"a", 0), (b"k000", 0), (b"k020", 0), (b"k040", 0), (b"k045", 1), (b"k050", 1), (b"k190", 3), (b"z", 4)]
    for key, expected in cases:
        got = table.find_block_idx(key)
        assert got == expected, (
            f"blocks end at b'k040', b'k090', b'k140', b'k190': find_block_idx({key!r}) should be {expected}, got {got}"
        )


@pytest.mark.day2_task2
def test_open_of_a_file_that_is_not_an_sst_raises_corruption_error(tmp_path: Path) -> None:
    """SsTable.open of a file that is not an SST raises CorruptionError naming the file."""
    path = sst_path(tmp_path, 7)
    path.write_bytes(b"this is not an SST, just some text that is long enough to hold a footer\n")
    with pytest.raises(CorruptionError) as caught:
        SsTable.open(7, path, None)
    assert "00007.sst" in str(caught.value), f"the error must name the file: got {str(caught.value)!r}"


@pytest.mark.day2_task3
def test_iterating_from_first_crosses_every_block_in_order(tmp_path: Path) -> None:
    """Iterating an SST from its first entry crosses every block in key order, then is invalid."""
    iterator = SsTableIterator.create_and_seek_to_first(reopen(build_table(tmp_path)))
    got = collect(iterator)
    assert got == ENTRIES, f"iterating the 4-block table should give {show(ENTRIES)}, got {show(got)}"
    assert not iterator.is_valid(), "after the last entry of the last block the iterator must be invalid"


@pytest.mark.day2_task3
def test_seek_to_key_between_blocks_lands_on_next_blocks_first_key(tmp_path: Path) -> None:
    """seek_to_key between two blocks lands on the next block's first key, and next goes on from there."""
    iterator = SsTableIterator.create_and_seek_to_key(build_table(tmp_path), b"k045")
    got = iterator.key() if iterator.is_valid() else "an invalid iterator"
    assert got == b"k050", (
        "b'k045' is after block 0's last key b'k040': seek_to_key should land on block 1's first key b'k050', "
        f"got {got!r}"
    )
    rest = collect(iterator)
    assert rest == ENTRIES[5:], f"iterating on from b'k050' should give {show(ENTRIES[5:])}, got {show(rest)}"


@pytest.mark.day2_task3
def test_seek_to_key_inside_a_block_lands_on_the_first_key_at_or_after_it(tmp_path: Path) -> None:
    """seek_to_key lands on the first key >= the target: the key itself, the next key, or the table's first key."""
    table = build_table(tmp_path)
    for target, want in [(b"k120", b"k120"), (b"k121", b"k130"), (b"a", b"k000")]:
        iterator = SsTableIterator.create_and_seek_to_key(table, target)
        got = iterator.key() if iterator.is_valid() else "an invalid iterator"
        assert got == want, f"seek_to_key({target!r}) should land on {want!r}, got {got!r}"


@pytest.mark.day2_task3
@pytest.mark.invariant
def test_seek_past_the_last_key_is_invalid(tmp_path: Path) -> None:
    """seek_to_key past the table's last key leaves the iterator invalid."""
    iterator = SsTableIterator.create_and_seek_to_key(build_table(tmp_path), b"k191")
    assert not iterator.is_valid(), "seek_to_key after the table's last key must leave the iterator invalid"
