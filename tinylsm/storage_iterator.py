"""The iterator protocol every part of the engine speaks.

A ``StorageIterator`` is positioned on one entry at a time. It is not a Python
iterator: callers loop with ``while it.is_valid(): ...; it.next()``, which lets a
merge look at the current key of many children without consuming them.

Tombstones are surfaced, not hidden: a deleted key is an entry whose ``value()``
is ``None``. Only the engine's outermost scan hides them.
"""

from __future__ import annotations

from typing import Protocol


class StorageIterator(Protocol):
    """A cursor over entries in ascending key order."""

    def key(self) -> bytes:
        """The current key. Only valid while ``is_valid()``."""
        ...

    def value(self) -> bytes | None:
        """The current value, or ``None`` when the entry is a tombstone."""
        ...

    def is_valid(self) -> bool:
        """Whether the iterator is positioned on an entry."""
        ...

    def next(self) -> None:
        """Move to the next entry (the iterator may become invalid)."""
        ...

    def num_active_iterators(self) -> int:
        """How many underlying iterators are still valid (1 for a leaf iterator)."""
        ...
