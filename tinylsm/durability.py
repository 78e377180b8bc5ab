"""What the engine asks of its durability layer, and the plain one it has before day 6.

The engine (day 4) calls a ``Durability`` at each step of a write's life: log it,
sync, freeze a memtable, flush it, record a compaction, close. Day 6 implements
these with a write-ahead log and a manifest, in the order that makes crashes safe.
Before that, ``PlainDurability`` keeps nothing but the SSTables: a reopened
database finds them by listing the directory.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tinylsm.errors import LsmError
from tinylsm.files import file_names, sst_path, sync_directory
from tinylsm.options import LsmStorageOptions
from tinylsm.state import CompactionRecord, LsmStorageState

if TYPE_CHECKING:
    from tinylsm.block_cache import BlockCache

Op = tuple[bytes, bytes | None]
"""One write: ``(key, value)``; ``value=None`` is a delete."""

_SST_NAME = re.compile(r"^(\d+)\.sst$")


class Durability(Protocol):
    """The engine's durability layer; every call is made by the engine (day 4)."""

    def recover(self) -> tuple[LsmStorageState, int]:
        """Rebuild the state found on disk; return it and the next free SST id."""
        ...

    def log(self, memtable_id: int, ops: Sequence[Op]) -> None:
        """Record writes about to enter memtable ``memtable_id`` (one atomic record)."""
        ...

    def sync(self) -> None:
        """Make every logged write durable."""
        ...

    def memtable_frozen(self, frozen_id: int, new_id: int) -> None:
        """Memtable ``frozen_id`` is now immutable and ``new_id`` takes new writes."""
        ...

    def memtable_flushed(self, memtable_id: int, sst_id: int) -> None:
        """Memtable ``memtable_id`` is durable as SSTable ``sst_id``."""
        ...

    def compaction_started(self) -> None:
        """A compaction is about to write its outputs: none of them exists yet.

        A layer that orders SSTs by a record of its own (day 6's manifest) needs no
        notice and may leave this method out.
        """
        ...

    def compacted(self, record: CompactionRecord, removed_ids: Sequence[int]) -> None:
        """A compaction's outputs are durable and replace ``removed_ids``.

        The caller deletes the removed files only after this returns.
        """
        ...

    def close(self) -> None:
        """Make what was logged durable and release the files.

        A second ``close`` does nothing. After it, ``sync`` does nothing (the close
        synced everything), and a call that would log or record something raises
        ``LsmError``: a call that races the close must fail, never be lost quietly.
        """
        ...


class PlainDurability:
    """No write-ahead log and no manifest: only SSTables survive a reopen.

    Recovery removes temporary files left by a crash, lists ``NNNNN.sst`` in the
    directory and puts them all in L0, newest (highest id) first. That is exact for a database without compaction, which
    is all that exists before day 5; day 6's manifest remembers the levels. A
    compaction gives its outputs new, higher ids while a memtable holding newer
    writes keeps its older id, so the first compaction leaves a marker file, and a
    reopen that would have to guess which of two overlapping SSTs is newer is
    refused (``refuse_unknown_order``) instead of returning old values.
    """

    def __init__(self, options: LsmStorageOptions, directory: Path, block_cache: BlockCache) -> None:
        self._options = options
        self._directory = directory
        self._block_cache = block_cache

    def recover(self) -> tuple[LsmStorageState, int]:
        from tinylsm.memtable import MemTable
        from tinylsm.sstable import SsTable

        names = file_names(self._directory)
        for leftover in (name for name in names if name.endswith(".tmp")):
            (self._directory / leftover).unlink()  # a table whose writing a crash interrupted
        ids = sorted((int(m[1]) for name in names if (m := _SST_NAME.match(name))), reverse=True)
        tables = {sst_id: SsTable.open(sst_id, sst_path(self._directory, sst_id), self._block_cache) for sst_id in ids}
        next_id = (ids[0] + 1) if ids else 1
        return LsmStorageState(
            memtable=MemTable(next_id, self._options), l0_sstables=tuple(ids), sstables=tables
        ), next_id + 1

    def log(self, memtable_id: int, ops: Sequence[Op]) -> None:
        pass

    def sync(self) -> None:
        pass

    def memtable_frozen(self, frozen_id: int, new_id: int) -> None:
        pass

    def memtable_flushed(self, memtable_id: int, sst_id: int) -> None:
        pass

    def compaction_started(self) -> None:
        # Before the first output exists: a crash in the middle of the compaction leaves outputs with
        # newer ids than a memtable flushed meanwhile, whose writes are newer than theirs.
        marker = self._directory / COMPACTED_MARKER
        if not marker.exists():
            marker.write_text("SSTs here were compacted without a manifest: their ids do not order them by age.\n")
            sync_directory(self._directory)

    def compacted(self, record: CompactionRecord, removed_ids: Sequence[int]) -> None:
        self.compaction_started()  # a compactor that did not announce itself still leaves the mark

    def close(self) -> None:
        pass


COMPACTED_MARKER = "COMPACTED-WITHOUT-MANIFEST"
"""The file ``PlainDurability`` leaves in a directory once it compacted there."""


def refuse_unknown_order(directory: Path) -> None:
    """Raise ``LsmError`` when SSTs compacted without a manifest overlap, so that no reopen can tell the newer one.

    A directory with a ``MANIFEST`` knows its shape; one that was never compacted
    orders its SSTs by id. Otherwise SSTs whose key ranges are disjoint can be read
    in any order, and only an overlap is ambiguous. O(SSTs log SSTs), reading each
    SST's footer and index.
    """
    if not (directory / COMPACTED_MARKER).exists() or (directory / "MANIFEST").exists():
        return
    from tinylsm.sstable import SsTable

    ranges = []
    for name in file_names(directory):
        if match := _SST_NAME.match(name):
            table = SsTable.open(int(match[1]), directory / name, None)
            ranges.append((table.first_key, table.last_key, name))
            table.close()
    for left, right in itertools.pairwise(sorted(ranges)):
        if left[1] >= right[0]:
            raise LsmError(
                f"{directory} was compacted with enable_wal and enable_manifest off, so nothing recorded which of "
                f"its SSTs is newer, and {left[2]} and {right[2]} hold keys in common: opening it could return old "
                "values. A database that compacts needs its manifest to reopen (enable_manifest=True, the default)"
            )


class StopAfterFailure:
    """A durability layer that refuses every write once one of its writes to disk has failed.

    A write that failed half-way (a full disk, an I/O error) leaves its files in a
    state nobody has checked, and carrying on can make it worse: a flush retried
    after its manifest record failed would find its SST already there, and a
    record that failed could still land later, after newer ones. So, as LevelDB
    (``bg_error_``) and RocksDB (read-only after a background error) do, the engine
    takes no more writes until it is reopened, when recovery judges what is on
    disk (a torn last record, files that no record names). Reads go on. Every call
    costs one more method call than ``inner``'s.
    """

    def __init__(self, inner: Durability) -> None:
        self.inner = inner
        self.failure: OSError | None = None

    def recover(self) -> tuple[LsmStorageState, int]:
        return self.inner.recover()

    def log(self, memtable_id: int, ops: Sequence[Op]) -> None:
        # _write's steps, written out: this runs for every put, and the indirection cost a tenth of a microsecond
        if self.failure is not None:
            self._refuse()
        try:
            self.inner.log(memtable_id, ops)
        except OSError as error:
            self.failure = error
            raise
        if self.failure is not None:
            self._refuse()

    def sync(self) -> None:
        self._write(self.inner.sync)

    def memtable_frozen(self, frozen_id: int, new_id: int) -> None:
        self._write(self.inner.memtable_frozen, frozen_id, new_id)

    def memtable_flushed(self, memtable_id: int, sst_id: int) -> None:
        self._write(self.inner.memtable_flushed, memtable_id, sst_id)

    def compaction_started(self) -> None:
        announce = getattr(self.inner, "compaction_started", None)  # optional: see ``Durability``
        if announce is not None:
            self._write(announce)

    def compacted(self, record: CompactionRecord, removed_ids: Sequence[int]) -> None:
        self._write(self.inner.compacted, record, removed_ids)

    def close(self) -> None:
        self.inner.close()

    def _write(self, step: Callable[..., None], *arguments: object) -> None:
        if self.failure is not None:
            self._refuse()
        try:
            step(*arguments)
        except OSError as error:
            self.failure = error
            raise
        if self.failure is not None:
            # Another thread's write failed while this one ran: a sync that waited behind a failed fsync
            # would otherwise run one of its own, which the disk may answer "done" without writing what
            # the failed one dropped. What this step made durable is in doubt too.
            self._refuse()

    def _refuse(self) -> None:
        raise LsmError(
            f"a write to disk failed earlier ({self.failure}), so the database takes no more writes: "
            "close it and open it again, and recovery will check what reached the disk"
        ) from self.failure
