"""Day 2 hidden tests: the block cache's bound, its order of eviction, its keys and its lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tinylsm.block import Block, BlockBuilder, BlockIterator
from tinylsm.block_cache import UNPACK_AFTER_HITS, BlockCache, block_charge
from tinylsm.files import sst_path
from tinylsm.sstable import SsTable, SsTableBuilder
from tinylsm.testkit import collect, options_for_day, show


def block_of(size: int, tag: bytes = b"k") -> Block:
    """A one-entry block whose charge (encoded size) is ``size`` bytes."""
    builder = BlockBuilder(options_for_day(2))
    builder.add(tag, b"x" * (size - 9 - len(tag) - 4))
    block = builder.build()
    charge = block_charge(block)
    assert charge == size, f"a block is charged its encoded size, {size} bytes here; block_charge gave {charge}"
    return block


class Loads:
    """Loaders that remember which blocks get loaded."""

    def __init__(self, blocks: dict[tuple[int, int], Block]) -> None:
        self.blocks = blocks
        self.loaded: list[tuple[int, int]] = []

    def get(self, cache: BlockCache, sst_id: int, block_idx: int) -> Block:
        def load() -> Block:
            self.loaded.append((sst_id, block_idx))
            return self.blocks[sst_id, block_idx]

        return cache.get_or_load(sst_id, block_idx, load)


def assert_kept_and_evicted(loads: Loads, cache: BlockCache, why_block_0_is_kept: str) -> None:
    """Block 0 of table 1 is served from the cache, and block 1, the least recently used, was evicted."""
    loads.loaded.clear()
    got = loads.get(cache, 1, 0)
    assert got is loads.blocks[1, 0] and loads.loaded == [], (
        f"{why_block_0_is_kept}, but block 0 was loaded again: {loads.loaded}"
    )
    loads.get(cache, 1, 1)
    assert loads.loaded == [(1, 1)], "block 1, the least recently used, should have been evicted and loaded again"


def table_of(directory: Path, sst_id: int, entries: list[tuple[bytes, bytes | None]], cache: BlockCache) -> SsTable:
    builder = SsTableBuilder(options_for_day(2, block_size=64))
    for key, value in entries:
        builder.add(key, value)
    builder.build(sst_id, sst_path(directory, sst_id), None).close()
    return SsTable.open(sst_id, sst_path(directory, sst_id), cache)


@pytest.mark.day2_task4
def test_a_block_as_large_as_the_whole_capacity_is_kept() -> None:
    """A block whose charge equals the cache's capacity was not kept (only a larger one may be turned away)."""
    blocks = {(1, 0): block_of(100)}
    cache, loads = BlockCache(100), Loads(blocks)
    for _ in range(3):
        loads.get(cache, 1, 0)
    assert loads.loaded == [(1, 0)], (
        f"a 100-byte block fits a 100-byte cache exactly: three reads should load it once, "
        f"but it was loaded {len(loads.loaded)} times"
    )


@pytest.mark.day2_task4
def test_least_recently_used_block_is_evicted_when_the_bytes_run_out() -> None:
    """The cache did not evict the least recently used block (by bytes) when a new block did not fit."""
    blocks = {(1, i): block_of(100, b"%d" % i) for i in range(3)}
    cache, loads = BlockCache(250), Loads(blocks)  # room for two 100-byte blocks, not three
    for index in [0, 1, 0, 2]:  # the hit on block 0 makes block 1 the least recently used
        loads.get(cache, 1, index)
    assert_kept_and_evicted(
        loads,
        cache,
        "after reading blocks 0, 1, 0, 2 into a cache with room for two, block 0 (used more recently than block 1) "
        "should still be cached",
    )


@pytest.mark.day2_task4
def test_the_cache_never_holds_more_bytes_than_its_capacity() -> None:
    """The cache kept more blocks than its byte capacity allows (it must count bytes, not blocks)."""
    blocks = {(1, i): block_of(300, b"%d" % i) for i in range(10)}
    cache, loads = BlockCache(1000), Loads(blocks)  # three 300-byte blocks fit, four do not
    for index in range(4):
        loads.get(cache, 1, index)
    loads.loaded.clear()
    for index in [3, 2, 1]:
        loads.get(cache, 1, index)
    assert loads.loaded == [], f"the three most recent blocks should be cached, but {loads.loaded} were loaded again"
    loads.get(cache, 1, 0)
    assert loads.loaded == [(1, 0)], "block 0 should have been evicted: four 300-byte blocks exceed 1000 bytes"


@pytest.mark.day2_task4
@pytest.mark.invariant
def test_small_blocks_are_not_evicted_to_make_room_by_count() -> None:
    """The cache evicted blocks although their bytes fitted its capacity (it counted blocks, not bytes)."""
    blocks = {(1, i): block_of(20, b"%d" % i) for i in range(40)}
    cache, loads = BlockCache(1000), Loads(blocks)  # 40 blocks of 20 bytes: 800 bytes fit
    for index in range(40):
        loads.get(cache, 1, index)
    loads.loaded.clear()
    for index in range(40):
        loads.get(cache, 1, index)
    assert loads.loaded == [], f"40 blocks of 20 bytes fit in 1000 bytes, yet {len(loads.loaded)} were loaded again"


@pytest.mark.day2_task4
def test_blocks_with_the_same_index_in_different_tables_are_kept_apart(tmp_path: Path) -> None:
    """Two tables sharing a cache got each other's block 0 (the cache key must include the sst id)."""
    cache = BlockCache(1 << 20)
    first = table_of(tmp_path, 1, [(b"apple", b"red")], cache)
    second = table_of(tmp_path, 2, [(b"banana", b"yellow")], cache)
    got1 = collect(BlockIterator.create_and_seek_to_first(first.read_block_cached(0)))
    got2 = collect(BlockIterator.create_and_seek_to_first(second.read_block_cached(0)))
    assert got1 == [(b"apple", b"red")], f"table 1's block 0 should hold apple, got {show(got1)}"
    assert got2 == [(b"banana", b"yellow")], (
        f"table 2's block 0 should hold banana, got {show(got2)}: the cache returned another table's block 0"
    )


@pytest.mark.day2_task4
def test_zero_capacity_caches_nothing() -> None:
    """A cache of capacity 0 kept a block, or did not count each call as a miss."""
    block = block_of(50)
    cache, loads = BlockCache(0), Loads({(1, 0): block})
    for _ in range(3):
        assert loads.get(cache, 1, 0) is block, "get_or_load must return the loaded block"
    assert len(loads.loaded) == 3, f"with capacity 0 every call must load the block; it was loaded {len(loads.loaded)}"
    got = (cache.counters.block_cache_misses, cache.counters.block_cache_hits)
    assert got == (3, 0), f"with capacity 0, three calls are three misses: (misses, hits) = {got}"


@pytest.mark.day2_task4
def test_a_block_larger_than_the_capacity_is_returned_but_not_kept() -> None:
    """A block larger than the whole cache raised an error, was kept, or pushed out the blocks that fit."""
    small, large = block_of(40, b"s"), block_of(500, b"l")
    cache, loads = BlockCache(100), Loads({(1, 0): small, (1, 1): large})
    loads.get(cache, 1, 0)
    assert loads.get(cache, 1, 1) is large, "get_or_load must return a block even when it is too large to cache"
    loads.loaded.clear()
    loads.get(cache, 1, 0)
    loads.get(cache, 1, 1)
    assert loads.loaded == [(1, 1)], (
        f"the small block should still be cached and the large one not: loaded again {loads.loaded}"
    )


@pytest.mark.day2_task4
def test_counters_are_the_ones_given_to_the_cache() -> None:
    """The cache did not count into the ReadCounters it was given."""
    from tinylsm.metrics import ReadCounters

    counters = ReadCounters()
    cache, loads = BlockCache(1 << 20, counters), Loads({(5, 2): block_of(30)})
    loads.get(cache, 5, 2)
    loads.get(cache, 5, 2)
    assert cache.counters is counters, "cache.counters must be the ReadCounters passed to BlockCache"
    assert (counters.block_cache_misses, counters.block_cache_hits) == (1, 1), f"expected 1 miss, 1 hit: {counters}"
    assert loads.loaded == [(5, 2)], f"the hit must not load the block again: loads {loads.loaded}"


@pytest.mark.day2_task4
def test_evict_table_drops_only_that_tables_blocks() -> None:
    """evict_table(sst_id) left that table's blocks cached, or dropped another table's."""
    blocks = {(sst, i): block_of(30, b"%d" % i) for sst in (1, 2) for i in range(2)}
    cache, loads = BlockCache(1 << 20), Loads(blocks)
    for key in blocks:
        loads.get(cache, *key)
    loads.loaded.clear()
    cache.evict_table(1)
    for key in blocks:
        loads.get(cache, *key)
    assert loads.loaded == [(1, 0), (1, 1)], f"after evict_table(1) only table 1's blocks should load: {loads.loaded}"


@pytest.mark.day2_task4
def test_concurrent_readers_get_the_right_blocks() -> None:
    """Threads sharing the cache got a wrong block, raised, or hung."""
    blocks = {(sst, i): block_of(60 + i, b"%d" % i) for sst in (1, 2) for i in range(12)}
    cache = BlockCache(10 * 64)  # fewer than the 24 blocks: threads keep evicting each other's blocks
    errors: list[str] = []
    calls_per_thread = 400

    def reader(seed: int) -> None:
        try:
            for n in range(calls_per_thread):
                key = (1 + (n + seed) % 2, (n * 7 + seed) % 12)
                got = cache.get_or_load(*key, lambda key=key: blocks[key])
                if got is not blocks[key]:
                    errors.append(f"thread {seed} asked for block {key} and got another block")
                    return
        except Exception as error:  # reported below, in the main thread
            errors.append(f"thread {seed} raised {error!r}")

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a reader thread never finished (a lock never released?)"
    assert not errors, errors[0]


@pytest.mark.day2_task4
def test_a_block_that_needs_several_evictions_evicts_them_all() -> None:
    """A new block that needed two or more blocks evicted left the cache over its capacity (only one was evicted)."""
    blocks = {(1, i): block_of(100, b"%d" % i) for i in range(3)}
    blocks[2, 0] = block_of(200, b"big")
    cache, loads = BlockCache(300), Loads(blocks)  # exactly three 100-byte blocks fit
    for index in range(3):
        loads.get(cache, 1, index)
    loads.get(cache, 2, 0)  # 200 bytes: blocks 0 and 1 (the two coldest) must both go
    loads.loaded.clear()
    loads.get(cache, 2, 0)
    loads.get(cache, 1, 2)
    assert loads.loaded == [], (
        f"the 200-byte block and block 2 (the most recent 100-byte one) fit together in 300 bytes and should be "
        f"cached, but {loads.loaded} were loaded again"
    )
    loads.get(cache, 1, 1)
    assert loads.loaded == [(1, 1)], (
        "after a 200-byte block came into a full 300-byte cache of three 100-byte blocks, the two coldest (0 and 1) "
        "should both have been evicted; block 1 was still cached, so the cache held more than its capacity"
    )


@pytest.mark.day2_task4
def test_a_block_loaded_again_while_cached_becomes_the_most_recently_used() -> None:
    """A block loaded again while cached (two readers missed it at once) kept its old LRU place: evicted too soon."""
    blocks = {(1, i): block_of(100, b"%d" % i) for i in range(3)}
    cache, loads = BlockCache(200), Loads(blocks)  # two blocks fit

    def load_block_0_while_another_reader_loads_it() -> Block:
        # while this miss of block 0 loads, another reader loads block 0, then block 1 (as two threads would)
        loads.get(cache, 1, 0)
        loads.get(cache, 1, 1)
        return blocks[1, 0]

    cache.get_or_load(1, 0, load_block_0_while_another_reader_loads_it)  # block 0 is now the most recently used
    loads.get(cache, 1, 2)  # evicts the least recently used: block 1
    assert_kept_and_evicted(
        loads,
        cache,
        "block 0 was inserted again after block 1 (a second reader finished loading it), so it was the most recently "
        "used; block 2 should have evicted block 1",
    )


def block_of_many_keys(tag: bytes) -> Block:
    """A block of 40 short entries, whose charge nearly quadruples when its keys are unpacked."""
    builder = BlockBuilder(options_for_day(2))
    for index in range(40):
        builder.add(tag + b"%03d" % index, b"v")
    return builder.build()


@pytest.mark.day2_task4
def test_a_block_unpacked_by_its_hits_is_charged_its_keys_and_evicts_what_no_longer_fits() -> None:
    """A block whose keys the cache unpacked kept its packed charge: the cache held more bytes than its capacity."""
    blocks = {(1, 0): block_of_many_keys(b"a"), (1, 1): block_of_many_keys(b"b")}
    packed = block_charge(blocks[1, 0])
    probe = block_of_many_keys(b"a")
    probe.unpack_keys()
    unpacked = block_charge(probe)
    capacity = unpacked + packed - 1  # block 0 fits alone when unpacked, and beside block 1 only while packed
    cache, loads = BlockCache(capacity), Loads(blocks)
    loads.get(cache, 1, 0)
    loads.get(cache, 1, 1)
    for _ in range(UNPACK_AFTER_HITS):
        loads.get(cache, 1, 0)  # the last hit unpacks block 0, which then no longer fits beside block 1
    assert blocks[1, 0].keys is not None, f"block 0 was hit {UNPACK_AFTER_HITS} times: its keys should be unpacked"
    assert_kept_and_evicted(
        loads,
        cache,
        f"block 0 grew from {packed} to {unpacked} bytes when its keys were unpacked; it and the {packed}-byte block 1 "
        f"no longer fit in {capacity} bytes, so block 1, the least recently used, had to go and block 0 "
        "should stay",
    )


@pytest.mark.day2_task4
def test_hits_on_a_block_are_counted_afresh_when_it_comes_back_into_the_cache() -> None:
    """Hits a block got before it was evicted were counted again after it was loaded back: it was unpacked too soon."""
    first_copy = block_of_many_keys(b"a")
    blocks = {(1, 0): first_copy, (1, 1): block_of_many_keys(b"b")}
    cache, loads = BlockCache(block_charge(first_copy)), Loads(blocks)  # room for one packed block
    loads.get(cache, 1, 0)
    for _ in range(UNPACK_AFTER_HITS - 1):
        loads.get(cache, 1, 0)
    loads.get(cache, 1, 1)  # evicts block 0 before its unpacking hit
    blocks[1, 0] = second_copy = block_of_many_keys(b"a")
    loads.get(cache, 1, 0)  # loaded again: a new block, with no hits yet
    loads.get(cache, 1, 0)
    assert first_copy.keys is None and second_copy.keys is None, (
        f"block 0 was hit {UNPACK_AFTER_HITS - 1} times, evicted, loaded again and hit once: a block's hits count "
        f"from when it enters the cache, so it should not be unpacked before its {UNPACK_AFTER_HITS}th hit since"
    )
    for _ in range(UNPACK_AFTER_HITS - 1):
        loads.get(cache, 1, 0)
    assert second_copy.keys is not None, (
        f"block 0, loaded back into the cache and hit {UNPACK_AFTER_HITS} times since, should have its keys unpacked"
    )
