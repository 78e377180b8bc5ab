"""Day 1: blocks, the unit in which an SSTable is written and read.

A block holds a sorted run of entries, followed by the offset of each entry, so
that a reader can binary-search a block without decoding all of it. All integers
are little-endian. Layout (see the book, Day 1, "The block format"):

    entry 0 | entry 1 | ... | entry n-1 | offset 0 (u16) | ... | offset n-1 (u16) | n (u16)

and each entry is

    key_overlap (u16) | key_rest_len (u16) | kind (u8) | value_len (u32) | key_rest | value

``key_overlap`` is how many leading bytes the key shares with the block's first key
(always 0 until day 7's prefix compression); ``kind`` tells a value (0) from a
tombstone (1), so an empty value and a delete stay distinct.
"""

from __future__ import annotations

import struct

from tinylsm.errors import CorruptionError
from tinylsm.options import MAX_KEY_SIZE, LsmStorageOptions

ENTRY_HEADER = struct.Struct("<HHBI")
"""key_overlap, key_rest_len, kind, value_len: the fixed 9 bytes before each entry's bytes."""

OFFSET = struct.Struct("<H")
"""One entry offset, and the entry count at the very end of the block."""

KIND_VALUE = 0
KIND_TOMBSTONE = 1


class BlockBuilder:
    """Collects sorted entries until the block is full, then builds a ``Block``.

    The builder's size estimate counts everything ``Block.encode`` will write, so a
    built block never exceeds ``options.block_size`` unless its only entry alone is
    larger (the first entry is always accepted, however large).
    """

    def __init__(self, options: LsmStorageOptions) -> None:
        """An empty builder for blocks of ``options.block_size`` bytes."""
        raise NotImplementedError("day1.task1: BlockBuilder.__init__ — see book: Day 1, Task 1")

    def add(self, key: bytes, value: bytes | None) -> bool:
        """Append an entry (``value=None`` is a tombstone); ``False`` if the block is full.

        Keys must arrive in strictly ascending order. O(len(key) + len(value)).
        """
        raise NotImplementedError("day1.task1: BlockBuilder.add — see book: Day 1, Task 1")

    def estimated_size(self) -> int:
        """The size in bytes that ``build().encode()`` would have now."""
        raise NotImplementedError("day1.task1: BlockBuilder.estimated_size — see book: Day 1, Task 1")

    def is_empty(self) -> bool:
        """Whether no entry has been added."""
        raise NotImplementedError("day1.task1: BlockBuilder.is_empty — see book: Day 1, Task 1")

    def build(self) -> Block:
        """The block of every entry added so far (at least one)."""
        raise NotImplementedError("day1.task1: BlockBuilder.build — see book: Day 1, Task 1")


class Block:
    """A block in memory: the entry bytes and the offset where each entry starts.

    ``keys`` stays ``None`` until ``unpack_keys`` fills it: a block read once is
    searched in its bytes, and only a block read again and again (the block cache
    decides) is worth a list of its keys to ``bisect``.
    """

    __slots__ = ("data", "keys", "offsets")

    def __init__(self, data: bytes, offsets: list[int]) -> None:
        self.data = data
        self.offsets = offsets
        self.keys: list[bytes] | None = None

    def __len__(self) -> int:
        """The number of entries."""
        return len(self.offsets)

    def entries(self) -> list[tuple[bytes, bytes | None]]:
        """Every entry as a ``(key, value)`` pair, in order; ``None`` for a tombstone. O(n).

        One pass over the bytes, for a reader that wants every entry (a compaction
        reads each block once, whole): a ``BlockIterator`` would cost several Python
        calls an entry. Only for a block that a builder built or ``decode`` accepted:
        the entries are not checked again.
        """
        raise NotImplementedError("day1.task2: Block.entries — see book: Day 1, Task 2")

    def unpack_keys(self) -> None:
        """Fill ``keys`` with every entry's whole key, in order (a no-op once filled). O(n).

        Only for a block that a builder built or ``decode`` accepted: the entries are
        not checked again. The list is complete before it is published, so a reader
        in another thread sees either no list or all of it.
        """
        raise NotImplementedError("day1.task2: Block.unpack_keys — see book: Day 1, Task 2")

    def encode(self) -> bytes:
        """The block as it is stored on disk. O(n)."""
        raise NotImplementedError("day1.task2: Block.encode — see book: Day 1, Task 2")

    @classmethod
    def decode(cls, raw: bytes, *, verified: bool = False) -> Block:
        """Read a block written by ``encode``; damaged bytes raise ``CorruptionError``.

        Every entry is checked once to lie exactly between its offset and the next,
        so that iterating the block later cannot fail. O(n). ``verified=True`` says
        that the caller has already matched ``raw`` against a checksum (day 7): the
        bytes are the ones a builder wrote, so only the count and the offsets are
        read, without walking the entries.
        """
        raise NotImplementedError("day1.task2: Block.decode — see book: Day 1, Task 2")


class BlockIterator:
    """A cursor over one block's entries, in key order.

    On a block in its bytes, ``seek_to_key`` is a binary search over the offsets:
    O(log n) entry decodes. On a block whose keys are unpacked (``Block.unpack_keys``)
    it is a ``bisect`` of the keys list, and moving takes the key from the list
    instead of rebuilding it; values are always read from the bytes. An iterator
    reads the block the way it found it when created.
    """

    def __init__(self, block: Block) -> None:
        """An iterator over ``block`` that is not positioned yet (not valid)."""
        raise NotImplementedError("day1.task3: BlockIterator.__init__ — see book: Day 1, Task 3")

    @classmethod
    def create_and_seek_to_first(cls, block: Block) -> BlockIterator:
        """An iterator positioned on the block's first entry."""
        iterator = cls(block)
        iterator.seek_to_first()
        return iterator

    @classmethod
    def create_and_seek_to_key(cls, block: Block, key: bytes) -> BlockIterator:
        """An iterator positioned on the first entry whose key is ``>= key``."""
        iterator = cls(block)
        iterator.seek_to_key(key)
        return iterator

    def key(self) -> bytes:
        """The current key."""
        raise NotImplementedError("day1.task3: BlockIterator.key — see book: Day 1, Task 3")

    def value(self) -> bytes | None:
        """The current value; ``None`` for a tombstone."""
        raise NotImplementedError("day1.task3: BlockIterator.value — see book: Day 1, Task 3")

    def is_valid(self) -> bool:
        """Whether the iterator is on an entry."""
        raise NotImplementedError("day1.task3: BlockIterator.is_valid — see book: Day 1, Task 3")

    def next(self) -> None:
        """Move to the next entry."""
        raise NotImplementedError("day1.task3: BlockIterator.next — see book: Day 1, Task 3")

    def seek_to_first(self) -> None:
        """Move to the first entry."""
        raise NotImplementedError("day1.task3: BlockIterator.seek_to_first — see book: Day 1, Task 3")

    def seek_to_key(self, key: bytes) -> None:
        """Move to the first entry whose key is ``>= key`` (invalid if there is none)."""
        raise NotImplementedError("day1.task3: BlockIterator.seek_to_key — see book: Day 1, Task 3")

    def num_active_iterators(self) -> int:
        """A block iterator is a single iterator."""
        return 1
