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

# BEGIN SOLUTION
from bisect import bisect_left

# END SOLUTION
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
    # BEGIN SOLUTION day2.task1
    parts = [META_COUNT.pack(len(metas))]
    for meta in metas:
        parts.append(META_ENTRY_HEAD.pack(meta.offset, meta.size))
        parts.append(KEY_LEN.pack(len(meta.first_key)))
        parts.append(meta.first_key)
        parts.append(KEY_LEN.pack(len(meta.last_key)))
        parts.append(meta.last_key)
    return b"".join(parts)
    # END SOLUTION


def decode_block_meta(raw: bytes) -> list[BlockMeta]:
    """Read a meta section written by ``encode_block_meta``.

    Raises ``CorruptionError`` (without a file name: ``SsTable.open`` adds it) unless
    ``raw`` holds exactly the entries its count announces. O(len(raw)).
    """
    # BEGIN SOLUTION day2.task1
    raw = bytes(raw)
    end = len(raw)
    if end < META_COUNT.size:
        raise CorruptionError(f"block meta of {end} bytes is too short to hold its count")
    (count,) = META_COUNT.unpack_from(raw, 0)
    smallest_entry = META_ENTRY_HEAD.size + 2 * KEY_LEN.size
    if count * smallest_entry > end - META_COUNT.size:
        raise CorruptionError(f"block meta of {end} bytes cannot hold {count} entries")
    metas = []
    pos = META_COUNT.size
    head_size, len_size = META_ENTRY_HEAD.size, KEY_LEN.size
    for index in range(count):
        if pos + head_size + len_size > end:
            raise CorruptionError(f"block meta entry {index} at offset {pos} is cut short")
        offset, size = META_ENTRY_HEAD.unpack_from(raw, pos)
        pos += head_size
        (first_len,) = KEY_LEN.unpack_from(raw, pos)
        pos += len_size
        first_key = raw[pos : pos + first_len]
        pos += first_len
        if pos + len_size > end:
            raise CorruptionError(f"block meta entry {index} is cut short in its first key")
        (last_len,) = KEY_LEN.unpack_from(raw, pos)
        pos += len_size
        last_key = raw[pos : pos + last_len]
        pos += last_len
        if pos > end:
            raise CorruptionError(f"block meta entry {index} is cut short in its last key")
        metas.append(BlockMeta(offset, size, first_key, last_key))
    if pos != end:
        raise CorruptionError(f"block meta has {end - pos} bytes after its {count} entries")
    return metas
    # END SOLUTION


class SsTableBuilder:
    """Writes sorted entries into blocks, then the whole SST file in one go.

    Blocks are encoded as soon as they are full, so memory holds the encoded file
    (about its final size) and one open block. ``add`` is O(len(key) + len(value)).
    A builder builds one table.
    """

    def __init__(self, options: LsmStorageOptions) -> None:
        """An empty builder whose blocks hold about ``options.block_size`` bytes."""
        # BEGIN SOLUTION day2.task1
        self._options = options
        self._builder = BlockBuilder(options)
        self._checksum = checksum_function(options)
        self._filter = filter_builder(options)
        self._parts: list[bytes] = []
        self._data_size = 0
        self._metas: list[BlockMeta] = []
        self._block_first_key: bytes | None = None
        self._block_last_key = b""
        # END SOLUTION

    def add(self, key: bytes, value: bytes | None) -> None:
        """Append an entry (``value=None`` is a tombstone); keys strictly ascending.

        A key out of order raises ``ValueError``.
        """
        # BEGIN SOLUTION day2.task1
        if not self._builder.add(key, value):  # full: it checked the key order first
            self._finish_block()
            self._builder = BlockBuilder(self._options)
            self._builder.add(key, value)
            self._block_first_key = key
        elif self._block_first_key is None:
            self._block_first_key = key
        self._block_last_key = key
        if self._filter is not None:
            self._filter.add_key(key)
        # END SOLUTION

    def estimated_size(self) -> int:
        """The bytes written so far plus the open block: what the file would take without meta and footer."""
        # BEGIN SOLUTION day2.task1
        return self._data_size + self._builder.estimated_size()
        # END SOLUTION

    def is_empty(self) -> bool:
        """Whether no entry has been added."""
        # BEGIN SOLUTION day2.task1
        return self._block_first_key is None
        # END SOLUTION

    def build(self, sst_id: int, path: str | os.PathLike[str], block_cache: BlockCache | None) -> SsTable:
        """Write the file at ``path`` (which must not exist) and return it as an open table.

        An empty builder raises ``ValueError``: an SST holds at least one entry.
        """
        # BEGIN SOLUTION day2.task1
        if self._block_first_key is None:
            raise ValueError("cannot build an SST with no entries")
        self._finish_block()
        checksum = self._checksum
        parts = self._parts
        meta = encode_block_meta(self._metas)
        meta_offset = self._data_size
        parts.append(meta)
        parts.append(CRC.pack(checksum(meta) if checksum else 0))
        filter_bytes = self._filter.build() if self._filter is not None else b""
        filter_offset = meta_offset + len(meta) + CRC.size
        parts.append(filter_bytes)
        parts.append(CRC.pack(checksum(filter_bytes) if checksum else 0))
        flags = FLAG_CHECKSUMS if checksum else 0
        footer = bytearray(
            FOOTER.pack(meta_offset, len(meta), filter_offset, len(filter_bytes), FORMAT_VERSION, flags, 0, MAGIC)
        )
        if checksum:
            CRC.pack_into(footer, FOOTER_CRC_COVERS, checksum(bytes(footer[:FOOTER_CRC_COVERS])))
        parts.append(bytes(footer))
        file = FileObject.create(path, b"".join(parts))
        key_filter = decode_filter(filter_bytes) if filter_bytes else None
        return SsTable(sst_id, file, self._metas, key_filter, block_cache, checksums=bool(checksum))
        # END SOLUTION

    # BEGIN SOLUTION
    def _finish_block(self) -> None:
        """Encode the open block (never empty: ``add`` and ``build`` see to it) and note where it lies."""
        encoded = self._builder.build().encode()
        self._metas.append(BlockMeta(self._data_size, len(encoded), self._block_first_key, self._block_last_key))
        self._parts.append(encoded)
        self._parts.append(CRC.pack(self._checksum(encoded) if self._checksum else 0))
        self._data_size += len(encoded) + CRC.size

    # END SOLUTION


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
        # BEGIN SOLUTION day2.task1
        self.id = sst_id
        self.file = file
        self.path = file.path
        self.size = file.size
        self.block_meta = block_meta
        self.first_key = block_meta[0].first_key
        self.last_key = block_meta[-1].last_key
        self.block_cache = block_cache
        self.counters = block_cache.counters if block_cache is not None else ReadCounters()
        self._filter = key_filter
        self._checksums = checksums
        self._name = file.path.name
        self._last_keys = [meta.last_key for meta in block_meta]
        # END SOLUTION

    @classmethod
    def open(cls, sst_id: int, path: str | os.PathLike[str], block_cache: BlockCache | None) -> SsTable:
        """Open the SST at ``path``: read and check its footer, meta section and filter.

        No data block is read. Damage raises ``CorruptionError`` naming the file.
        Two reads (the footer, then everything from the meta section to the footer).
        """
        # BEGIN SOLUTION day2.task2
        file = FileObject.open(path)
        try:
            return cls._open_file(sst_id, file, block_cache)
        except BaseException:
            file.close()
            raise
        # END SOLUTION

    def num_blocks(self) -> int:
        """How many data blocks the table holds."""
        # BEGIN SOLUTION day2.task2
        return len(self.block_meta)
        # END SOLUTION

    def read_block(self, block_idx: int) -> Block:
        """Read block ``block_idx`` from disk, check it and decode it. O(block size).

        A block whose checksum matched is decoded as ``verified``: the checksum has
        already vouched for every byte, so the entry walk would only repeat it.

        Counts one ``blocks_read``. Damage raises ``CorruptionError`` naming the file
        and the block; an index outside ``0..num_blocks()-1`` raises ``IndexError``.
        """
        # BEGIN SOLUTION day2.task2
        if not 0 <= block_idx < len(self.block_meta):
            raise IndexError(f"{self._name} has {len(self.block_meta)} blocks, there is no block {block_idx}")
        meta = self.block_meta[block_idx]
        if self._checksums:
            raw = self.file.read(meta.offset, meta.size + CRC.size)
            data = raw[: meta.size]
            (stored,) = CRC.unpack_from(raw, meta.size)
            verify_checksum(data, stored, f"{self._name} block {block_idx}")
        else:
            data = self.file.read(meta.offset, meta.size)
        self.counters.blocks_read += 1
        try:
            return Block.decode(data, verified=self._checksums)
        except CorruptionError as error:
            raise CorruptionError(f"{self._name} block {block_idx} at offset {meta.offset}: {error}") from error
        # END SOLUTION

    def read_block_cached(self, block_idx: int, fill_cache: bool = True) -> Block:
        """Block ``block_idx`` through the block cache: from memory on a hit, from disk on a miss.

        With ``fill_cache=False`` a block read from disk is not kept (see
        ``BlockCache.get_or_load``). A table without a cache reads the block from disk
        every time (tasks 1-3 need only that branch; task 4 adds the cache).
        """
        if self.block_cache is None:
            return self.read_block(block_idx)
        # BEGIN SOLUTION day2.task4
        return self.block_cache.get_or_load(self.id, block_idx, lambda: self.read_block(block_idx), fill_cache)
        # END SOLUTION

    def find_block_idx(self, key: bytes) -> int:
        """The first block whose last key is ``>= key``: the only block that can hold the first entry ``>= key``.

        ``num_blocks()`` when ``key`` is after the table's last key. A binary search
        over the blocks' last keys: O(log blocks), no disk read.
        """
        # BEGIN SOLUTION day2.task2
        return bisect_left(self._last_keys, key)
        # END SOLUTION

    def may_contain(self, key: bytes) -> bool:
        """``False`` when ``key`` is certainly not in the table; ``True`` when it may be.

        ``False`` when the key is outside ``[first_key, last_key]``, or when the filter
        (day 7) rules it out, which counts one ``filter_negatives``. No disk read.
        """
        # BEGIN SOLUTION day2.task2
        if key < self.first_key or key > self.last_key:
            return False
        if self._filter is not None and not self._filter.may_contain(key):
            self.counters.filter_negatives += 1
            return False
        return True
        # END SOLUTION

    def close(self) -> None:
        """Release the file (idempotent); the table must not be read afterwards."""
        # BEGIN SOLUTION day2.task2
        self.file.close()
        # END SOLUTION

    # BEGIN SOLUTION
    @classmethod
    def _open_file(cls, sst_id: int, file: FileObject, block_cache: BlockCache | None) -> SsTable:
        name, size = file.path.name, file.size
        if size < FOOTER.size:
            raise CorruptionError(f"{name}: a {size}-byte file is too short to hold the {FOOTER.size}-byte footer")
        footer_start = size - FOOTER.size
        footer = file.read(footer_start, FOOTER.size)
        meta_offset, meta_size, filter_offset, filter_size, version, flags, footer_crc, magic = FOOTER.unpack(footer)
        if magic != MAGIC:
            raise CorruptionError(f"{name}: not an SST (the last 8 bytes are {magic!r}, not {MAGIC!r})")
        checksums = bool(flags & FLAG_CHECKSUMS)
        if checksums:
            verify_checksum(footer[:FOOTER_CRC_COVERS], footer_crc, f"{name} footer")
        elif footer_crc:
            raise CorruptionError(f"{name}: the footer has a checksum but its flags say the file carries none")
        if version != FORMAT_VERSION:
            raise CorruptionError(f"{name}: unsupported SST format version {version} (expected {FORMAT_VERSION})")
        if flags & ~FLAG_CHECKSUMS:
            raise CorruptionError(f"{name}: unsupported footer flags {flags:#06x}")
        if (
            meta_offset + meta_size + CRC.size != filter_offset
            or filter_offset + filter_size + CRC.size != footer_start
        ):
            raise CorruptionError(
                f"{name}: the footer's sections (meta {meta_size} bytes at offset {meta_offset}, filter "
                f"{filter_size} bytes at offset {filter_offset}) do not fit the {size}-byte file"
            )
        tail = file.read(meta_offset, footer_start - meta_offset)
        meta = tail[:meta_size]
        filter_start = meta_size + CRC.size
        filter_bytes = tail[filter_start : filter_start + filter_size]
        if checksums:
            verify_checksum(meta, CRC.unpack_from(tail, meta_size)[0], f"{name} block meta")
            verify_checksum(filter_bytes, CRC.unpack_from(tail, filter_start + filter_size)[0], f"{name} filter")
        try:
            block_meta = decode_block_meta(meta)
            _check_block_meta(block_meta, meta_offset)
            key_filter = decode_filter(filter_bytes) if filter_size else None
        except CorruptionError as error:
            raise CorruptionError(f"{name}: {error}") from error
        return cls(sst_id, file, block_meta, key_filter, block_cache, checksums=checksums)

    # END SOLUTION


# BEGIN SOLUTION
def _check_block_meta(metas: list[BlockMeta], data_end: int) -> None:
    """Raise ``CorruptionError`` unless the blocks tile ``[0, data_end)`` in ascending key order."""
    if not metas:
        raise CorruptionError("block meta lists no data block")
    expected_offset = 0
    previous_last_key = b""
    for index, meta in enumerate(metas):
        if meta.offset != expected_offset or meta.size == 0:
            raise CorruptionError(f"block meta entry {index} places a {meta.size}-byte block at offset {meta.offset}")
        if not meta.first_key or meta.first_key > meta.last_key or meta.first_key <= previous_last_key:
            raise CorruptionError(f"block meta entry {index} has keys out of order")
        expected_offset += meta.size + CRC.size
        previous_last_key = meta.last_key
    if expected_offset != data_end:
        raise CorruptionError(f"the data blocks end at offset {expected_offset}, the meta section starts at {data_end}")


# END SOLUTION
class SsTableIterator:
    """A cursor over one table's entries in key order, crossing from block to block.

    It holds one block at a time, read through ``SsTable.read_block_cached``. Seeking
    reads at most one block; ``next`` reads a block only when it crosses into it.
    ``fill_cache=False`` reads without keeping the blocks it loads (a compaction's reads).
    """

    def __init__(self, table: SsTable, fill_cache: bool = True) -> None:
        """An iterator over ``table`` that is not positioned yet (not valid)."""
        # BEGIN SOLUTION day2.task3
        self._table = table
        self._fill_cache = fill_cache
        self._num_blocks = table.num_blocks()
        self._block_idx = self._num_blocks
        self._block_iter: BlockIterator | None = None
        # END SOLUTION

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
        # BEGIN SOLUTION day2.task3
        return self._block_iter.key()
        # END SOLUTION

    def value(self) -> bytes | None:
        """The current value; ``None`` for a tombstone."""
        # BEGIN SOLUTION day2.task3
        return self._block_iter.value()
        # END SOLUTION

    def is_valid(self) -> bool:
        """Whether the iterator is on an entry."""
        # BEGIN SOLUTION day2.task3
        return self._block_iter is not None
        # END SOLUTION

    def next(self) -> None:
        """Move to the next entry, into the next block when this one is done."""
        # BEGIN SOLUTION day2.task3
        block_iter = self._block_iter
        block_iter.next()
        if not block_iter.is_valid():
            self._skip_finished_blocks()
        # END SOLUTION

    def seek_to_first(self) -> None:
        """Move to the table's first entry."""
        # BEGIN SOLUTION day2.task3
        self._open_block(0, None)
        self._skip_finished_blocks()
        # END SOLUTION

    def seek_to_key(self, key: bytes) -> None:
        """Move to the first entry whose key is ``>= key`` (invalid if there is none).

        Reads at most one block: the one ``find_block_idx`` names.
        """
        # BEGIN SOLUTION day2.task3
        self._open_block(self._table.find_block_idx(key), key)
        self._skip_finished_blocks()
        # END SOLUTION

    def num_active_iterators(self) -> int:
        """An SST iterator is a single iterator."""
        return 1

    # BEGIN SOLUTION
    def _open_block(self, block_idx: int, key: bytes | None) -> None:
        """Hold block ``block_idx``, on its first entry ``>= key`` (its first entry for ``None``).

        Past the last block the iterator holds nothing and is invalid.
        """
        self._block_idx = block_idx
        if block_idx >= self._num_blocks:
            self._block_iter = None
            return
        block = self._table.read_block_cached(block_idx, self._fill_cache)
        if key is None:
            self._block_iter = BlockIterator.create_and_seek_to_first(block)
        else:
            self._block_iter = BlockIterator.create_and_seek_to_key(block, key)

    def _skip_finished_blocks(self) -> None:
        """While the held block is used up, move on to the next block's first entry."""
        while self._block_iter is not None and not self._block_iter.is_valid():
            self._open_block(self._block_idx + 1, None)

    # END SOLUTION
