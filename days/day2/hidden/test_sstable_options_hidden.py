"""Day 2 hidden tests: SSTs and the block cache under the options of later days (checksums, filters)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from tinylsm.block import Block, BlockBuilder, BlockIterator
from tinylsm.block_cache import BlockCache, block_charge
from tinylsm.errors import CorruptionError
from tinylsm.files import sst_path
from tinylsm.sstable import BlockMeta, SsTable, SsTableBuilder, SsTableIterator, decode_block_meta, encode_block_meta
from tinylsm.testkit import call_each, collect, options_for_day, show

ENTRIES = [(b"k%03d" % (10 * i), b"v%03d" % i) for i in range(20)]


def build(directory: Path, sst_id: int = 7, **options: object) -> SsTable:
    builder = SsTableBuilder(options_for_day(2, block_size=100, **options))
    for key, value in ENTRIES:
        builder.add(key, value)
    return builder.build(sst_id, sst_path(directory, sst_id), None)


def read_all(table: SsTable) -> list[tuple[bytes, bytes | None]]:
    entries = []
    for index in range(table.num_blocks()):
        entries += collect(BlockIterator.create_and_seek_to_first(table.read_block(index)))
    return entries


@pytest.mark.day2_task2
def test_a_table_written_with_checksums_reads_back_after_reopen(tmp_path: Path) -> None:
    """A table written with checksums on (day 7) could not be read back after it was reopened."""
    build(tmp_path, checksums=True, bloom_bits_per_key=10).close()
    table = SsTable.open(7, sst_path(tmp_path, 7), None)
    got = read_all(table)
    assert got == ENTRIES, f"expected {show(ENTRIES)}, got {show(got)}"
    for key, _ in ENTRIES:
        assert table.may_contain(key), f"may_contain({key!r}) is False for a key the table holds"


@pytest.mark.day2_task1
def test_every_checksum_covers_exactly_its_section(tmp_path: Path) -> None:
    """A checksum of an SST written with checksums on did not cover the bytes the format table names."""
    build(tmp_path, checksums=True, bloom_bits_per_key=10).close()
    raw = sst_path(tmp_path, 7).read_bytes()
    footer = raw[-40:]
    meta_offset, meta_size, filter_offset, filter_size, version, flags, footer_crc, magic = struct.unpack(
        "<QIQIHHI8s", footer
    )
    assert (version, flags, magic) == (1, 1, b"TLSM-SST"), f"expected version 1, flags 1, got {version}, {flags}"
    assert footer_crc == zlib.crc32(footer[:28]), "footer_crc is not the CRC-32 of the footer's first 28 bytes"
    sections = [(meta_offset, meta_size, "meta"), (filter_offset, filter_size, "filter")]
    for meta in decode_block_meta(raw[meta_offset : meta_offset + meta_size]):
        sections.append((meta.offset, meta.size, f"block at {meta.offset}"))
    for offset, size, what in sections:
        (stored,) = struct.unpack_from("<I", raw, offset + size)
        want = zlib.crc32(raw[offset : offset + size])
        assert stored == want, f"the {what} crc slot: expected {want:#010x}, got {stored:#010x}"


@pytest.mark.day2_task2
def test_a_damaged_block_of_a_table_with_checksums_is_detected(tmp_path: Path) -> None:
    """A flipped value byte in a table written with checksums on was read as data instead of CorruptionError."""
    table = build(tmp_path, checksums=True)
    raw = bytearray(sst_path(tmp_path, 7).read_bytes())
    position = raw.index(b"v007")
    raw[position + 3] ^= 0x01
    sst_path(tmp_path, 8).write_bytes(bytes(raw))
    table.close()
    reopened = SsTable.open(8, sst_path(tmp_path, 8), None)
    with pytest.raises(CorruptionError):
        read_all(reopened)


@pytest.mark.day2_task2
def test_the_table_build_returns_checks_its_checksums_and_uses_its_filter(tmp_path: Path) -> None:
    """The table that build() returned skipped its checksums or its filter (only a reopened table used them)."""
    table = build(tmp_path, checksums=True, bloom_bits_per_key=10)
    absent = [b"k%03d" % (10 * i + 5) for i in range(20)]
    ruled_out = sum(not table.may_contain(key) for key in absent)
    assert ruled_out >= 15, (
        f"the table build() returns holds the filter it just wrote, but it ruled out only {ruled_out} of 20 absent "
        "keys: a flushed or compacted table must use its filter at once, not only after a reopen"
    )
    path = sst_path(tmp_path, 7)
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"v007") + 3] ^= 0x01
    path.write_bytes(bytes(raw))  # the same file, changed under the open table (reads go to the disk)
    with pytest.raises(CorruptionError):
        read_all(table)
        pytest.fail("a flipped byte in a table build() returned was read as data: it was built with checksums on")


@pytest.mark.day2_task2
def test_each_key_the_filter_rules_out_counts_one_filter_negative(tmp_path: Path) -> None:
    """may_contain returned False for keys the filter ruled out without counting one filter_negatives for each."""
    table = build(tmp_path, bloom_bits_per_key=10)
    absent = [b"k%03d" % (10 * i + 5) for i in range(19)]  # between the table's keys, inside its key range
    answers = call_each(table.may_contain, absent)
    ruled_out = answers.count(False)
    assert ruled_out >= 15, f"a filter of 10 bits per key should rule out most of 19 absent keys, got {ruled_out}"
    counted = table.counters.filter_negatives
    assert counted == ruled_out, (
        f"may_contain said False to {ruled_out} absent keys inside [b'k000', b'k190'], each ruled out by the "
        f"filter, so filter_negatives should be {ruled_out}, got {counted}"
    )


@pytest.mark.day2_task2
def test_a_key_outside_the_key_range_is_not_a_filter_negative(tmp_path: Path) -> None:
    """may_contain counted a filter negative for a key outside [first_key, last_key]: the key range must be
    checked before the filter, which is asked only about keys inside it."""
    table = build(tmp_path, bloom_bits_per_key=10)
    outside = [b"a", b"j999", b"k", b"k00", b"k1901", b"k191", b"k200", b"z"]
    answers = call_each(table.may_contain, outside)
    said_yes = [key for key, answer in zip(outside, answers, strict=True) if answer is not False]
    assert said_yes == [], f"keys outside the table's range b'k000'..b'k190' must get False, got True for {said_yes}"
    counted = table.counters.filter_negatives
    assert counted == 0, (
        f"{len(outside)} keys outside the key range counted {counted} filter_negatives: the range rules them "
        "out before the filter is asked, so none of them is a filter negative"
    )
    assert table.may_contain(b"k005") is False and table.counters.filter_negatives == 1, (
        "may_contain(b'k005'), inside the range and ruled out by the filter, should be False and count "
        f"1 filter_negatives, got {table.counters.filter_negatives}"
    )


@pytest.mark.day2_task2
@pytest.mark.parametrize("section", ["meta", "filter", "block-with-a-zeroed-crc"])
def test_with_checksums_on_a_change_to_any_section_is_corruption(tmp_path: Path, section: str) -> None:
    """With checksums on, a changed meta or filter section, or a block whose crc slot was zeroed, was not refused."""
    build(tmp_path, checksums=True, bloom_bits_per_key=10).close()
    raw = bytearray(sst_path(tmp_path, 7).read_bytes())
    meta_offset, meta_size, filter_offset, filter_size = struct.unpack_from("<QIQI", raw, len(raw) - 40)
    if section == "meta":  # the last key of the last block, one byte later: the meta still decodes
        position = raw.rindex(b"k190", meta_offset, meta_offset + meta_size)
        raw[position + 3] += 1
    elif section == "filter":  # no bit set: every key ruled out
        raw[filter_offset : filter_offset + filter_size - 1] = bytes(filter_size - 1)
    else:  # a damaged value, and its block's crc slot zeroed as if it held no checksum
        first = decode_block_meta(bytes(raw[meta_offset : meta_offset + meta_size]))[0]
        raw[raw.index(b"v001") + 3] ^= 0x01
        raw[first.offset + first.size : first.offset + first.size + 4] = bytes(4)
    sst_path(tmp_path, 8).write_bytes(bytes(raw))
    with pytest.raises(CorruptionError):
        table = SsTable.open(8, sst_path(tmp_path, 8), None)
        read_all(table)
        [table.may_contain(key) for key, _ in ENTRIES]
        pytest.fail(
            f"the table's {section} changed, and its checksum says so: the flags say every section carries one, "
            "so it must be checked (a zero checksum is a checksum too)"
        )


@pytest.mark.day2_task1
@pytest.mark.invariant
def test_every_truncation_of_block_meta_is_detected() -> None:
    """A block meta section cut short was decoded without CorruptionError."""
    raw = encode_block_meta([BlockMeta(0, 50, b"a" * 10, b"b" * 10), BlockMeta(54, 50, b"c" * 10, b"d" * 10)])
    for length in range(len(raw)):
        with pytest.raises(CorruptionError):
            decode_block_meta(raw[:length])


@pytest.mark.day2_task2
def test_reading_a_block_outside_the_table_raises_index_error(tmp_path: Path) -> None:
    """read_block with an index outside 0..num_blocks()-1 did not raise IndexError."""
    table = build(tmp_path)
    for index in (-1, table.num_blocks()):
        with pytest.raises(IndexError):
            table.read_block(index)


@pytest.mark.day2_task3
@pytest.mark.invariant
def test_an_sst_iterator_counts_as_one_iterator(tmp_path: Path) -> None:
    """num_active_iterators() of an SST iterator was not 1."""
    got = SsTableIterator.create_and_seek_to_first(build(tmp_path)).num_active_iterators()
    assert got == 1, f"expected 1, got {got}"


def block_of(size: int, tag: bytes) -> Block:
    builder = BlockBuilder(options_for_day(2))
    builder.add(tag, b"x" * (size - 9 - len(tag) - 4))
    return builder.build()


@pytest.mark.day2_task4
@pytest.mark.invariant
def test_capacity_freed_by_evict_table_can_be_used_again() -> None:
    """evict_table did not give back the bytes of the blocks it dropped, so the cache held less and less."""
    blocks = {(sst, i): block_of(40, b"%d" % i) for sst in (1, 2) for i in range(2)}
    cache = BlockCache(2 * block_charge(blocks[1, 0]))
    loaded: list[tuple[int, int]] = []

    def get(key: tuple[int, int]) -> None:
        cache.get_or_load(*key, lambda: loaded.append(key) or blocks[key])

    get((1, 0))
    get((1, 1))
    cache.evict_table(1)
    get((2, 0))
    get((2, 1))
    loaded.clear()
    get((2, 0))
    get((2, 1))
    assert loaded == [], f"both blocks of table 2 fit after table 1 was evicted, yet these loaded again: {loaded}"


@pytest.mark.day2_task4
def test_a_negative_capacity_is_refused() -> None:
    """BlockCache accepted a negative capacity."""
    with pytest.raises(ValueError):
        BlockCache(-1)


@pytest.mark.day2_task4
def test_a_block_loaded_twice_at_once_is_charged_once() -> None:
    """When two readers missed the same block at once, the cache charged it twice and lost room for other blocks."""
    import threading

    blocks = {(1, i): block_of(40, b"%d" % i) for i in range(2)}
    cache = BlockCache(2 * block_charge(blocks[1, 0]))
    started, release = threading.Event(), threading.Event()

    def slow_load() -> Block:
        started.set()
        release.wait(timeout=20)  # a safety net only: the other reader releases it at once
        return blocks[1, 0]

    reader = threading.Thread(target=lambda: cache.get_or_load(1, 0, slow_load))
    reader.start()
    started.wait(timeout=20)
    cache.get_or_load(1, 0, lambda: blocks[1, 0])  # the same block, loaded while the first load is under way
    release.set()
    reader.join(timeout=20)
    loaded: list[tuple[int, int]] = []
    for key in [(1, 1), (1, 0), (1, 1)]:
        cache.get_or_load(*key, lambda key=key: loaded.append(key) or blocks[key])
    assert loaded == [(1, 1)], f"both blocks fit the cache, so only block (1, 1) should load once, got {loaded}"
