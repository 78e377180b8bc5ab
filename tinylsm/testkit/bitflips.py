"""Test support for checksums (day 7): flip every bit of an SST and see what reading it gives."""

from __future__ import annotations

import os
from pathlib import Path

from tinylsm.errors import CorruptionError
from tinylsm.testkit import call_each, collect, show


def read_all(path: Path, entries: list[tuple[bytes, bytes | None]]) -> tuple[list, list[bytes]]:
    """Open the table at ``path``; its entries, and the keys of ``entries`` it says it cannot hold."""
    from tinylsm.sstable import SsTable, SsTableIterator

    table = SsTable.open(2, path, None)
    try:
        got = collect(SsTableIterator.create_and_seek_to_first(table))
        keys = [key for key, _ in entries]
        hidden = [key for key, may_hold in zip(keys, call_each(table.may_contain, keys), strict=True) if not may_hold]
    finally:
        table.close()
    return got, hidden


def flips_not_caught(original: bytes, path: Path, entries: list[tuple[bytes, bytes | None]]) -> list[str]:
    """Flip every bit of ``original`` in turn; describe each flip that was neither detected nor harmless."""
    path.write_bytes(original)
    wrong = []
    fd = os.open(path, os.O_WRONLY)
    try:
        for bit in range(len(original) * 8):
            offset = bit >> 3
            os.pwrite(fd, bytes([original[offset] ^ (1 << (bit & 7))]), offset)
            try:
                got, hidden = read_all(path, entries)
            except CorruptionError:
                continue  # detected: the right outcome
            except Exception as error:
                wrong.append(f"byte {offset} bit {bit & 7}: {type(error).__name__}: {error}")
                continue
            finally:
                os.pwrite(fd, original[offset : offset + 1], offset)
            if got != entries or hidden:
                wrong.append(f"byte {offset} bit {bit & 7}: read back {show(got)}, keys ruled out {show(hidden)}")
    finally:
        os.close(fd)
    return wrong
