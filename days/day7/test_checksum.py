"""Day 7 visible tests, task 3: checksums. Run with ``pytest days/day7 -m day7_task3``.

Day 2's SST calls ``checksum`` for every section it writes and ``verify_checksum``
for every section it reads, once ``options.checksums`` is on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tinylsm.checksum import checksum, verify_checksum
from tinylsm.errors import CorruptionError
from tinylsm.files import sst_path
from tinylsm.sstable import SsTableBuilder
from tinylsm.testkit import options_for_day
from tinylsm.testkit.bitflips import flips_not_caught

ENTRIES = [(b"apple", b"red"), (b"banana", None), (b"cherry", b""), (b"damson", b"purple")]


def write_sst(directory: Path, entries: list[tuple[bytes, bytes | None]], **overrides: object) -> bytes:
    """The bytes of an SST holding ``entries``, written with day 7's checksums."""
    builder = SsTableBuilder(options_for_day(7, **overrides))
    for key, value in entries:
        builder.add(key, value)
    table = builder.build(1, sst_path(directory, 1), None)
    table.close()
    return sst_path(directory, 1).read_bytes()


@pytest.mark.day7_task3
def test_checksum_is_crc32() -> None:
    """checksum is CRC-32: 0xcbf43926 for b'123456789', and 0 for b''."""
    got = checksum(b"123456789")
    assert got == 0xCBF43926, f"checksum(b'123456789') should be CRC-32's check value 0xcbf43926, got {got:#x}"
    assert checksum(b"") == 0, f"checksum(b'') should be 0, got {checksum(b'')}"


@pytest.mark.day7_task3
@pytest.mark.invariant
def test_verify_checksum_accepts_the_right_checksum() -> None:
    """verify_checksum returns without error when the stored checksum matches the data."""
    verify_checksum(b"123456789", 0xCBF43926, "test data")


@pytest.mark.day7_task3
def test_verify_checksum_raises_an_error_naming_where_and_both_values() -> None:
    """verify_checksum raises CorruptionError on a mismatch, naming where, the stored and the computed checksum."""
    with pytest.raises(CorruptionError) as raised:
        verify_checksum(b"123456789", 0x12345678, "00042.sst block 3")
    message = str(raised.value)
    assert "00042.sst block 3" in message, f"the message should name where the damage is, got {message!r}"
    assert "12345678" in message.lower() and "cbf43926" in message.lower(), (
        f"the message should give the stored (0x12345678) and the computed (0xcbf43926) checksum, got {message!r}"
    )


@pytest.mark.day7_task3
def test_every_single_bit_flip_in_an_sst_is_detected_or_harmless(tmp_path: Path) -> None:
    """Every single-bit flip in an SST written with checksums raises CorruptionError or changes no entry."""
    original = write_sst(tmp_path, ENTRIES, block_size=40, bloom_bits_per_key=0, prefix_compression=False)
    wrong = flips_not_caught(original, tmp_path / "damaged.sst", ENTRIES)
    assert not wrong, (
        f"{len(wrong)} of the {len(original) * 8} single-bit flips of a {len(original)}-byte SST were neither "
        "refused with CorruptionError nor harmless (every byte is under a checksum, or is the magic): "
        + "; ".join(wrong[:3])
    )
