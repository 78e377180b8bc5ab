"""Day 2 hidden tests: the pinned file format, damaged files, edges and properties of SSTs."""

from __future__ import annotations

import contextlib
import struct
import tempfile
from bisect import bisect_left
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinylsm.block import BlockIterator
from tinylsm.errors import CorruptionError
from tinylsm.files import sst_path
from tinylsm.sstable import BlockMeta, SsTable, SsTableBuilder, SsTableIterator, decode_block_meta, encode_block_meta
from tinylsm.testkit import collect, options_for_day, show

Entries = list[tuple[bytes, bytes | None]]

ENTRIES = [(b"k%03d" % (10 * i), b"v%03d" % i) for i in range(20)]  # 4 blocks of 5 at block_size=100
FOOTER_SIZE = 40

keys = st.binary(min_size=1, max_size=12)
values = st.none() | st.binary(max_size=30)
sorted_entries = st.dictionaries(keys, values, min_size=1, max_size=40).map(lambda d: sorted(d.items()))
block_sizes = st.sampled_from([1, 24, 48, 100, 256, 4096])


def build_table(directory: Path, entries: Entries = ENTRIES, block_size: int = 100, sst_id: int = 7) -> SsTable:
    builder = SsTableBuilder(options_for_day(2, block_size=block_size))
    for key, value in entries:
        builder.add(key, value)
    return builder.build(sst_id, sst_path(directory, sst_id), None)


def written_file(directory: Path, entries: Entries = ENTRIES, block_size: int = 100) -> bytes:
    """The bytes of a freshly built SST (the table is closed again)."""
    table = build_table(directory, entries, block_size)
    table.close()
    return table.path.read_bytes()


def open_bytes(directory: Path, raw: bytes, sst_id: int = 7) -> SsTable:
    path = sst_path(directory, sst_id)
    path.write_bytes(raw)
    return SsTable.open(sst_id, path, None)


def read_everything(table: SsTable) -> Entries:
    """Every entry, block by block, through read_block (so that damage anywhere is met)."""
    entries: Entries = []
    for index in range(table.num_blocks()):
        entries += collect(BlockIterator.create_and_seek_to_first(table.read_block(index)))
    return entries


def footer(meta_offset: int, meta_size: int, filter_offset: int, filter_size: int, **fields: int | bytes) -> bytes:
    """A footer packed by hand, as the book pins it."""
    return struct.pack(
        "<QIQIHHI8s",
        meta_offset,
        meta_size,
        filter_offset,
        filter_size,
        fields.get("version", 1),
        fields.get("flags", 0),
        fields.get("footer_crc", 0),
        fields.get("magic", b"TLSM-SST"),
    )


def replace_footer(raw: bytes, **changes: int | bytes) -> bytes:
    names = ["meta_offset", "meta_size", "filter_offset", "filter_size", "version", "flags", "footer_crc", "magic"]
    fields = dict(zip(names, struct.unpack("<QIQIHHI8s", raw[-FOOTER_SIZE:]), strict=True))
    fields.update(changes)
    return raw[:-FOOTER_SIZE] + struct.pack("<QIQIHHI8s", *fields.values())


def assert_corruption_names_file(directory: Path, raw: bytes, what: str) -> None:
    with pytest.raises(CorruptionError) as caught:
        read_everything(open_bytes(directory, raw))
    assert "00007.sst" in str(caught.value), f"{what}: the CorruptionError must name the file, got {caught.value}"


@pytest.mark.day2_task1
def test_golden_bytes_of_a_two_block_sst(tmp_path: Path) -> None:
    """The SST's bytes on disk do not follow the pinned format (blocks, crc slots, meta section, 40-byte footer)."""
    raw = written_file(tmp_path, [(b"a", b"1"), (b"b", b"2"), (b"c", None)], block_size=32)
    expected = bytes.fromhex(
        "".join(
            [
                "0000 0100 00 01000000 61 31  0000 0100 00 01000000 62 32  0000 0b00 0200",  # block 0 (28 bytes)
                "00000000",  # its crc slot, 0 without checksums
                "0000 0100 01 00000000 63  0000 0100",  # block 1 at offset 32 (14 bytes): c, a tombstone
                "00000000",  # its crc slot
                "02000000",  # meta at offset 50: two blocks
                "0000000000000000 1c000000 0100 61 0100 62",  # block 0: offset 0, 28 bytes, a..b
                "2000000000000000 0e000000 0100 63 0100 63",  # block 1: offset 32, 14 bytes, c..c
                "00000000",  # the meta section's crc slot
                "00000000",  # an empty filter section at offset 94, then its crc slot
                "3200000000000000 28000000",  # footer: meta at 50, 40 bytes
                "5e00000000000000 00000000",  # filter at 94, 0 bytes
                "0100 0000 00000000",  # version 1, no flags, footer_crc 0
                "544c534d2d535354",  # b"TLSM-SST"
            ]
        ).replace(" ", "")
    )
    assert raw == expected, f"expected {expected.hex(' ')}\n     got {raw.hex(' ')}"


@pytest.mark.day2_task1
def test_keys_out_of_order_across_a_block_boundary_are_refused() -> None:
    """The builder accepted a key smaller than the previous key when the two fell into different blocks."""
    builder = SsTableBuilder(options_for_day(2, block_size=1))  # every entry gets its own block
    builder.add(b"m", b"1")
    with pytest.raises(ValueError):
        builder.add(b"c", b"2")


@pytest.mark.day2_task1
def test_tombstones_and_empty_values_survive_an_sst(tmp_path: Path) -> None:
    """A tombstone (None) or an empty value (b'') came back changed from an SST."""
    entries: Entries = [(b"a", None), (b"b", b""), (b"c", b"x"), (b"d", None), (b"e", b"")]
    table = SsTable.open(7, build_table(tmp_path, entries, block_size=24).path, None)
    got = read_everything(table)
    assert got == entries, f"expected {show(entries)}, got {show(got)}"


@pytest.mark.day2_task1
def test_an_entry_larger_than_a_block_gets_a_block_of_its_own(tmp_path: Path) -> None:
    """A value larger than block_size was lost, split, or shared a block with the next entry."""
    entries = [(b"a", b"1"), (b"big", b"x" * 5000), (b"c", b"3")]
    table = build_table(tmp_path, entries, block_size=64)
    got = [(m.first_key, m.last_key) for m in table.block_meta]
    assert got == [(b"a", b"a"), (b"big", b"big"), (b"c", b"c")], f"expected three blocks, got {show(got)}"
    assert read_everything(table) == entries, "the entries did not come back"


@pytest.mark.day2_task1
@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1), keys, keys), max_size=6))
def test_block_meta_round_trips_through_its_encoding(fields: list[tuple[int, int, bytes, bytes]]) -> None:
    """decode_block_meta(encode_block_meta(metas)) did not give back the same metas (offsets are u64, sizes u32)."""
    metas = [BlockMeta(*f) for f in fields]
    got = decode_block_meta(encode_block_meta(metas))
    assert got == metas, f"expected {show(metas)}, got {show(got)}"


@pytest.mark.day2_task1
@given(st.binary(max_size=80))
@pytest.mark.invariant
def test_decoding_garbage_block_meta_raises_only_corruption_error(raw: bytes) -> None:
    """decode_block_meta on garbage raised something other than CorruptionError (e.g. struct.error)."""
    with contextlib.suppress(CorruptionError):
        decode_block_meta(raw)


@pytest.mark.day2_task1
@given(sorted_entries, block_sizes)
def test_any_entries_survive_an_sst_in_blocks_of_at_most_block_size(entries: Entries, block_size: int) -> None:
    """Some sorted entries did not survive an SST, or a block of several entries grew past block_size."""
    with tempfile.TemporaryDirectory() as directory:
        table = SsTable.open(7, build_table(Path(directory), entries, block_size).path, None)
        got = read_everything(table)
        table.close()
    assert got == entries, f"block_size={block_size}: expected {show(entries)}, got {show(got)}"
    for index, meta in enumerate(table.block_meta):
        assert meta.size <= block_size or meta.first_key == meta.last_key, (
            f"block {index} holds several entries in {meta.size} bytes, more than block_size={block_size}"
        )


@pytest.mark.day2_task2
def test_every_truncation_of_an_sst_is_detected(tmp_path: Path) -> None:
    """Opening an SST cut short at some length did not raise a CorruptionError naming the file."""
    raw = written_file(tmp_path)
    for length in range(len(raw)):
        path = sst_path(tmp_path, 7)
        path.write_bytes(raw[:length])
        try:
            table = SsTable.open(7, path, None)
        except CorruptionError as error:
            assert "00007.sst" in str(error), f"the error for a {length}-byte file must name it: got {error}"
            continue
        pytest.fail(f"the first {length} of {len(raw)} bytes opened as a table of {table.num_blocks()} blocks")


@pytest.mark.day2_task2
def test_open_reads_no_data_block_even_a_damaged_one(tmp_path: Path) -> None:
    """open read the data blocks (it must read only the footer, meta and filter: blocks are read when needed)."""
    raw = bytearray(written_file(tmp_path))
    raw[0:60] = b"\xff" * 60  # blocks 0 and most of block 1 become garbage; meta and footer stay intact
    table = open_bytes(tmp_path, bytes(raw), sst_id=8)
    assert table.counters.blocks_read == 0, f"open counted {table.counters.blocks_read} blocks read"
    got = collect(BlockIterator.create_and_seek_to_first(table.read_block(3)))
    assert got == ENTRIES[15:], f"block 3 is intact and should read {show(ENTRIES[15:])}, got {show(got)}"
    with pytest.raises(CorruptionError):
        table.read_block(0)


@pytest.mark.day2_task2
def test_damaged_block_raises_corruption_error_naming_file_and_block(tmp_path: Path) -> None:
    """A damaged data block raised something other than a CorruptionError naming the file and the block."""
    table = build_table(tmp_path)
    meta = table.block_meta[2]
    table.close()
    raw = bytearray(table.path.read_bytes())
    raw[meta.offset + meta.size - 2 : meta.offset + meta.size] = b"\xff\xff"  # block 2's entry count
    table = open_bytes(tmp_path, bytes(raw), sst_id=8)
    with pytest.raises(CorruptionError) as caught:
        table.read_block(2)
    message = str(caught.value)
    assert "00008.sst" in message and "block 2" in message, f"the error must name the file and block 2: {message}"


@pytest.mark.day2_task2
def test_a_file_with_a_wrong_magic_is_refused(tmp_path: Path) -> None:
    """A file whose last 8 bytes are not b'TLSM-SST' was opened as an SST."""
    assert_corruption_names_file(tmp_path, replace_footer(written_file(tmp_path), magic=b"TLSM-SSU"), "wrong magic")


@pytest.mark.day2_task2
def test_an_unknown_footer_flag_is_refused(tmp_path: Path) -> None:
    """A footer with a flag bit other than bit 0 set was accepted instead of refused as unsupported."""
    raw = replace_footer(written_file(tmp_path), flags=0b10)
    with pytest.raises(CorruptionError) as caught:
        open_bytes(tmp_path, raw)
    assert "unsupported" in str(caught.value) and "00007.sst" in str(caught.value), (
        f"the error should name the file and say the flags are unsupported: got {caught.value}"
    )


@pytest.mark.day2_task2
def test_an_unknown_format_version_is_refused(tmp_path: Path) -> None:
    """A footer with a version other than 1 was accepted."""
    assert_corruption_names_file(tmp_path, replace_footer(written_file(tmp_path), version=2), "version 2")


@pytest.mark.day2_task2
def test_a_format_version_older_than_1_is_refused(tmp_path: Path) -> None:
    """A footer with version 0 (older than the only known version, 1) was accepted: only newer versions were refused."""
    raw = written_file(tmp_path)
    for version in (0, 2):
        with pytest.raises(CorruptionError) as caught:
            read_everything(open_bytes(tmp_path, replace_footer(raw, version=version)))
        message = str(caught.value)
        assert "00007.sst" in message and "unsupported" in message, (
            f"a footer with version {version} should be refused with a CorruptionError naming the file and saying "
            f"the version is unsupported: got {message}"
        )


@pytest.mark.day2_task2
def test_a_footer_checksum_without_the_checksum_flag_is_refused(tmp_path: Path) -> None:
    """A footer whose crc is set while flag bit 0 is clear (damage that switches checks off) was accepted."""
    raw = replace_footer(written_file(tmp_path), footer_crc=0x1234ABCD)
    assert_corruption_names_file(tmp_path, raw, "a footer crc without flag bit 0")


@pytest.mark.day2_task2
def test_footer_offsets_that_do_not_fit_the_file_are_refused(tmp_path: Path) -> None:
    """A footer whose meta or filter section lies outside the file, or overlaps the footer, was accepted."""
    raw = written_file(tmp_path)
    meta_offset, meta_size, filter_offset, _ = struct.unpack_from("<QIQI", raw, len(raw) - FOOTER_SIZE)
    bad = [
        {"meta_offset": len(raw) + 100},
        {"meta_offset": 2**63},
        {"meta_size": meta_size + 8},
        {"meta_size": 2**32 - 1},
        {"filter_offset": filter_offset + 1},
        {"filter_size": 12},  # the filter would reach into the footer
        {"filter_offset": 2**64 - 1},
        {"meta_offset": meta_offset + 4, "meta_size": meta_size - 4},
    ]
    for changes in bad:
        assert_corruption_names_file(tmp_path, replace_footer(raw, **changes), f"footer with {changes}")


@pytest.mark.day2_task2
def test_a_filter_section_that_does_not_reach_the_footer_is_refused(tmp_path: Path) -> None:
    """A footer whose filter section ends short of the footer (a wrong filter_size, no checksums) was accepted."""
    builder = SsTableBuilder(options_for_day(2, block_size=100, bloom_bits_per_key=10))
    for n in range(200):
        builder.add(b"key%03d" % n, b"v")
    builder.build(7, sst_path(tmp_path, 7), None).close()
    raw = sst_path(tmp_path, 7).read_bytes()
    filter_size = struct.unpack_from("<QIQI", raw, len(raw) - FOOTER_SIZE)[3]
    assert filter_size > 0, "a table built with bloom_bits_per_key=10 must hold a filter"
    # a shorter filter can still decode (its last byte read as k), and then rules out keys the table holds
    for size in range(filter_size):
        assert_corruption_names_file(tmp_path, replace_footer(raw, filter_size=size), f"filter_size {size}")


@pytest.mark.day2_task2
def test_block_meta_that_does_not_match_the_blocks_is_refused(tmp_path: Path) -> None:
    """Block meta listing blocks at wrong offsets, with keys out of order, or no block at all was accepted."""
    table = build_table(tmp_path)
    table.close()
    metas = list(table.block_meta)
    data = table.path.read_bytes()[: metas[-1].offset + metas[-1].size + 4]
    variants = {
        "no blocks": [],
        "a block at a wrong offset": [
            metas[0],
            BlockMeta(metas[1].offset + 1, metas[1].size, metas[1].first_key, metas[1].last_key),
            *metas[2:],
        ],
        "blocks out of key order": [metas[1], metas[0], *metas[2:]],
        "first key after last key": [BlockMeta(0, metas[0].size, b"k040", b"k000"), *metas[1:]],
        "a block missing at the end": metas[:-1],
        "two blocks that share a key": [
            metas[0],
            BlockMeta(metas[1].offset, metas[1].size, metas[0].last_key, metas[1].last_key),
            *metas[2:],
        ],
    }
    # a block of 0 bytes with its crc slot, between blocks 0 and 1: only its size is wrong
    between = metas[0].last_key + b"\0"
    shifted = [BlockMeta(m.offset + 4, m.size, m.first_key, m.last_key) for m in metas[1:]]
    zero_block = [metas[0], BlockMeta(metas[1].offset, 0, between, between), *shifted]
    zero_data = data[: metas[1].offset] + b"\0" * 4 + data[metas[1].offset :]
    cases = [(what, bad, data) for what, bad in variants.items()] + [("a block of 0 bytes", zero_block, zero_data)]
    for what, bad, blocks in cases:
        meta = b"".join([struct.pack("<I", len(bad))] + [pack_meta(m) for m in bad])
        tail = meta + b"\0" * 4 + b"\0" * 4
        raw_bad = blocks + tail + footer(len(blocks), len(meta), len(blocks) + len(meta) + 4, 0)
        with pytest.raises(CorruptionError):
            open_bytes(tmp_path, raw_bad)
            pytest.fail(f"SsTable.open accepted block meta with {what}: open checks the meta against the blocks")
        assert_corruption_names_file(tmp_path, raw_bad, f"block meta with {what}")


@pytest.mark.day2_task2
def test_a_table_whose_meta_lists_no_block_is_refused(tmp_path: Path) -> None:
    """A file whose meta section lists no data block (and that holds none) did not raise a CorruptionError
    naming the file (e.g. it raised IndexError): an SST holds at least one block."""
    meta = struct.pack("<I", 0)  # a count of 0 blocks, and no data block before it
    raw = meta + b"\0" * 4 + b"\0" * 4 + footer(0, len(meta), len(meta) + 4, 0)  # crc slot, empty filter, crc slot
    with pytest.raises(CorruptionError) as caught:
        open_bytes(tmp_path, raw)
        pytest.fail("SsTable.open accepted a file whose meta section lists 0 blocks: a table holds at least one")
    assert "00007.sst" in str(caught.value), f"the CorruptionError must name the file, got {caught.value}"


@pytest.mark.day2_task1
def test_block_meta_with_bytes_after_its_entries_is_refused() -> None:
    """decode_block_meta accepted bytes left over after the entries its count announces."""
    encoded = encode_block_meta([BlockMeta(0, 10, b"a", b"b"), BlockMeta(10, 12, b"c", b"d")])
    with pytest.raises(CorruptionError):
        decode_block_meta(encoded + b"xyz")
        pytest.fail("block meta of 2 entries followed by 3 more bytes must be refused: the count says where it ends")


def pack_meta(meta: BlockMeta) -> bytes:
    return (
        struct.pack("<QIH", meta.offset, meta.size, len(meta.first_key))
        + meta.first_key
        + struct.pack("<H", len(meta.last_key))
        + meta.last_key
    )


tiled_blocks = st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=4)


@pytest.mark.day2_task2
@given(tiled_blocks, st.data())
def test_garbage_behind_a_valid_footer_raises_only_corruption_error(blocks: list[bytes], data: st.DataObject) -> None:
    """A file of garbage blocks (or garbage meta) behind a well-formed footer raised something other than a
    CorruptionError naming the file (e.g. struct.error or IndexError), or read back entries from garbage."""
    block_keys = sorted(data.draw(st.sets(keys, min_size=2 * len(blocks), max_size=2 * len(blocks))))
    body, metas, offset = b"", [], 0
    for index, block in enumerate(blocks):
        metas.append(BlockMeta(offset, len(block), block_keys[2 * index], block_keys[2 * index + 1]))
        body += block + b"\0" * 4
        offset += len(block) + 4
    if data.draw(st.booleans()):
        meta = b"".join([struct.pack("<I", len(metas))] + [pack_meta(m) for m in metas])
    else:
        meta = data.draw(st.binary(max_size=60))
    raw = body + meta + b"\0" * 4 + b"\0" * 4 + footer(len(body), len(meta), len(body) + len(meta) + 4, 0)
    with tempfile.TemporaryDirectory() as directory:
        try:
            table = open_bytes(Path(directory), raw)
            for index in range(table.num_blocks()):
                block = table.read_block(index)
                entries = collect(BlockIterator.create_and_seek_to_first(block))
                assert all(isinstance(key, bytes) for key, _ in entries), (
                    f"keys read back from a block must be bytes, got {show(entries)}"
                )
            table.close()
        except CorruptionError as error:
            assert "00007.sst" in str(error), f"the CorruptionError must name the file: {error}"


@pytest.mark.day2_task2
@given(st.binary(max_size=120))
def test_random_bytes_are_refused_with_corruption_error(raw: bytes) -> None:
    """Opening a file of random bytes raised something other than a CorruptionError naming the file."""
    with tempfile.TemporaryDirectory() as directory, pytest.raises(CorruptionError) as caught:
        open_bytes(Path(directory), raw)
    assert "00007.sst" in str(caught.value), f"the CorruptionError must name the file: {caught.value}"


@pytest.mark.day2_task2
def test_each_read_block_call_counts_one_block_read(tmp_path: Path) -> None:
    """counters.blocks_read did not count one per read_block call."""
    table = SsTable.open(7, build_table(tmp_path).path, None)
    for index in [0, 3, 3, 1]:
        table.read_block(index)
    assert table.counters.blocks_read == 4, f"4 read_block calls counted {table.counters.blocks_read} blocks read"


@pytest.mark.day2_task2
def test_may_contain_is_false_only_outside_the_key_range_without_a_filter(tmp_path: Path) -> None:
    """may_contain said no to a key inside [first_key, last_key] (with no filter), or yes to a key outside it."""
    table = SsTable.open(7, build_table(tmp_path).path, None)
    for key, want in [(b"a", False), (b"k000", True), (b"k055", True), (b"k190", True), (b"k1900", False)]:
        got = table.may_contain(key)
        assert got is want, f"may_contain({key!r}) for a table of b'k000'..b'k190' should be {want}, got {got!r}"
    assert table.counters.filter_negatives == 0, "with no filter, no lookup is a filter negative"


@pytest.mark.day2_task2
@given(sorted_entries, block_sizes, keys)
def test_find_block_idx_is_the_first_block_whose_last_key_is_at_or_after_key(
    entries: Entries, block_size: int, target: bytes
) -> None:
    """find_block_idx did not return the first block whose last key is >= the key (num_blocks past the end)."""
    with tempfile.TemporaryDirectory() as directory:
        table = build_table(Path(directory), entries, block_size)
        table.close()
    last_keys = [meta.last_key for meta in table.block_meta]
    for key in [target, *(k for k, _ in entries)]:
        want = bisect_left(last_keys, key)
        got = table.find_block_idx(key)
        assert got == want, f"blocks end at {show(last_keys)}: find_block_idx({key!r}) should be {want}, got {got}"


@pytest.mark.day2_task3
@given(sorted_entries, block_sizes, st.lists(keys, max_size=5))
def test_seek_matches_a_sorted_list(entries: Entries, block_size: int, targets: list[bytes]) -> None:
    """seek_to_key (then next) did not give the entries >= the target, as a sorted list does, in some table."""
    sorted_keys = [key for key, _ in entries]
    with tempfile.TemporaryDirectory() as directory:
        table = SsTable.open(7, build_table(Path(directory), entries, block_size).path, None)
        everything = collect(SsTableIterator.create_and_seek_to_first(table))
        assert everything == entries, f"block_size={block_size}: a full scan gave {show(everything)}"
        for target in [*targets, *sorted_keys, *(key + b"\0" for key in sorted_keys)]:
            want = entries[bisect_left(sorted_keys, target) :]
            got = collect(SsTableIterator.create_and_seek_to_key(table, target))
            assert got == want, f"block_size={block_size}: seek_to_key({target!r}) gave {show(got)}, want {show(want)}"
        table.close()


@pytest.mark.day2_task3
def test_a_point_lookup_reads_at_most_one_block(tmp_path: Path) -> None:
    """Seeking to a key read more than one data block (the block index must name the only block to read)."""
    table = SsTable.open(7, build_table(tmp_path, block_size=48).path, None)  # 2 entries a block
    targets = [key for key, _ in ENTRIES] + [key + b"5" for key, _ in ENTRIES] + [b"a", b"z"]
    for target in targets:
        before = table.counters.blocks_read
        SsTableIterator.create_and_seek_to_key(table, target)
        read = table.counters.blocks_read - before
        assert read <= 1, f"seek_to_key({target!r}) read {read} blocks; a point lookup must read at most one"


@pytest.mark.day2_task3
def test_seek_to_first_after_the_end_starts_over(tmp_path: Path) -> None:
    """seek_to_first on an exhausted iterator did not return to the table's first entry."""
    iterator = SsTableIterator.create_and_seek_to_key(build_table(tmp_path), b"z")
    assert not iterator.is_valid(), "seek_to_key past the last key must be invalid"
    iterator.seek_to_first()
    got = collect(iterator)
    assert got == ENTRIES, f"after seek_to_first the iterator should give every entry, got {show(got)}"
    iterator.seek_to_key(b"k095")
    assert iterator.is_valid() and iterator.key() == b"k100", "the iterator could not seek again after a scan"


@pytest.mark.day2_task3
def test_new_iterator_is_not_valid_until_positioned(tmp_path: Path) -> None:
    """An iterator made with SsTableIterator(table) claimed to be on an entry before any seek."""
    table = build_table(tmp_path)
    before = table.counters.blocks_read
    assert not SsTableIterator(table).is_valid(), "a fresh SsTableIterator must not be valid"
    assert table.counters.blocks_read == before, "creating an iterator must not read a block before a seek"
