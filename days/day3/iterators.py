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
        raise NotImplementedError("day3.task2: MergeIterator.__init__ — see book: Day 3, Task 2")

    @classmethod
    def create(cls, iters: list[StorageIterator]) -> MergeIterator:
        """The same as ``MergeIterator(iters)``."""
        return cls(iters)

    def key(self) -> bytes:
        """The current key."""
        raise NotImplementedError("day3.task2: MergeIterator.key — see book: Day 3, Task 2")

    def value(self) -> bytes | None:
        """The current value, from the earliest child that holds the current key."""
        raise NotImplementedError("day3.task2: MergeIterator.value — see book: Day 3, Task 2")

    def is_valid(self) -> bool:
        """Whether the merge is on an entry (``False`` once exhausted, or failed)."""
        raise NotImplementedError("day3.task2: MergeIterator.is_valid — see book: Day 3, Task 2")

    def next(self) -> None:
        """Move past the current key in every child that is on it.

        An error from a child propagates, and leaves the merge failed; ``next()`` on
        a failed merge raises ``LsmError``.
        """
        raise NotImplementedError("day3.task2: MergeIterator.next — see book: Day 3, Task 2")

    def num_active_iterators(self) -> int:
        """The sum of ``num_active_iterators()`` over the children that are still valid."""
        raise NotImplementedError("day3.task2: MergeIterator.num_active_iterators — see book: Day 3, Task 2")


class TwoMergeIterator:
    """Merges two ascending iterators, possibly of different kinds; ``a`` wins ties.

    Each ``next()`` costs one child step, plus one more when both children were on
    the same key.
    """

    def __init__(self, a: StorageIterator, b: StorageIterator) -> None:
        """Merge ``a`` (newer data) over ``b`` (older data)."""
        raise NotImplementedError("day3.task3: TwoMergeIterator.__init__ — see book: Day 3, Task 3")

    @classmethod
    def create(cls, a: StorageIterator, b: StorageIterator) -> TwoMergeIterator:
        """The same as ``TwoMergeIterator(a, b)``."""
        return cls(a, b)

    def key(self) -> bytes:
        """The current key."""
        raise NotImplementedError("day3.task3: TwoMergeIterator.key — see book: Day 3, Task 3")

    def value(self) -> bytes | None:
        """The current value (``a``'s when both hold the key)."""
        raise NotImplementedError("day3.task3: TwoMergeIterator.value — see book: Day 3, Task 3")

    def is_valid(self) -> bool:
        """Whether the merge is on an entry (``False`` once exhausted, or failed)."""
        raise NotImplementedError("day3.task3: TwoMergeIterator.is_valid — see book: Day 3, Task 3")

    def next(self) -> None:
        """Move to the next key; an error from a child propagates and fails the merge."""
        raise NotImplementedError("day3.task3: TwoMergeIterator.next — see book: Day 3, Task 3")

    def num_active_iterators(self) -> int:
        """The active iterators of ``a`` plus those of ``b`` (a child that is not valid counts 0)."""
        raise NotImplementedError("day3.task3: TwoMergeIterator.num_active_iterators — see book: Day 3, Task 3")


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
        raise NotImplementedError("day3.task3: ConcatIterator.__init__ — see book: Day 3, Task 3")

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

    def seek_to_first(self) -> None:
        """Move to the first entry of the first table that has one."""
        raise NotImplementedError("day3.task3: ConcatIterator.seek_to_first — see book: Day 3, Task 3")

    def seek_to_key(self, key: bytes) -> None:
        """Move to the first entry whose key is ``>= key`` (invalid if there is none)."""
        raise NotImplementedError("day3.task3: ConcatIterator.seek_to_key — see book: Day 3, Task 3")

    def key(self) -> bytes:
        """The current key."""
        raise NotImplementedError("day3.task3: ConcatIterator.key — see book: Day 3, Task 3")

    def value(self) -> bytes | None:
        """The current value; ``None`` for a tombstone."""
        raise NotImplementedError("day3.task3: ConcatIterator.value — see book: Day 3, Task 3")

    def is_valid(self) -> bool:
        """Whether the iterator is on an entry."""
        raise NotImplementedError("day3.task3: ConcatIterator.is_valid — see book: Day 3, Task 3")

    def next(self) -> None:
        """Move to the next entry, opening the next non-empty table when one runs out.

        An error from a table propagates and fails the iterator until the next seek.
        """
        raise NotImplementedError("day3.task3: ConcatIterator.next — see book: Day 3, Task 3")

    def num_active_iterators(self) -> int:
        """The open table's active iterators (at most one table is open), or 0."""
        raise NotImplementedError("day3.task3: ConcatIterator.num_active_iterators — see book: Day 3, Task 3")
