"""Day 4: the storage engine, where memtables, SSTables and iterators become a database.

Write path: every write goes to the active memtable (after the durability layer
has logged it). When the memtable reaches ``options.target_sst_size`` it is
frozen: it joins the immutable memtables (newest first) and a new memtable takes
writes. A flush turns the oldest immutable memtable into an L0 SSTable.

Read path: the newest data wins, so a lookup asks, in order, the active memtable,
the immutable memtables (newest first), the L0 SSTables (newest first), then each
level below. The first answer found, a value or a tombstone, is final.

Concurrency: writers take ``_write_lock`` one at a time; a change of the state is
published in one assignment under ``state_lock`` (copy-on-write, see
``tinylsm.state``); readers take a snapshot of the state and never lock.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from tinylsm import extensions
from tinylsm.block_cache import BlockCache
from tinylsm.durability import Op
from tinylsm.errors import LsmError
from tinylsm.extensions import Compactor
from tinylsm.files import DirectoryLock
from tinylsm.metrics import WriteCounters
from tinylsm.options import MAX_KEY_SIZE, MAX_VALUE_SIZE, LsmStorageOptions, NoCompaction
from tinylsm.state import LsmStorageState


class LsmStorage:
    """An LSM-tree key-value store in one directory.

    Open it with ``LsmStorage.open(path, options)``; keys are ``bytes`` of 1 to
    65,535 bytes and values ``bytes`` of up to 1 MiB (``b""`` is a value, distinct
    from a delete). All methods are safe to call from several threads.

    What later days use: ``state`` (the current snapshot), ``replace_state`` (publish
    a change), ``next_sst_id``, ``flush_next_imm_memtable``, and the attributes
    ``path``, ``options``, ``block_cache``, ``durability`` and ``write_counters``.
    """

    def __init__(self, path: str | os.PathLike[str], options: LsmStorageOptions | None = None) -> None:
        """Open the database in ``path`` (created if missing), recovering what is there."""
        self.path = Path(path)
        self.options = options if options is not None else LsmStorageOptions()
        _check_open_arguments(self.path, self.options)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except NotADirectoryError as error:  # a file where a parent folder should be
            raise LsmError(f"cannot create the database directory {self.path}: {error}") from error
        self._directory_lock = DirectoryLock(self.path)
        self.state_lock = threading.Lock()
        self.block_cache = BlockCache(self.options.block_cache_bytes)
        self.write_counters = WriteCounters()
        self._closed = False
        self._compactor: Compactor | None = None
        # Writers (and freezes) take _write_lock one at a time; flushes take _flush_lock so
        # that memtables reach L0 oldest first. Order: _write_lock, _flush_lock, state_lock.
        self._write_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        try:
            self.durability = extensions.durability(self.options, self.path, self.block_cache)
        except BaseException:
            self._directory_lock.release()
            raise
        try:
            self._state, first_free_id = self.durability.recover()
            self._sst_ids = itertools.count(first_free_id)
            if not isinstance(self.options.compaction, NoCompaction):
                self._compactor = extensions.compactor(self)
                self._compactor.start()
            # Recovery may bring back more immutable memtables than the limit allows.
            for _ in range(len(self._state.imm_memtables) - self.options.num_memtable_limit + 1):
                self.flush_next_imm_memtable()
        except BaseException:
            # A refused open gives the directory back: the next open may find it repaired.
            self._closed = True
            with contextlib.suppress(Exception):
                if self._compactor is not None:
                    self._compactor.stop()
            with contextlib.suppress(Exception):
                self.durability.close()
            self._directory_lock.release()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], options: LsmStorageOptions | None = None) -> LsmStorage:
        """Open (or create) the database in directory ``path``."""
        return cls(path, options)

    def __enter__(self) -> LsmStorage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def state(self) -> LsmStorageState:
        """The current snapshot of the state: read it once, then use that copy."""
        return self._state

    def replace_state(self, change: Callable[[LsmStorageState], LsmStorageState]) -> LsmStorageState:
        """Publish ``change(current state)`` as the new state, atomically for readers."""
        with self.state_lock:
            self._state = change(self._state)
            return self._state

    def next_sst_id(self) -> int:
        """A fresh id for a memtable or an SSTable (ids only grow)."""
        return next(self._sst_ids)

    def put(self, key: bytes, value: bytes) -> None:
        """Set ``key`` to ``value``."""
        raise NotImplementedError("day4.task1: LsmStorage.put — see book: Day 4, Task 1")

    def delete(self, key: bytes) -> None:
        """Delete ``key`` (a tombstone; deleting an absent key is fine)."""
        raise NotImplementedError("day4.task1: LsmStorage.delete — see book: Day 4, Task 1")

    def write_batch(self, ops: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Apply puts ``(key, value)`` and deletes ``(key, None)`` together, in order.

        Every operation is checked before any is applied: a bad one leaves the
        database unchanged. O(total size of the batch).
        """
        raise NotImplementedError("day4.task1: LsmStorage.write_batch — see book: Day 4, Task 1")

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, or ``None`` if it is absent or deleted."""
        raise NotImplementedError("day4.task2: LsmStorage.get — see book: Day 4, Task 2")

    def scan(
        self,
        start: bytes | None = None,
        stop: bytes | None = None,
        *,
        include_start: bool = True,
        include_stop: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        """``(key, value)`` pairs in ascending key order between the bounds, deletes hidden.

        ``None`` leaves a side unbounded; ``start > stop`` yields nothing. The scan
        sees every write that completed before the call, and is not disturbed by
        writes made while it runs.
        """
        raise NotImplementedError("day4.task3: LsmStorage.scan — see book: Day 4, Task 3")

    def sync(self) -> None:
        """Make every write made before this call survive a crash."""
        raise NotImplementedError("day4.task4: LsmStorage.sync — see book: Day 4, Task 4")

    def force_flush(self) -> None:
        """Freeze the active memtable (unless empty), then flush every immutable memtable."""
        raise NotImplementedError("day4.task4: LsmStorage.force_flush — see book: Day 4, Task 4")

    def flush_next_imm_memtable(self) -> bool:
        """Write the oldest immutable memtable to a new L0 SSTable; ``False`` if there is none."""
        raise NotImplementedError("day4.task4: LsmStorage.flush_next_imm_memtable — see book: Day 4, Task 4")

    def force_full_compaction(self) -> None:
        """Compact every SSTable into the bottom of the tree (day 5 does the work)."""
        self._check_open()
        if self._compactor is None:
            self._compactor = extensions.compactor(self)
        self._compactor.force_full_compaction()

    def stats(self) -> dict:
        """Shape of the tree and counters: see the book's reference chapter for every key."""
        raise NotImplementedError("day4.task4: LsmStorage.stats — see book: Day 4, Task 4")

    def close(self) -> None:
        """Make every write durable and release the directory; later calls raise ``LsmError``."""
        raise NotImplementedError("day4.task4: LsmStorage.close — see book: Day 4, Task 4")

    def _check_open(self) -> None:
        """Raise ``LsmError`` if the database has been closed."""
        if self._closed:
            raise LsmError(f"the database in {self.path} is closed")


def _check_open_arguments(path: Path, options: object) -> None:
    """Refuse what ``open`` cannot use, before anything is created on disk.

    ``options`` that are not an ``LsmStorageOptions`` are a ``TypeError``; a ``path``
    that exists and is not a directory (a regular file) is an ``LsmError``.
    """
    raise NotImplementedError("day4.task1: _check_open_arguments — see book: Day 4, Task 1")
