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

# BEGIN SOLUTION
import threading

from sortedcontainers import SortedDict

# END SOLUTION


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
        # BEGIN SOLUTION day3.task1
        self.id = memtable_id
        self.options = options
        self._map: SortedDict = SortedDict()
        self._keys = self._map.keys()
        self._lock = threading.Lock()
        self._size = 0
        # END SOLUTION

    def put(self, key: bytes, value: bytes | None) -> None:
        """Set ``key`` to ``value``; ``None`` writes a tombstone. O(log n)."""
        # BEGIN SOLUTION day3.task1
        size = 0 if value is None else len(value)
        with self._lock:
            old = self._map.get(key, ABSENT)
            if old is ABSENT:
                size += len(key)
            elif old is not None:
                size -= len(old)
            self._map[key] = value
            self._size += size
        # END SOLUTION

    def delete(self, key: bytes) -> None:
        """Write a tombstone for ``key``: the same as ``put(key, None)``."""
        self.put(key, None)

    def get(self, key: bytes) -> bytes | Absent | None:
        """The value of ``key``: bytes, ``None`` for a tombstone, ``ABSENT`` if not here. O(1).

        ``ABSENT`` tells the caller to go on looking in older tables; ``None`` tells it
        to stop, because the key was deleted.
        """
        # BEGIN SOLUTION day3.task1
        # No lock: a lookup in the dict underneath is a single atomic step, and an
        # entry, once in the memtable, is only ever replaced, never removed.
        return self._map.get(key, ABSENT)
        # END SOLUTION

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
        # BEGIN SOLUTION day3.task1
        entries = self._map
        with self._lock:
            if start is None:
                low = 0
            elif include_start:
                low = entries.bisect_left(start)
            else:
                low = entries.bisect_right(start)
            if stop is None:
                high = len(entries)
            elif include_stop:
                high = entries.bisect_right(stop)
            else:
                high = entries.bisect_left(stop)
            if low >= high:
                return MemTableIterator([], [])
            keys = self._keys[low:high]
            values = list(map(entries.__getitem__, keys))
        return MemTableIterator(keys, values)
        # END SOLUTION

    def flush(self, builder: EntrySink) -> None:
        """Add every entry, tombstones included, in ascending key order to ``builder``.

        Like a full ``scan``, it first copies the entries under the lock. O(n).
        """
        # BEGIN SOLUTION day3.task1
        entries = self._map
        with self._lock:
            keys = list(self._keys)
            values = list(map(entries.__getitem__, keys))
        add = builder.add
        for key, value in zip(keys, values, strict=True):
            add(key, value)
        # END SOLUTION

    def approximate_size(self) -> int:
        """Bytes of keys and values held: the sum over entries of ``len(key) + len(value)``.

        A tombstone's value counts as 0 bytes; overwriting a key replaces the old
        value's length with the new one's. The engine freezes the memtable once this
        reaches ``options.target_sst_size``. O(1).
        """
        # BEGIN SOLUTION day3.task1
        return self._size
        # END SOLUTION

    def is_empty(self) -> bool:
        """Whether no entry (not even a tombstone) has been written."""
        # BEGIN SOLUTION day3.task1
        return not self._map
        # END SOLUTION

    def __len__(self) -> int:
        """The number of distinct keys written, tombstones included."""
        # BEGIN SOLUTION day3.task1
        return len(self._map)
        # END SOLUTION


class MemTableIterator:
    """A ``StorageIterator`` over a copy of some of a memtable's entries.

    ``keys`` are ascending and ``values[i]`` belongs to ``keys[i]`` (``None`` for a
    tombstone). The iterator starts on the first entry; every step is O(1).
    """

    def __init__(self, keys: list[bytes], values: list[bytes | None]) -> None:
        """An iterator positioned on the first of the given entries (invalid if none)."""
        # BEGIN SOLUTION day3.task1
        self._keys = keys
        self._values = values
        self._index = 0
        self._end = len(keys)
        # END SOLUTION

    def key(self) -> bytes:
        """The current key."""
        # BEGIN SOLUTION day3.task1
        return self._keys[self._index]
        # END SOLUTION

    def value(self) -> bytes | None:
        """The current value; ``None`` for a tombstone."""
        # BEGIN SOLUTION day3.task1
        return self._values[self._index]
        # END SOLUTION

    def is_valid(self) -> bool:
        """Whether the iterator is on an entry."""
        # BEGIN SOLUTION day3.task1
        return self._index < self._end
        # END SOLUTION

    def next(self) -> None:
        """Move to the next entry."""
        # BEGIN SOLUTION day3.task1
        if self._index < self._end:
            self._index += 1
        # END SOLUTION

    def num_active_iterators(self) -> int:
        """A memtable iterator is a single iterator."""
        return 1
