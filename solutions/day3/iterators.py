"""Day 3: iterators that combine other iterators into one sorted stream of entries.

* ``MergeIterator`` merges any number of iterators, of any mix of kinds (the engine
  gives it one kind at a time: the memtables, or the L0 SSTables; a test may nest
  merges or mix memtables and tables). When several hold a key, the one earliest in the list wins:
  callers put the newest data first.
* ``TwoMergeIterator`` merges two iterators of possibly different kinds (memtables
  over SSTables); on a key that both hold, the first one wins.
* ``ConcatIterator`` walks the tables of one sorted level, whose key ranges do not
  overlap, opening one table at a time.

Like their children, all three surface tombstones as entries whose value is
``None``. If a child raises (a damaged file, say), the exception reaches the caller
unchanged. The combined iterator is then *failed*: ``is_valid()`` is ``False`` and
``next()`` raises ``LsmError``, because its children are left half-advanced and
nothing it could return after that would be trustworthy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from tinylsm.errors import LsmError
from tinylsm.storage_iterator import StorageIterator

# BEGIN SOLUTION
from bisect import bisect_left
from heapq import heapify, heappop, heapreplace
from operator import attrgetter

_last_key = attrgetter("last_key")


def _unusable(error: BaseException) -> LsmError:
    """The error a failed iterator raises when it is advanced again."""
    return LsmError(f"this iterator cannot be used any more: one of its children raised {error!r}")


# END SOLUTION


class MergeIterator:
    """Merges iterators whose keys each ascend into one ascending stream without duplicates.

    A heap holds ``(key, index)`` for every child that is still valid, so the
    smallest key comes first and, among equal keys, the smallest index: that child
    is the current entry, and every other child on the same key is moved past it
    by ``next()``. For k children: creating costs O(k); each ``next()`` costs
    O(log k) for every child it advances.
    """

    def __init__(self, iters: list[StorageIterator]) -> None:
        """Merge ``iters``; index 0 holds the newest data. Invalid children are skipped."""
        # BEGIN SOLUTION day3.task2
        self._iters = iters
        heap = [(child.key(), index) for index, child in enumerate(iters) if child.is_valid()]
        heapify(heap)
        self._heap = heap
        self._error: BaseException | None = None
        if heap:
            self._key, index = heap[0]
            self._current: StorageIterator | None = iters[index]
        else:
            self._key, self._current = b"", None
        # END SOLUTION

    @classmethod
    def create(cls, iters: list[StorageIterator]) -> MergeIterator:
        """The same as ``MergeIterator(iters)``."""
        return cls(iters)

    def key(self) -> bytes:
        """The current key."""
        # BEGIN SOLUTION day3.task2
        return self._key
        # END SOLUTION

    def value(self) -> bytes | None:
        """The current value, from the earliest child that holds the current key."""
        # BEGIN SOLUTION day3.task2
        return self._current.value()  # type: ignore[union-attr]
        # END SOLUTION

    def is_valid(self) -> bool:
        """Whether the merge is on an entry (``False`` once exhausted, or failed)."""
        # BEGIN SOLUTION day3.task2
        return self._current is not None
        # END SOLUTION

    def next(self) -> None:
        """Move past the current key in every child that is on it.

        An error from a child propagates, and leaves the merge failed; ``next()`` on
        a failed merge raises ``LsmError``.
        """
        # BEGIN SOLUTION day3.task2
        child = self._current
        if child is None:
            if self._error is not None:
                raise _unusable(self._error) from self._error
            return
        heap, iters, key = self._heap, self._iters, self._key
        index = heap[0][1]
        try:
            while True:
                child.next()
                if child.is_valid():
                    heapreplace(heap, (child.key(), index))
                else:
                    heappop(heap)
                    if not heap:
                        self._current = None
                        return
                top_key, index = heap[0]
                if top_key != key:
                    break
                child = iters[index]
        except BaseException as error:
            self._error, self._current = error, None
            heap.clear()
            raise
        self._key = top_key
        self._current = iters[index]
        # END SOLUTION

    def num_active_iterators(self) -> int:
        """The sum of ``num_active_iterators()`` over the children that are still valid."""
        # BEGIN SOLUTION day3.task2
        iters = self._iters
        return sum(iters[index].num_active_iterators() for _, index in self._heap)
        # END SOLUTION


class TwoMergeIterator:
    """Merges two ascending iterators, possibly of different kinds; ``a`` wins ties.

    Each ``next()`` costs one child step, plus one more when both children were on
    the same key.
    """

    def __init__(self, a: StorageIterator, b: StorageIterator) -> None:
        """Merge ``a`` (newer data) over ``b`` (older data)."""
        # BEGIN SOLUTION day3.task3
        self._a = a
        self._b = b
        self._error: BaseException | None = None
        self._current: StorageIterator | None = None
        self._choose()
        # END SOLUTION

    @classmethod
    def create(cls, a: StorageIterator, b: StorageIterator) -> TwoMergeIterator:
        """The same as ``TwoMergeIterator(a, b)``."""
        return cls(a, b)

    # BEGIN SOLUTION
    def _choose(self) -> None:
        """Point ``_current`` at the child with the smaller key, moving ``b`` off a tie."""
        a, b = self._a, self._b
        if a.is_valid():
            if b.is_valid():
                a_key, b_key = a.key(), b.key()
                if b_key < a_key:
                    self._current = b
                    return
                if a_key == b_key:
                    b.next()
            self._current = a
        elif b.is_valid():
            self._current = b
        else:
            self._current = None

    # END SOLUTION
    def key(self) -> bytes:
        """The current key."""
        # BEGIN SOLUTION day3.task3
        return self._current.key()  # type: ignore[union-attr]
        # END SOLUTION

    def value(self) -> bytes | None:
        """The current value (``a``'s when both hold the key)."""
        # BEGIN SOLUTION day3.task3
        return self._current.value()  # type: ignore[union-attr]
        # END SOLUTION

    def is_valid(self) -> bool:
        """Whether the merge is on an entry (``False`` once exhausted, or failed)."""
        # BEGIN SOLUTION day3.task3
        return self._current is not None
        # END SOLUTION

    def next(self) -> None:
        """Move to the next key; an error from a child propagates and fails the merge."""
        # BEGIN SOLUTION day3.task3
        current = self._current
        if current is None:
            if self._error is not None:
                raise _unusable(self._error) from self._error
            return
        try:
            current.next()
            self._choose()
        except BaseException as error:
            self._error, self._current = error, None
            raise
        # END SOLUTION

    def num_active_iterators(self) -> int:
        """The active iterators of ``a`` plus those of ``b`` (a child that is not valid counts 0)."""
        # BEGIN SOLUTION day3.task3
        if self._current is None:
            return 0
        a, b = self._a, self._b
        return (a.num_active_iterators() if a.is_valid() else 0) + (b.num_active_iterators() if b.is_valid() else 0)
        # END SOLUTION


class KeyRange(Protocol):
    """A table as ``ConcatIterator`` sees it: the smallest and largest key it may hold.

    Day 2's ``SsTable`` has both attributes. The bounds must hold every key of the
    table; a table holding no key at all is allowed (it is skipped).
    """

    first_key: bytes
    last_key: bytes


TableT = TypeVar("TableT", bound=KeyRange)


class ConcatIterator(Generic[TableT]):
    """Walks sorted tables whose key ranges do not overlap, opening one table at a time.

    ``open_table(table, key)`` must return a ``StorageIterator`` over ``table``
    positioned on its first entry ``>= key``, e.g. day 2's
    ``SsTableIterator.create_and_seek_to_key``. Seeking picks the table by binary
    search over the tables' ``last_key``: O(log t) for t tables, plus one
    ``open_table`` for each table that is opened (empty tables are skipped).
    """

    def __init__(self, tables: Sequence[TableT], open_table: Callable[[TableT, bytes], StorageIterator]) -> None:
        """An iterator over ``tables`` that is not positioned yet (not valid).

        Raises ``ValueError`` unless every table has ``first_key <= last_key`` and each
        table's ``last_key`` is smaller than the next table's ``first_key``. O(t).
        """
        # BEGIN SOLUTION day3.task3
        tables = list(tables)
        for position, table in enumerate(tables):
            if table.first_key > table.last_key:
                raise ValueError(
                    f"table {position} has first_key {table.first_key!r} after its last_key {table.last_key!r}"
                )
            if position and tables[position - 1].last_key >= table.first_key:
                raise ValueError(
                    f"tables {position - 1} and {position} overlap or are out of order: "
                    f"{tables[position - 1].last_key!r} is not below {table.first_key!r}"
                )
        self._tables = tables
        self._open_table = open_table
        self._index = len(tables)
        self._current: StorageIterator | None = None
        self._error: BaseException | None = None
        # END SOLUTION

    @classmethod
    def create_and_seek_to_first(
        cls, tables: Sequence[TableT], open_table: Callable[[TableT, bytes], StorageIterator]
    ) -> ConcatIterator[TableT]:
        """An iterator positioned on the first entry of the first table that has one."""
        iterator = cls(tables, open_table)
        iterator.seek_to_first()
        return iterator

    @classmethod
    def create_and_seek_to_key(
        cls, tables: Sequence[TableT], key: bytes, open_table: Callable[[TableT, bytes], StorageIterator]
    ) -> ConcatIterator[TableT]:
        """An iterator positioned on the first entry whose key is ``>= key``."""
        iterator = cls(tables, open_table)
        iterator.seek_to_key(key)
        return iterator

    # BEGIN SOLUTION
    def _open_from(self, index: int, key: bytes | None) -> None:
        """Open table ``index`` at ``key`` (its first entry if ``None``), skipping empty tables."""
        tables, open_table = self._tables, self._open_table
        self._current = None
        try:
            while index < len(tables):
                table = tables[index]
                child = open_table(table, table.first_key if key is None else key)
                if child.is_valid():
                    self._current, self._index = child, index
                    return
                index, key = index + 1, None
        except BaseException as error:
            self._error = error
            raise
        self._index = index

    # END SOLUTION
    def seek_to_first(self) -> None:
        """Move to the first entry of the first table that has one."""
        # BEGIN SOLUTION day3.task3
        self._error = None
        self._open_from(0, None)
        # END SOLUTION

    def seek_to_key(self, key: bytes) -> None:
        """Move to the first entry whose key is ``>= key`` (invalid if there is none)."""
        # BEGIN SOLUTION day3.task3
        self._error = None
        self._open_from(bisect_left(self._tables, key, key=_last_key), key)
        # END SOLUTION

    def key(self) -> bytes:
        """The current key."""
        # BEGIN SOLUTION day3.task3
        return self._current.key()  # type: ignore[union-attr]
        # END SOLUTION

    def value(self) -> bytes | None:
        """The current value; ``None`` for a tombstone."""
        # BEGIN SOLUTION day3.task3
        return self._current.value()  # type: ignore[union-attr]
        # END SOLUTION

    def is_valid(self) -> bool:
        """Whether the iterator is on an entry."""
        # BEGIN SOLUTION day3.task3
        return self._current is not None
        # END SOLUTION

    def next(self) -> None:
        """Move to the next entry, opening the next non-empty table when one runs out.

        An error from a table propagates and fails the iterator until the next seek.
        """
        # BEGIN SOLUTION day3.task3
        current = self._current
        if current is None:
            if self._error is not None:
                raise _unusable(self._error) from self._error
            return
        try:
            current.next()
            if current.is_valid():
                return
        except BaseException as error:
            self._error, self._current = error, None
            raise
        self._open_from(self._index + 1, None)
        # END SOLUTION

    def num_active_iterators(self) -> int:
        """The open table's active iterators (at most one table is open), or 0."""
        # BEGIN SOLUTION day3.task3
        return 0 if self._current is None else self._current.num_active_iterators()
        # END SOLUTION
