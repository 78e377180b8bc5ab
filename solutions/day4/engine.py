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

# BEGIN SOLUTION
import dataclasses
from bisect import bisect_left

from tinylsm.block import BlockIterator
from tinylsm.files import sst_path, sync_directory
from tinylsm.iterators import ConcatIterator, MergeIterator, TwoMergeIterator
from tinylsm.lookup import ABSENT, Absent
from tinylsm.memtable import MemTable
from tinylsm.sstable import SsTable, SsTableBuilder, SsTableIterator
from tinylsm.storage_iterator import StorageIterator

# END SOLUTION


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
        # BEGIN SOLUTION day4.task1
        _check_key(key)
        _check_value(value)
        self._write(((key, value),))
        # END SOLUTION

    def delete(self, key: bytes) -> None:
        """Delete ``key`` (a tombstone; deleting an absent key is fine)."""
        # BEGIN SOLUTION day4.task1
        _check_key(key)
        self._write(((key, None),))
        # END SOLUTION

    def write_batch(self, ops: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Apply puts ``(key, value)`` and deletes ``(key, None)`` together, in order.

        Every operation is checked before any is applied: a bad one leaves the
        database unchanged. O(total size of the batch).
        """
        # BEGIN SOLUTION day4.task1
        batch: list[Op] = []
        for op in ops:
            if not isinstance(op, tuple) or len(op) != 2:
                raise TypeError(f"each batch operation must be a (key, value) tuple, got {op!r:.60}")
            key, value = op
            _check_key(key)
            if value is not None:
                _check_value(value)
            batch.append((key, value))
        if not batch:
            self._check_open()  # nothing to write, but a closed database still refuses the call
            return
        self._write(batch)
        # END SOLUTION

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, or ``None`` if it is absent or deleted."""
        # BEGIN SOLUTION day4.task2
        _check_key(key)
        self._check_open()
        state = self._state
        found = state.memtable.get(key)
        if found is not ABSENT:
            return found
        for memtable in state.imm_memtables:
            found = memtable.get(key)
            if found is not ABSENT:
                return found
        tables = state.sstables
        for sst_id in state.l0_sstables:
            found = _table_get(tables[sst_id], key)
            if found is not ABSENT:
                return found
        for last_keys, level_tables in state.level_lookup:
            index = bisect_left(last_keys, key)
            if index < len(level_tables):
                found = _table_get(level_tables[index], key)
                if found is not ABSENT:
                    return found
        return None
        # END SOLUTION

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
        # BEGIN SOLUTION day4.task3
        for name, bound in (("start", start), ("stop", stop)):
            if bound is not None and not isinstance(bound, bytes):
                raise TypeError(f"{name} must be bytes or None, got {type(bound).__name__}")
        self._check_open()
        if start is not None and stop is not None and start > stop:
            return iter(())
        state = self._state
        memtables = _merge(
            [
                memtable.scan(start, stop, include_start=include_start, include_stop=include_stop)
                for memtable in (state.memtable, *state.imm_memtables)
            ]
        )
        tables = state.sstables
        l0 = _merge(
            [_seek(tables[sst_id], start) for sst_id in state.l0_sstables if _overlaps(tables[sst_id], start, stop)]
        )
        levels = _merge(
            [
                ConcatIterator.create_and_seek_to_key(
                    [tables[sst_id] for sst_id in level], start or b"", SsTableIterator.create_and_seek_to_key
                )
                for level in state.levels
            ]
        )
        merged = _two_merge(memtables, _two_merge(l0, levels))
        return _live_entries(self, merged, start, include_start, stop, include_stop)
        # END SOLUTION

    def sync(self) -> None:
        """Make every write made before this call survive a crash."""
        # BEGIN SOLUTION day4.task4
        self._check_open()
        if self.options.enable_wal:
            self.durability.sync()
        else:
            self.force_flush()
            sync_directory(self.path)  # the new SSTs' names must be durable too, not only their bytes
        # END SOLUTION

    def force_flush(self) -> None:
        """Freeze the active memtable (unless empty), then flush every immutable memtable."""
        # BEGIN SOLUTION day4.task4
        self._check_open()
        self._flush_everything()
        # END SOLUTION

    def flush_next_imm_memtable(self) -> bool:
        """Write the oldest immutable memtable to a new L0 SSTable; ``False`` if there is none."""
        # BEGIN SOLUTION day4.task4
        with self._flush_lock:
            imm_memtables = self._state.imm_memtables
            if not imm_memtables:
                return False
            memtable = imm_memtables[-1]
            builder = SsTableBuilder(self.options)
            memtable.flush(builder)
            table = builder.build(memtable.id, sst_path(self.path, memtable.id), self.block_cache)
            self.write_counters.flush_bytes_written += table.size
            self.durability.memtable_flushed(memtable.id, table.id)
            self.replace_state(
                lambda state: dataclasses.replace(
                    state,
                    imm_memtables=state.imm_memtables[:-1],
                    l0_sstables=(table.id, *state.l0_sstables),
                    sstables={**state.sstables, table.id: table},
                )
            )
        if self._compactor is not None:
            self._compactor.after_flush()
        return True
        # END SOLUTION

    def force_full_compaction(self) -> None:
        """Compact every SSTable into the bottom of the tree (day 5 does the work)."""
        self._check_open()
        if self._compactor is None:
            self._compactor = extensions.compactor(self)
        self._compactor.force_full_compaction()

    def stats(self) -> dict:
        """Shape of the tree and counters: see the book's reference chapter for every key."""
        # BEGIN SOLUTION day4.task4
        self._check_open()
        state = self._state
        tables = state.sstables
        runs = [state.l0_sstables, *state.levels]
        levels = [{"ssts": len(run), "bytes": sum(tables[i].size for i in run)} for run in runs]
        counters = self.write_counters
        written = counters.flush_bytes_written + counters.compaction_bytes_written
        reads = self.block_cache.counters
        return {
            "levels": levels,
            "memtables": 1 + len(state.imm_memtables),
            "memtable_bytes": sum(m.approximate_size() for m in (state.memtable, *state.imm_memtables)),
            "user_bytes_written": counters.user_bytes_written,
            "flush_bytes_written": counters.flush_bytes_written,
            "compaction_bytes_written": counters.compaction_bytes_written,
            "write_amplification": written / counters.user_bytes_written if counters.user_bytes_written else 0.0,
            "sst_bytes": sum(level["bytes"] for level in levels),
            "blocks_read": reads.blocks_read,
            "block_cache_hits": reads.block_cache_hits,
            "block_cache_misses": reads.block_cache_misses,
            "filter_negatives": reads.filter_negatives,
        }
        # END SOLUTION

    def close(self) -> None:
        """Make every write durable and release the directory; later calls raise ``LsmError``."""
        # BEGIN SOLUTION day4.task4
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self._compactor is not None:
                self._compactor.stop()  # re-raises what a background compaction failed with
        finally:
            try:
                if self.options.enable_wal:
                    self.durability.sync()
                else:
                    self._flush_everything()
                    sync_directory(self.path)
            finally:
                try:
                    self.durability.close()
                finally:
                    self._directory_lock.release()  # even after a failed write: the directory can be opened again
        # END SOLUTION

    def _check_open(self) -> None:
        """Raise ``LsmError`` if the database has been closed."""
        if self._closed:
            raise LsmError(f"the database in {self.path} is closed")

    # BEGIN SOLUTION

    def _write(self, ops: Iterable[Op]) -> None:
        with self._write_lock:
            self._check_open()
            memtable = self._state.memtable
            self.durability.log(memtable.id, ops)
            written = 0
            for key, value in ops:
                memtable.put(key, value)
                written += len(key) + (len(value) if value is not None else 0)
            self.write_counters.user_bytes_written += written
            if memtable.approximate_size() < self.options.target_sst_size:
                return
            self._freeze()
            while len(self._state.imm_memtables) >= self.options.num_memtable_limit:
                self.flush_next_imm_memtable()

    def _flush_everything(self) -> None:
        with self._write_lock:
            if not self._state.memtable.is_empty():
                self._freeze()
        while self.flush_next_imm_memtable():
            pass

    def _freeze(self) -> None:
        """Make the active memtable immutable and start a new one (caller holds _write_lock)."""
        frozen = self._state.memtable
        fresh = MemTable(self.next_sst_id(), self.options)
        self.durability.memtable_frozen(frozen.id, fresh.id)
        self.replace_state(
            lambda state: dataclasses.replace(state, memtable=fresh, imm_memtables=(frozen, *state.imm_memtables))
        )

    # END SOLUTION


def _check_open_arguments(path: Path, options: object) -> None:
    """Refuse what ``open`` cannot use, before anything is created on disk.

    ``options`` that are not an ``LsmStorageOptions`` are a ``TypeError``; a ``path``
    that exists and is not a directory (a regular file) is an ``LsmError``.
    """
    # BEGIN SOLUTION day4.task1
    if not isinstance(options, LsmStorageOptions):
        raise TypeError(f"options must be an LsmStorageOptions or None, got {type(options).__name__}")
    if path.exists() and not path.is_dir():
        raise LsmError(f"{path} exists and is not a directory: a database is a directory")
    # END SOLUTION


# BEGIN SOLUTION
def _check_key(key: object) -> None:
    if not isinstance(key, bytes):
        raise TypeError(f"key must be bytes, got {type(key).__name__}")
    if not 1 <= len(key) <= MAX_KEY_SIZE:
        raise ValueError(f"key must be 1 to {MAX_KEY_SIZE:,} bytes (MAX_KEY_SIZE), got {len(key):,}")


def _check_value(value: object) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"value must be bytes, got {type(value).__name__}")
    if len(value) > MAX_VALUE_SIZE:
        raise ValueError(f"value must be at most {MAX_VALUE_SIZE:,} bytes (MAX_VALUE_SIZE), got {len(value):,}")


def _table_get(table: SsTable, key: bytes) -> bytes | Absent | None:
    """The entry for ``key`` in one table: a value, a tombstone (None) or ABSENT.

    Only one block can hold ``key``: the first whose last key is ``>= key``. It exists
    because ``may_contain`` has checked ``key <= table.last_key``, so one block seek
    does the work of an ``SsTableIterator`` without building one.
    """
    if not table.may_contain(key):
        return ABSENT
    block = table.read_block_cached(table.find_block_idx(key))
    iterator = BlockIterator.create_and_seek_to_key(block, key)
    if iterator.is_valid() and iterator.key() == key:
        return iterator.value()
    return ABSENT


def _merge(iters: list[StorageIterator]) -> StorageIterator:
    """One iterator over ``iters`` (newest first), with no merge layer where none is needed.

    An iterator that starts out invalid stays invalid, so it is left out; a single
    survivor is returned as it is, sparing every ``next()`` a layer of calls.
    """
    live = [iterator for iterator in iters if iterator.is_valid()]
    return live[0] if len(live) == 1 else MergeIterator.create(live)


def _two_merge(newer: StorageIterator, older: StorageIterator) -> StorageIterator:
    """``newer`` over ``older``, or the one that has entries when the other has none."""
    if not older.is_valid():
        return newer
    if not newer.is_valid():
        return older
    return TwoMergeIterator.create(newer, older)


def _overlaps(table: SsTable, start: bytes | None, stop: bytes | None) -> bool:
    return (start is None or table.last_key >= start) and (stop is None or table.first_key <= stop)


def _seek(table: SsTable, start: bytes | None) -> SsTableIterator:
    if start is None:
        return SsTableIterator.create_and_seek_to_first(table)
    return SsTableIterator.create_and_seek_to_key(table, start)


def _live_entries(
    storage: LsmStorage,
    iterator: StorageIterator,
    start: bytes | None,
    include_start: bool,
    stop: bytes | None,
    include_stop: bool,
) -> Iterator[tuple[bytes, bytes]]:
    """Yield the entries between the bounds, hiding tombstones; ``LsmError`` once ``storage`` closes.

    A scan is lazy, so it can outlive its engine: after ``close`` its tables' files
    are closed, and what it would yield is no longer the database's.
    """
    storage._check_open()  # a generator's body starts at the first next(), maybe after close
    if not include_start and start is not None and iterator.is_valid() and iterator.key() == start:
        iterator.next()
    while iterator.is_valid():
        key = iterator.key()
        if stop is not None and (key > stop or (key == stop and not include_stop)):
            return
        value = iterator.value()
        if value is not None:
            yield key, value
            if storage._closed:
                storage._check_open()  # before next() reads a block of a table closed meanwhile
        iterator.next()


# END SOLUTION
