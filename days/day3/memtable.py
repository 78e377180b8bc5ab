"""Day 3: the memtable, the sorted in-memory table where every write lands first.

A memtable maps keys to values in key order. A delete is a write too: it stores a
tombstone (the value ``None``), because older copies of the key may still sit in
SSTables on disk, and only a newer tombstone can hide them. When the memtable has
grown to about ``options.target_sst_size`` bytes, the engine (day 4) freezes it and
later ``flush``es it, in key order, into an SSTable builder (day 2).

Several threads may call ``put``, ``get`` and ``scan`` at once. Writes and scans take
a lock; a point read does not need one (see ``MemTable.get``). A scan copies the
keys and values of its range while it holds the lock, so that writes made during
the scan can neither break nor reorder it.
"""

from __future__ import annotations

from typing import Protocol

from tinylsm.lookup import ABSENT, Absent
from tinylsm.options import LsmStorageOptions


class EntrySink(Protocol):
    """Anything that takes sorted entries one by one, e.g. day 2's ``SsTableBuilder``."""

    def add(self, key: bytes, value: bytes | None) -> object:
        """Append one entry; ``value=None`` is a tombstone."""
        ...


class MemTable:
    """A sorted map from keys to values or tombstones, safe to share between threads.

    Built on ``sortedcontainers.SortedDict``. Costs, for n entries and a scan that
    covers k of them: ``put`` O(log n); ``get`` O(1); ``scan`` O(log n + k) time and
    O(k) memory, all spent while holding the lock that writers also take.
    """

    def __init__(self, memtable_id: int, options: LsmStorageOptions) -> None:
        """An empty memtable; ``memtable_id`` orders memtables (a larger id is newer).

        The id is kept as the public attribute ``id``: ``MemTable(7, options).id == 7``.
        """
        raise NotImplementedError("day3.task1: MemTable.__init__ — see book: Day 3, Task 1")

    def put(self, key: bytes, value: bytes | None) -> None:
        """Set ``key`` to ``value``; ``None`` writes a tombstone. O(log n)."""
        raise NotImplementedError("day3.task1: MemTable.put — see book: Day 3, Task 1")

    def delete(self, key: bytes) -> None:
        """Write a tombstone for ``key``: the same as ``put(key, None)``."""
        self.put(key, None)

    def get(self, key: bytes) -> bytes | Absent | None:
        """The value of ``key``: bytes, ``None`` for a tombstone, ``ABSENT`` if not here. O(1).

        ``ABSENT`` tells the caller to go on looking in older tables; ``None`` tells it
        to stop, because the key was deleted.
        """
        raise NotImplementedError("day3.task1: MemTable.get — see book: Day 3, Task 1")

    def scan(
        self,
        start: bytes | None = None,
        stop: bytes | None = None,
        *,
        include_start: bool = True,
        include_stop: bool = False,
    ) -> MemTableIterator:
        """An iterator over the entries between ``start`` and ``stop``, tombstones included.

        ``None`` leaves that end of the range open; ``include_start`` and
        ``include_stop`` say whether an entry equal to a bound is part of the range.
        An empty range (e.g. ``start > stop``) gives an iterator that is not valid.

        The iterator sees the range as it was when ``scan`` was called: writes made
        afterwards, even to keys inside the range, are not seen. The copy costs
        O(log n + k) time and O(k) memory for k entries in the range, and writers
        wait while it is made.
        """
        raise NotImplementedError("day3.task1: MemTable.scan — see book: Day 3, Task 1")

    def flush(self, builder: EntrySink) -> None:
        """Add every entry, tombstones included, in ascending key order to ``builder``.

        Like a full ``scan``, it first copies the entries under the lock. O(n).
        """
        raise NotImplementedError("day3.task1: MemTable.flush — see book: Day 3, Task 1")

    def approximate_size(self) -> int:
        """Bytes of keys and values held: the sum over entries of ``len(key) + len(value)``.

        A tombstone's value counts as 0 bytes; overwriting a key replaces the old
        value's length with the new one's. The engine freezes the memtable once this
        reaches ``options.target_sst_size``. O(1).
        """
        raise NotImplementedError("day3.task1: MemTable.approximate_size — see book: Day 3, Task 1")

    def is_empty(self) -> bool:
        """Whether no entry (not even a tombstone) has been written."""
        raise NotImplementedError("day3.task1: MemTable.is_empty — see book: Day 3, Task 1")

    def __len__(self) -> int:
        """The number of distinct keys written, tombstones included."""
        raise NotImplementedError("day3.task1: MemTable.__len__ — see book: Day 3, Task 1")


class MemTableIterator:
    """A ``StorageIterator`` over a copy of some of a memtable's entries.

    ``keys`` are ascending and ``values[i]`` belongs to ``keys[i]`` (``None`` for a
    tombstone). The iterator starts on the first entry; every step is O(1).
    """

    def __init__(self, keys: list[bytes], values: list[bytes | None]) -> None:
        """An iterator positioned on the first of the given entries (invalid if none)."""
        raise NotImplementedError("day3.task1: MemTableIterator.__init__ — see book: Day 3, Task 1")

    def key(self) -> bytes:
        """The current key."""
        raise NotImplementedError("day3.task1: MemTableIterator.key — see book: Day 3, Task 1")

    def value(self) -> bytes | None:
        """The current value; ``None`` for a tombstone."""
        raise NotImplementedError("day3.task1: MemTableIterator.value — see book: Day 3, Task 1")

    def is_valid(self) -> bool:
        """Whether the iterator is on an entry."""
        raise NotImplementedError("day3.task1: MemTableIterator.is_valid — see book: Day 3, Task 1")

    def next(self) -> None:
        """Move to the next entry."""
        raise NotImplementedError("day3.task1: MemTableIterator.next — see book: Day 3, Task 1")

    def num_active_iterators(self) -> int:
        """A memtable iterator is a single iterator."""
        return 1
