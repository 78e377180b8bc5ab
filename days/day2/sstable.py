"""Day 2: sorted string tables (SSTs), the immutable files an LSM tree keeps on disk.

An SST is a run of day 1's blocks followed by an index of them (the *meta section*),
an optional key filter and a fixed-size footer. A reader opens a table by reading
the footer, the meta section and the filter only; a data block is read from disk
when a lookup or a scan first needs it. All integers are little-endian. Layout (see
the book, Day 2, "The SST format"):

    block 0 | crc | block 1 | crc | ... | meta | crc | filter | crc | footer (40 bytes)

Every ``crc`` is a ``u32`` slot: the checksum of the section before it when the file
was written with ``options.checksums`` (day 7), else 0. The meta section is

    count (u32), then per block: offset (u64) | size (u32) | first_key_len (u16) |
    first_key | last_key_len (u16) | last_key

where ``size`` counts the block's bytes without its crc slot. The filter section is
empty (0 bytes) until day 7. The footer is

    meta_offset (u64) | meta_size (u32) | filter_offset (u64) | filter_size (u32) |
    version (u16) | flags (u16) | footer_crc (u32) | magic (8 bytes, b"TLSM-SST")

Flag bit 0 says that the crc slots hold checksums; ``footer_crc`` then covers the
footer's first 28 bytes. Any other flag bit is refused as unsupported.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tinylsm.block import Block, BlockBuilder, BlockIterator
from tinylsm.errors import CorruptionError
from tinylsm.extensions import KeyFilter, checksum_function, decode_filter, filter_builder, verify_checksum
from tinylsm.files import FileObject
from tinylsm.metrics import ReadCounters
from tinylsm.options import LsmStorageOptions

if TYPE_CHECKING:
    from tinylsm.block_cache import BlockCache

CRC = struct.Struct("<I")
"""The checksum slot after every section (0 when the file carries no checksums)."""

META_COUNT = struct.Struct("<I")
"""The number of data blocks, at the start of the meta section."""

META_ENTRY_HEAD = struct.Struct("<QI")
"""A meta entry's block offset (u64) and block size (u32, without the crc slot)."""

KEY_LEN = struct.Struct("<H")
"""The length of a first or last key in a meta entry."""

FOOTER = struct.Struct("<QIQIHHI8s")
"""meta_offset, meta_size, filter_offset, filter_size, version, flags, footer_crc, magic: 40 bytes."""

FOOTER_CRC_COVERS = 28
"""``footer_crc`` is the checksum of the footer's first 28 bytes (everything before it)."""

MAGIC = b"TLSM-SST"
FORMAT_VERSION = 1
FLAG_CHECKSUMS = 0x0001
"""Footer flag bit 0: every crc slot (and ``footer_crc``) holds a checksum."""


@dataclass(frozen=True, slots=True)
class BlockMeta:
    """Where one data block lies in the file and which keys it holds."""

    offset: int
    """The block's first byte in the file."""
    size: int
    """The block's length in bytes, not counting the crc slot after it."""
    first_key: bytes
    last_key: bytes


def encode_block_meta(metas: list[BlockMeta]) -> bytes:
    """The meta section for ``metas``: a ``u32`` count, then one entry per block. O(total key bytes)."""
    raise NotImplementedError("day2.task1: encode_block_meta — see book: Day 2, Task 1")


def decode_block_meta(raw: bytes) -> list[BlockMeta]:
    """Read a meta section written by ``encode_block_meta``.

    Raises ``CorruptionError`` (without a file name: ``SsTable.open`` adds it) unless
    ``raw`` holds exactly the entries its count announces. O(len(raw)).
    """
    raise NotImplementedError("day2.task1: decode_block_meta — see book: Day 2, Task 1")


class SsTableBuilder:
    """Writes sorted entries into blocks, then the whole SST file in one go.

    Blocks are encoded as soon as they are full, so memory holds the encoded file
    (about its final size) and one open block. ``add`` is O(len(key) + len(value)).
    A builder builds one table.
    """

    def __init__(self, options: LsmStorageOptions) -> None:
        """An empty builder whose blocks hold about ``options.block_size`` bytes."""
        raise NotImplementedError("day2.task1: SsTableBuilder.__init__ — see book: Day 2, Task 1")

    def add(self, key: bytes, value: bytes | None) -> None:
        """Append an entry (``value=None`` is a tombstone); keys strictly ascending.

        A key out of order raises ``ValueError``.
        """
        raise NotImplementedError("day2.task1: SsTableBuilder.add — see book: Day 2, Task 1")

    def estimated_size(self) -> int:
        """The bytes written so far plus the open block: what the file would take without meta and footer."""
        raise NotImplementedError("day2.task1: SsTableBuilder.estimated_size — see book: Day 2, Task 1")

    def is_empty(self) -> bool:
        """Whether no entry has been added."""
        raise NotImplementedError("day2.task1: SsTableBuilder.is_empty — see book: Day 2, Task 1")

    def build(self, sst_id: int, path: str | os.PathLike[str], block_cache: BlockCache | None) -> SsTable:
        """Write the file at ``path`` (which must not exist) and return it as an open table.

        An empty builder raises ``ValueError``: an SST holds at least one entry.
        """
        raise NotImplementedError("day2.task1: SsTableBuilder.build — see book: Day 2, Task 1")


class SsTable:
    """An open, immutable SST: its block index in memory, its data blocks on disk.

    ``counters`` is the block cache's ``ReadCounters`` when the table has a cache,
    else the table's own. A table is safe to read from several threads at once.
    """

    def __init__(
        self,
        sst_id: int,
        file: FileObject,
        block_meta: list[BlockMeta],
        key_filter: KeyFilter | None,
        block_cache: BlockCache | None,
        *,
        checksums: bool = False,
    ) -> None:
        """The table over an open ``file`` whose meta section and filter are already read.

        ``block_meta`` holds at least one block; ``checksums`` says whether each block's
        crc slot holds a checksum to verify on read. ``SsTableBuilder.build`` calls this
        with what it just wrote; ``SsTable.open`` with what it read back.
        """
        raise NotImplementedError("day2.task1: SsTable.__init__ — see book: Day 2, Task 1")

    @classmethod
    def open(cls, sst_id: int, path: str | os.PathLike[str], block_cache: BlockCache | None) -> SsTable:
        """Open the SST at ``path``: read and check its footer, meta section and filter.

        No data block is read. Damage raises ``CorruptionError`` naming the file.
        Two reads (the footer, then everything from the meta section to the footer).
        """
        raise NotImplementedError("day2.task2: SsTable.open — see book: Day 2, Task 2")

    def num_blocks(self) -> int:
        """How many data blocks the table holds."""
        raise NotImplementedError("day2.task2: SsTable.num_blocks — see book: Day 2, Task 2")

    def read_block(self, block_idx: int) -> Block:
        """Read block ``block_idx`` from disk, check it and decode it. O(block size).

        A block whose checksum matched is decoded as ``verified``: the checksum has
        already vouched for every byte, so the entry walk would only repeat it.

        Counts one ``blocks_read``. Damage raises ``CorruptionError`` naming the file
        and the block; an index outside ``0..num_blocks()-1`` raises ``IndexError``.
        """
        raise NotImplementedError("day2.task2: SsTable.read_block — see book: Day 2, Task 2")

    def read_block_cached(self, block_idx: int, fill_cache: bool = True) -> Block:
        """Block ``block_idx`` through the block cache: from memory on a hit, from disk on a miss.

        With ``fill_cache=False`` a block read from disk is not kept (see
        ``BlockCache.get_or_load``). A table without a cache reads the block from disk
        every time (tasks 1-3 need only that branch; task 4 adds the cache).
        """
        if self.block_cache is None:
            return self.read_block(block_idx)
        raise NotImplementedError("day2.task4: SsTable.read_block_cached — see book: Day 2, Task 4")

    def find_block_idx(self, key: bytes) -> int:
        """The first block whose last key is ``>= key``: the only block that can hold the first entry ``>= key``.

        ``num_blocks()`` when ``key`` is after the table's last key. A binary search
        over the blocks' last keys: O(log blocks), no disk read.
        """
        raise NotImplementedError("day2.task2: SsTable.find_block_idx — see book: Day 2, Task 2")

    def may_contain(self, key: bytes) -> bool:
        """``False`` when ``key`` is certainly not in the table; ``True`` when it may be.

        ``False`` when the key is outside ``[first_key, last_key]``, or when the filter
        (day 7) rules it out, which counts one ``filter_negatives``. No disk read.
        """
        raise NotImplementedError("day2.task2: SsTable.may_contain — see book: Day 2, Task 2")

    def close(self) -> None:
        """Release the file (idempotent); the table must not be read afterwards."""
        raise NotImplementedError("day2.task2: SsTable.close — see book: Day 2, Task 2")


class SsTableIterator:
    """A cursor over one table's entries in key order, crossing from block to block.

    It holds one block at a time, read through ``SsTable.read_block_cached``. Seeking
    reads at most one block; ``next`` reads a block only when it crosses into it.
    ``fill_cache=False`` reads without keeping the blocks it loads (a compaction's reads).
    """

    def __init__(self, table: SsTable, fill_cache: bool = True) -> None:
        """An iterator over ``table`` that is not positioned yet (not valid)."""
        raise NotImplementedError("day2.task3: SsTableIterator.__init__ — see book: Day 2, Task 3")

    @classmethod
    def create_and_seek_to_first(cls, table: SsTable, fill_cache: bool = True) -> SsTableIterator:
        """An iterator positioned on the table's first entry."""
        iterator = cls(table, fill_cache)
        iterator.seek_to_first()
        return iterator

    @classmethod
    def create_and_seek_to_key(cls, table: SsTable, key: bytes, fill_cache: bool = True) -> SsTableIterator:
        """An iterator positioned on the first entry whose key is ``>= key``."""
        iterator = cls(table, fill_cache)
        iterator.seek_to_key(key)
        return iterator

    def key(self) -> bytes:
        """The current key (only while ``is_valid()``)."""
        raise NotImplementedError("day2.task3: SsTableIterator.key — see book: Day 2, Task 3")

    def value(self) -> bytes | None:
        """The current value; ``None`` for a tombstone."""
        raise NotImplementedError("day2.task3: SsTableIterator.value — see book: Day 2, Task 3")

    def is_valid(self) -> bool:
        """Whether the iterator is on an entry."""
        raise NotImplementedError("day2.task3: SsTableIterator.is_valid — see book: Day 2, Task 3")

    def next(self) -> None:
        """Move to the next entry, into the next block when this one is done."""
        raise NotImplementedError("day2.task3: SsTableIterator.next — see book: Day 2, Task 3")

    def seek_to_first(self) -> None:
        """Move to the table's first entry."""
        raise NotImplementedError("day2.task3: SsTableIterator.seek_to_first — see book: Day 2, Task 3")

    def seek_to_key(self, key: bytes) -> None:
        """Move to the first entry whose key is ``>= key`` (invalid if there is none).

        Reads at most one block: the one ``find_block_idx`` names.
        """
        raise NotImplementedError("day2.task3: SsTableIterator.seek_to_key — see book: Day 2, Task 3")

    def num_active_iterators(self) -> int:
        """An SST iterator is a single iterator."""
        return 1
