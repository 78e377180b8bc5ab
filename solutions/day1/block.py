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

# BEGIN SOLUTION
from bisect import bisect_left

from tinylsm.extensions import shared_prefix_function

# END SOLUTION
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
        # BEGIN SOLUTION day1.task1
        self._block_size = options.block_size
        self._shared_prefix = shared_prefix_function(options)
        self._parts: list[bytes] = []
        self._offsets: list[int] = []
        self._size = 0
        self._first_key = b""
        self._last_key = b""
        # END SOLUTION

    def add(self, key: bytes, value: bytes | None) -> bool:
        """Append an entry (``value=None`` is a tombstone); ``False`` if the block is full.

        Keys must arrive in strictly ascending order. O(len(key) + len(value)).
        """
        # BEGIN SOLUTION day1.task1
        if not 1 <= len(key) <= MAX_KEY_SIZE:
            raise ValueError(f"a key must be 1 to {MAX_KEY_SIZE:,} bytes (MAX_KEY_SIZE), got {len(key):,}")
        if self._offsets and key <= self._last_key:
            raise ValueError(f"keys must be added in ascending order: {key!r} after {self._last_key!r}")
        overlap = self._shared_prefix(self._first_key, key) if self._offsets else 0
        rest = key[overlap:]
        kind, payload = (KIND_TOMBSTONE, b"") if value is None else (KIND_VALUE, value)
        entry_size = ENTRY_HEADER.size + len(rest) + len(payload)
        if self._offsets and self.estimated_size() + entry_size + OFFSET.size > self._block_size:
            return False
        if not self._offsets:
            self._first_key = key
        self._offsets.append(self._size)
        self._parts.append(ENTRY_HEADER.pack(overlap, len(rest), kind, len(payload)))
        self._parts.append(rest)
        self._parts.append(payload)
        self._size += entry_size
        self._last_key = key
        return True
        # END SOLUTION

    def estimated_size(self) -> int:
        """The size in bytes that ``build().encode()`` would have now."""
        # BEGIN SOLUTION day1.task1
        return self._size + OFFSET.size * (len(self._offsets) + 1)
        # END SOLUTION

    def is_empty(self) -> bool:
        """Whether no entry has been added."""
        # BEGIN SOLUTION day1.task1
        return not self._offsets
        # END SOLUTION

    def build(self) -> Block:
        """The block of every entry added so far (at least one)."""
        # BEGIN SOLUTION day1.task1
        if not self._offsets:
            raise ValueError("cannot build an empty block")
        return Block(b"".join(self._parts), list(self._offsets))
        # END SOLUTION


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
        # BEGIN SOLUTION day1.task2
        data, header_size, unpack_header = self.data, ENTRY_HEADER.size, ENTRY_HEADER.unpack_from
        entries: list[tuple[bytes, bytes | None]] = []
        first_key = b""
        for start in self.offsets:
            overlap, rest_len, kind, value_len = unpack_header(data, start)
            start += header_size
            key = first_key[:overlap] + data[start : start + rest_len]
            start += rest_len
            entries.append((key, None if kind == KIND_TOMBSTONE else data[start : start + value_len]))
            first_key = first_key or key
        return entries
        # END SOLUTION

    def unpack_keys(self) -> None:
        """Fill ``keys`` with every entry's whole key, in order (a no-op once filled). O(n).

        Only for a block that a builder built or ``decode`` accepted: the entries are
        not checked again. The list is complete before it is published, so a reader
        in another thread sees either no list or all of it.
        """
        # BEGIN SOLUTION day1.task2
        if self.keys is not None:
            return
        self.keys = [key for key, _ in self.entries()]
        # END SOLUTION

    def encode(self) -> bytes:
        """The block as it is stored on disk. O(n)."""
        # BEGIN SOLUTION day1.task2
        count = len(self.offsets)
        return self.data + struct.pack(f"<{count}H", *self.offsets) + OFFSET.pack(count)
        # END SOLUTION

    @classmethod
    def decode(cls, raw: bytes, *, verified: bool = False) -> Block:
        """Read a block written by ``encode``; damaged bytes raise ``CorruptionError``.

        Every entry is checked once to lie exactly between its offset and the next,
        so that iterating the block later cannot fail. O(n). ``verified=True`` says
        that the caller has already matched ``raw`` against a checksum (day 7): the
        bytes are the ones a builder wrote, so only the count and the offsets are
        read, without walking the entries.
        """
        # BEGIN SOLUTION day1.task2
        raw = bytes(raw)
        if len(raw) < OFFSET.size:
            raise CorruptionError(f"block of {len(raw)} bytes is too short to hold its entry count")
        (count,) = OFFSET.unpack_from(raw, len(raw) - OFFSET.size)
        data_end = len(raw) - OFFSET.size * (count + 1)
        if count == 0 or data_end < 0:
            raise CorruptionError(f"block of {len(raw)} bytes cannot hold {count} entries")
        offsets = list(struct.unpack_from(f"<{count}H", raw, data_end))
        data = raw[:data_end]
        if not verified:
            _check_entries(data, offsets)
        return cls(data, offsets)
        # END SOLUTION


# BEGIN SOLUTION
def _check_entries(data: bytes, offsets: list[int]) -> None:
    """Raise ``CorruptionError`` unless the entries tile ``data`` exactly, keys ascending."""
    if offsets[0] != 0:
        raise CorruptionError(f"the first block entry starts at offset {offsets[0]}, not 0")
    ends = [*offsets[1:], len(data)]
    first_key = previous_key = b""
    for index, (start, end) in enumerate(zip(offsets, ends, strict=True)):
        if end - start < ENTRY_HEADER.size or end > len(data):
            raise CorruptionError(f"block entry {index} at offset {start} is cut short")
        overlap, rest_len, kind, value_len = ENTRY_HEADER.unpack_from(data, start)
        key_start = start + ENTRY_HEADER.size
        if key_start + rest_len + value_len != end:
            raise CorruptionError(f"block entry {index} at offset {start} does not end where the next begins")
        if overlap > len(first_key) or (index == 0 and overlap) or overlap + rest_len == 0:
            raise CorruptionError(f"block entry {index} at offset {start} has an impossible key length")
        if kind > KIND_TOMBSTONE or (kind == KIND_TOMBSTONE and value_len):
            raise CorruptionError(f"block entry {index} at offset {start} has an unknown kind {kind}")
        key = first_key[:overlap] + data[key_start : key_start + rest_len]
        if index == 0:
            first_key = key
        elif key <= previous_key:
            raise CorruptionError(f"block entry {index} at offset {start} is out of key order")
        previous_key = key


# END SOLUTION
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
        # BEGIN SOLUTION day1.task3
        self._data = block.data
        self._offsets = block.offsets
        self._keys = block.keys
        self._index = len(block.offsets)
        self._key = b""
        self._value: bytes | None = None
        self._first_key = self._keys[0] if self._keys is not None else self._key_at_start()
        # END SOLUTION

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
        # BEGIN SOLUTION day1.task3
        return self._key
        # END SOLUTION

    def value(self) -> bytes | None:
        """The current value; ``None`` for a tombstone."""
        # BEGIN SOLUTION day1.task3
        return self._value
        # END SOLUTION

    def is_valid(self) -> bool:
        """Whether the iterator is on an entry."""
        # BEGIN SOLUTION day1.task3
        return self._index < len(self._offsets)
        # END SOLUTION

    def next(self) -> None:
        """Move to the next entry."""
        # BEGIN SOLUTION day1.task3
        self._seek_to_index(self._index + 1)
        # END SOLUTION

    def seek_to_first(self) -> None:
        """Move to the first entry."""
        # BEGIN SOLUTION day1.task3
        self._seek_to_index(0)
        # END SOLUTION

    def seek_to_key(self, key: bytes) -> None:
        """Move to the first entry whose key is ``>= key`` (invalid if there is none)."""
        # BEGIN SOLUTION day1.task3
        if self._keys is None:
            index = bisect_left(range(len(self._offsets)), key, key=self._key_at)
        else:
            index = bisect_left(self._keys, key)
        self._seek_to_index(index)
        # END SOLUTION

    def num_active_iterators(self) -> int:
        """A block iterator is a single iterator."""
        return 1

    # BEGIN SOLUTION
    def _key_at_start(self) -> bytes:
        """The first entry's key: whole, since it shares no prefix with an earlier key."""
        _, rest_len, _, _ = ENTRY_HEADER.unpack_from(self._data, 0)
        return self._data[ENTRY_HEADER.size : ENTRY_HEADER.size + rest_len]

    def _key_at(self, index: int) -> bytes:
        start = self._offsets[index]
        overlap, rest_len, _, _ = ENTRY_HEADER.unpack_from(self._data, start)
        start += ENTRY_HEADER.size
        return self._first_key[:overlap] + self._data[start : start + rest_len]

    def _seek_to_index(self, index: int) -> None:
        self._index = index
        if index >= len(self._offsets):
            self._key, self._value = b"", None
            return
        start = self._offsets[index]
        overlap, rest_len, kind, value_len = ENTRY_HEADER.unpack_from(self._data, start)
        start += ENTRY_HEADER.size
        if self._keys is None:
            self._key = self._first_key[:overlap] + self._data[start : start + rest_len]
        else:
            self._key = self._keys[index]
        start += rest_len
        self._value = None if kind == KIND_TOMBSTONE else self._data[start : start + value_len]

    # END SOLUTION
