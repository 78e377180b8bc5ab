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

import bisect
import struct

from tinylsm.errors import CorruptionError
from tinylsm.extensions import shared_prefix_function
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
        self.limit = options.block_size
        self.prefix_of = shared_prefix_function(options)
        self.buffer = bytearray()
        self.starts: list[int] = []
        self.first: bytes | None = None
        self.previous: bytes | None = None

    def add(self, key: bytes, value: bytes | None) -> bool:
        """Append an entry (``value=None`` is a tombstone); ``False`` if the block is full.

        Keys must arrive in strictly ascending order. O(len(key) + len(value)).
        """
        if len(key) == 0 or len(key) > MAX_KEY_SIZE:
            raise ValueError(f"key length {len(key)} is outside 1..{MAX_KEY_SIZE}")
        if self.previous is not None and not self.previous < key:
            raise ValueError("keys out of order")
        tombstone = value is None
        body = b"" if tombstone else value
        shared = 0 if self.first is None else self.prefix_of(self.first, key)
        suffix = key[shared:]
        grows_by = ENTRY_HEADER.size + len(suffix) + len(body) + OFFSET.size
        if self.starts and self.estimated_size() + grows_by > self.limit:
            return False
        self.starts.append(len(self.buffer))
        kind = KIND_TOMBSTONE if tombstone else KIND_VALUE
        self.buffer += ENTRY_HEADER.pack(shared, len(suffix), kind, len(body))
        self.buffer += suffix
        self.buffer += body
        if self.first is None:
            self.first = key
        self.previous = key
        return True

    def estimated_size(self) -> int:
        """The size in bytes that ``build().encode()`` would have now."""
        trailer = OFFSET.size * len(self.starts) + OFFSET.size
        return len(self.buffer) + trailer

    def is_empty(self) -> bool:
        """Whether no entry has been added."""
        return len(self.starts) == 0

    def build(self) -> Block:
        """The block of every entry added so far (at least one)."""
        if self.is_empty():
            raise ValueError("nothing to build: the builder is empty")
        return Block(bytes(self.buffer), self.starts[:])


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
        """Every entry as a ``(key, value)`` pair, in order; ``None`` for a tombstone. O(n)."""
        base = read_entry(self.data, 0, b"")[0]
        return [read_entry(self.data, at, base)[:2] for at in self.offsets]

    def unpack_keys(self) -> None:
        """Fill ``keys`` with every entry's whole key, in order (a no-op once filled). O(n).

        Only for a block that a builder built or ``decode`` accepted: the entries are
        not checked again. The list is complete before it is published, so a reader
        in another thread sees either no list or all of it.
        """
        if self.keys is None:
            base = read_entry(self.data, 0, b"")[0]
            self.keys = [read_entry(self.data, at, base)[0] for at in self.offsets]

    def encode(self) -> bytes:
        """The block as it is stored on disk. O(n)."""
        out = bytearray(self.data)
        for start in self.offsets:
            out += OFFSET.pack(start)
        out += OFFSET.pack(len(self.offsets))
        return bytes(out)

    @classmethod
    def decode(cls, raw: bytes, *, verified: bool = False) -> Block:
        """Read a block written by ``encode``; damaged bytes raise ``CorruptionError``.

        Every entry is checked once to lie exactly between its offset and the next,
        so that iterating the block later cannot fail. O(n). ``verified=True`` says
        that the caller has already matched ``raw`` against a checksum (day 7): the
        bytes are the ones a builder wrote, so only the count and the offsets are
        read, without walking the entries.
        """
        blob = bytes(raw)
        if len(blob) < 2:
            raise CorruptionError("block too short")
        n = OFFSET.unpack(blob[-2:])[0]
        table_at = len(blob) - 2 - 2 * n
        if n < 1 or table_at < 0:
            raise CorruptionError(f"bad entry count {n} for a block of {len(blob)} bytes")
        starts = [OFFSET.unpack_from(blob, table_at + 2 * i)[0] for i in range(n)]
        body = blob[:table_at]
        if not verified:
            walk_entries(body, starts)
        return cls(body, starts)


class BlockIterator:
    """A cursor over one block's entries, in key order.

    ``seek_to_key`` is a binary search over the offsets: O(log n) entry decodes.
    """

    def __init__(self, block: Block) -> None:
        """An iterator over ``block`` that is not positioned yet (not valid)."""
        self.block = block
        self.keys = block.keys
        self.position = -1
        self.current: tuple[bytes, bytes | None] | None = None
        self.base = read_entry(block.data, block.offsets[0], b"")[0]

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
        assert self.current is not None
        return self.current[0]

    def value(self) -> bytes | None:
        """The current value; ``None`` for a tombstone."""
        assert self.current is not None
        return self.current[1]

    def is_valid(self) -> bool:
        """Whether the iterator is on an entry."""
        return self.current is not None

    def next(self) -> None:
        """Move to the next entry."""
        self.go_to(self.position + 1)

    def seek_to_first(self) -> None:
        """Move to the first entry."""
        self.go_to(0)

    def seek_to_key(self, key: bytes) -> None:
        """Move to the first entry whose key is ``>= key`` (invalid if there is none)."""
        if self.keys is not None:
            self.go_to(bisect.bisect_left(self.keys, key))
            return
        low, high = 0, len(self.block.offsets)
        while low < high:
            middle = (low + high) // 2
            found = read_entry(self.block.data, self.block.offsets[middle], self.base)[0]
            if found < key:
                low = middle + 1
            else:
                high = middle
        self.go_to(low)

    def num_active_iterators(self) -> int:
        """A block iterator is a single iterator."""
        return 1

    def go_to(self, position: int) -> None:
        """Stand on entry number ``position``, or become invalid past the last one."""
        self.position = position
        if position >= len(self.block.offsets):
            self.current = None
        else:
            key, value, _ = read_entry(self.block.data, self.block.offsets[position], self.base)
            self.current = (key if self.keys is None else self.keys[position], value)


def read_entry(data: bytes, at: int, base: bytes) -> tuple[bytes, bytes | None, int]:
    """The key, the value (None for a tombstone) and the end of the entry starting at ``at``."""
    shared, suffix_len, kind, body_len = ENTRY_HEADER.unpack_from(data, at)
    cursor = at + ENTRY_HEADER.size
    key = base[:shared] + data[cursor : cursor + suffix_len]
    cursor += suffix_len
    value = None if kind == KIND_TOMBSTONE else data[cursor : cursor + body_len]
    return key, value, cursor + body_len


def walk_entries(data: bytes, starts: list[int]) -> None:
    """Decode every entry once; raise CorruptionError if they do not fit end to end in key order."""
    cursor = 0
    base = b""
    last: bytes | None = None
    for number, at in enumerate(starts):
        if at != cursor:
            raise CorruptionError(f"entry {number} starts at {at}, where {cursor} was expected")
        try:
            shared, suffix_len, kind, body_len = ENTRY_HEADER.unpack_from(data, at)
        except struct.error:
            raise CorruptionError(f"entry {number} is truncated") from None
        cursor = at + ENTRY_HEADER.size + suffix_len + body_len
        if cursor > len(data):
            raise CorruptionError(f"entry {number} runs past the end of the block")
        if not (kind == KIND_VALUE or (kind == KIND_TOMBSTONE and body_len == 0)):
            raise CorruptionError(f"entry {number} has a bad kind byte {kind}")
        possible = len(base) if number else 0
        if shared > possible or shared + suffix_len < 1:
            raise CorruptionError(f"entry {number} has a bad key length")
        key = read_entry(data, at, base)[0]
        if last is not None and key <= last:
            raise CorruptionError(f"entry {number} is out of order")
        base = base or key
        last = key
    if cursor != len(data):
        raise CorruptionError(f"{len(data) - cursor} bytes are left after the last entry")
