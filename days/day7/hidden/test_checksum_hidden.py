"""Day 7 hidden tests, task 3: what each checksum covers, damage in every byte, and the CRC itself."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from tinylsm.checksum import checksum, verify_checksum
from tinylsm.errors import CorruptionError
from tinylsm.files import sst_path
from tinylsm.sstable import SsTable, SsTableBuilder, SsTableIterator
from tinylsm.testkit import collect, options_for_day, show
from tinylsm.testkit.bitflips import flips_not_caught, read_all

FOOTER = struct.Struct("<QIQIHHI8s")


def write_sst(directory: Path, entries: list[tuple[bytes, bytes | None]], **overrides: object) -> Path:
    builder = SsTableBuilder(options_for_day(7, **overrides))
    for key, value in entries:
        builder.add(key, value)
    builder.build(1, sst_path(directory, 1), None).close()
    return sst_path(directory, 1)


ENTRIES = [
    (b"user:0001", b"alice"),
    (b"user:0002", None),
    (b"user:0003", b""),
    (b"user:0010", b"bob"),
    (b"user:0011", b"carol"),
    (b"zone", b"\x00\xff"),
]


@pytest.mark.day7_task3
def test_every_bit_flip_with_filter_and_prefix_compression_on_is_detected_or_harmless(tmp_path: Path) -> None:
    """A single flipped bit in an SST with a filter, compressed keys and checksums gave wrong data or an odd error."""
    original = write_sst(tmp_path, ENTRIES, block_size=48).read_bytes()
    wrong = flips_not_caught(original, tmp_path / "damaged.sst", ENTRIES)
    assert not wrong, f"{len(wrong)} of {len(original) * 8} flips were neither caught nor harmless: " + "; ".join(
        wrong[:3]
    )


@pytest.mark.day7_task3
def test_every_crc_slot_holds_the_crc32_of_the_section_before_it(tmp_path: Path) -> None:
    """A crc slot of an SST written with checksums does not hold the CRC-32 of exactly the section before it."""
    raw = write_sst(tmp_path, ENTRIES, block_size=48).read_bytes()
    meta_offset, meta_size, filter_offset, filter_size, _, flags, footer_crc, _ = FOOTER.unpack(raw[-40:])
    assert flags == 1, f"a file written with checksums must have flags bit 0 set, got flags {flags:#06x}"
    assert footer_crc == zlib.crc32(raw[-40:-12]), "footer_crc is not the CRC-32 of the footer's first 28 bytes"
    table = SsTable.open(1, sst_path(tmp_path, 1), None)
    sections = [(f"block {i}", meta.offset, meta.size) for i, meta in enumerate(table.block_meta)]
    table.close()
    sections += [("meta", meta_offset, meta_size), ("filter", filter_offset, filter_size)]
    assert filter_size > 0, "with bloom_bits_per_key = 10 the filter section should not be empty"
    for name, offset, size in sections:
        (stored,) = struct.unpack_from("<I", raw, offset + size)
        expected = zlib.crc32(raw[offset : offset + size])
        assert stored == expected, f"the crc slot of the {name} holds {stored:#010x}, expected {expected:#010x}"


@pytest.mark.day7_task3
def test_a_damaged_value_is_reported_with_the_file_and_block(tmp_path: Path) -> None:
    """A flipped bit inside a value was read back, or the error did not name the file and the block."""
    path = write_sst(tmp_path, ENTRIES, block_size=48, bloom_bits_per_key=0)
    raw = bytearray(path.read_bytes())
    position = raw.index(b"carol")
    raw[position] ^= 0x20  # "Carol": a change the block's own checks cannot see
    path.write_bytes(raw)
    table = SsTable.open(1, path, None)
    try:
        with pytest.raises(CorruptionError) as raised:
            for index in range(table.num_blocks()):
                table.read_block(index)
    finally:
        table.close()
    message = str(raised.value)
    assert path.name in message and "block" in message, f"the error should name {path.name} and the block: {message!r}"


@pytest.mark.day7_task3
@pytest.mark.parametrize(
    "data,expected",
    [(b"a", 0xE8B7BE43), (b"\x00" * 32, 0x190A55AD), (b"\xff" * 4, 0xFFFFFFFF), (bytes(range(256)), 0x29058C73)],
)
def test_checksum_is_the_unsigned_crc32_of_all_the_data(data: bytes, expected: int) -> None:
    """checksum() is not zlib's CRC-32 of every byte of its input, as an unsigned 32-bit number."""
    got = checksum(data)
    assert got == expected, f"checksum({show(data)}): expected {expected:#010x}, got {got:#x}"


@pytest.mark.day7_task3
def test_verify_checksum_detects_a_change_in_the_first_or_last_byte() -> None:
    """verify_checksum accepted data whose first or last byte differs from the data the checksum was made of."""
    data = b"0123456789abcdef"
    stored = zlib.crc32(data)
    for damaged in (b"X" + data[1:], data[:-1] + b"X"):
        with pytest.raises(CorruptionError):
            verify_checksum(damaged, stored, "test data")
