"""Day 2 visible tests: the block cache. Run with ``pytest days/day2``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tinylsm.block import Block, BlockBuilder, BlockIterator
from tinylsm.block_cache import UNPACK_AFTER_HITS, BlockCache
from tinylsm.files import sst_path
from tinylsm.sstable import SsTable, SsTableBuilder, SsTableIterator
from tinylsm.testkit import collect, options_for_day, show

ENTRIES = [(b"k%03d" % (10 * i), b"v%03d" % i) for i in range(20)]  # 4 blocks of 5 at block_size=100


def build_table(directory: Path, cache: BlockCache, sst_id: int = 1) -> SsTable:
    builder = SsTableBuilder(options_for_day(2, block_size=100))
    for key, value in ENTRIES:
        builder.add(key, value)
    builder.build(sst_id, sst_path(directory, sst_id), None).close()
    return SsTable.open(sst_id, sst_path(directory, sst_id), cache)


def wipe(table: SsTable) -> None:
    """Overwrite the table's file with zeros, in place: from now on only the cache holds its blocks."""
    table.path.write_bytes(bytes(table.path.stat().st_size))


def one_entry_block(key: bytes, value: bytes) -> Block:
    builder = BlockBuilder(options_for_day(2))
    builder.add(key, value)
    return builder.build()


def counting_loader(block: Block) -> tuple[Callable[[], Block], list[int]]:
    """A ``load`` for ``get_or_load`` that returns ``block``, and the list it appends to at each call."""
    calls: list[int] = []

    def load() -> Block:
        calls.append(1)
        return block

    return load, calls


@pytest.mark.day2_task4
def test_second_read_of_a_block_is_a_cache_hit(tmp_path: Path) -> None:
    """A second read_block_cached of a block is a cache hit: one disk read, one miss and one hit counted."""
    cache = BlockCache(1 << 20)
    table = build_table(tmp_path, cache)
    assert table.counters is cache.counters, "a table given a block cache must count into cache.counters"
    first = collect(BlockIterator.create_and_seek_to_first(table.read_block_cached(1)))
    wipe(table)  # a hit does not read the disk, which now holds only zeros
    second = collect(BlockIterator.create_and_seek_to_first(table.read_block_cached(1)))
    assert first == second == ENTRIES[5:10], f"block 1 should hold {show(ENTRIES[5:10])}, got {show(second)}"
    counters = cache.counters
    got = (counters.blocks_read, counters.block_cache_misses, counters.block_cache_hits)
    assert got == (1, 1, 1), (
        "reading block 1 twice through the cache should read it from disk once (one miss) and then hit; "
        f"(blocks_read, misses, hits) = {got}"
    )


@pytest.mark.day2_task4
def test_get_or_load_calls_load_only_on_a_miss() -> None:
    """get_or_load calls load only on a miss and returns the cached block on every hit."""
    cache = BlockCache(1 << 20)
    block = one_entry_block(b"key", b"value")
    load, calls = counting_loader(block)
    results = [cache.get_or_load(3, 0, load) for _ in range(3)]
    assert len(calls) == 1, f"three get_or_load calls for one block should load it once, loaded {len(calls)} times"
    assert all(result is block for result in results), "get_or_load must return the loaded block on a hit"
    assert (cache.counters.block_cache_misses, cache.counters.block_cache_hits) == (1, 2), (
        f"expected 1 miss and 2 hits, got {cache.counters}"
    )


@pytest.mark.day2_task4
def test_get_or_load_without_fill_cache_keeps_nothing_but_uses_what_is_cached() -> None:
    """get_or_load(..., fill_cache=False) keeps no block it loads, yet returns a block already cached (a hit)."""
    cache = BlockCache(1 << 20)
    block = one_entry_block(b"key", b"value")
    load, calls = counting_loader(block)
    results = [cache.get_or_load(3, 0, load, fill_cache=False) for _ in range(2)]
    assert all(result is block for result in results), "get_or_load must return the loaded block"
    assert len(calls) == 2, (
        f"two get_or_load calls with fill_cache=False should load the block twice (it is not kept), "
        f"loaded it {len(calls)} times"
    )
    cache.get_or_load(3, 0, load)  # kept this time
    assert cache.get_or_load(3, 0, load, fill_cache=False) is block
    assert len(calls) == 3, "with fill_cache=False a block already in the cache must be taken from it, not loaded"
    assert (cache.counters.block_cache_misses, cache.counters.block_cache_hits) == (3, 1), (
        f"expected 3 misses and 1 hit, got {cache.counters}"
    )


@pytest.mark.day2_task4
def test_an_iterator_without_fill_cache_reads_every_block_and_keeps_none(tmp_path: Path) -> None:
    """SsTableIterator with fill_cache=False reads the table right but leaves its blocks out of the cache."""
    cache = BlockCache(1 << 20)
    table = build_table(tmp_path, cache)
    scans = [
        collect(SsTableIterator.create_and_seek_to_first(table, fill_cache=False)),
        collect(SsTableIterator.create_and_seek_to_key(table, ENTRIES[0][0], fill_cache=False)),
    ]
    assert scans == [ENTRIES, ENTRIES], f"expected {show(ENTRIES)} twice, got {show(scans)}"
    read_again = collect(BlockIterator.create_and_seek_to_first(table.read_block_cached(1, fill_cache=False)))
    assert read_again == ENTRIES[5:10], f"block 1 should hold {show(ENTRIES[5:10])}, got {show(read_again)}"
    counters = cache.counters
    blocks = table.num_blocks()
    got = (counters.blocks_read, counters.block_cache_hits)
    assert got == (2 * blocks + 1, 0), (
        f"two scans of {blocks} blocks and one more read, none of them kept, should read {2 * blocks + 1} blocks "
        f"from disk with no hit; (blocks_read, hits) = {got}"
    )


@pytest.mark.day2_task4
def test_scanning_a_table_twice_reads_each_block_from_disk_once(tmp_path: Path) -> None:
    """Scanning a table twice through a large enough block cache reads each of its blocks from disk once."""
    cache = BlockCache(1 << 20)
    table = build_table(tmp_path, cache)
    for scan in range(2):
        got = collect(SsTableIterator.create_and_seek_to_first(table))
        assert got == ENTRIES, f"scan {scan + 1} through the cache gave {show(got)}"
        wipe(table)  # the second scan must find every block in the cache: the disk holds only zeros
    assert cache.counters.blocks_read == 4, (
        f"two scans of a 4-block table with a large cache should read 4 blocks from disk, "
        f"read {cache.counters.blocks_read}"
    )


@pytest.mark.day2_task4
def test_a_block_hit_four_times_has_its_keys_unpacked() -> None:
    """A cached block's keys are unpacked on its UNPACK_AFTER_HITS-th hit (the fourth), not before."""
    cache = BlockCache(1 << 20)
    builder = BlockBuilder(options_for_day(2))
    for key, value in ENTRIES[:5]:
        builder.add(key, value)
    block = builder.build()
    load, _ = counting_loader(block)
    cache.get_or_load(1, 0, load)  # the miss that caches it
    for hit in range(1, UNPACK_AFTER_HITS):
        cache.get_or_load(1, 0, load)
        assert block.keys is None, (
            f"a block hit {hit} time(s) is not hot yet: its keys should stay packed until hit {UNPACK_AFTER_HITS}, "
            f"but block.keys is {show(block.keys)}"
        )
    cache.get_or_load(1, 0, load)
    want = [key for key, _ in ENTRIES[:5]]
    assert block.keys == want, (
        f"hit {UNPACK_AFTER_HITS} on a cached block should unpack its keys (block.unpack_keys()): "
        f"block.keys should be {show(want)}, got {show(block.keys)}"
    )
