"""Day 6: recovery, and the order of durable steps that makes every crash recoverable.

``Recovery`` is the engine's durability layer once the write-ahead log or the
manifest is on. The rules it follows, each preventing one kind of loss:

1. A write is appended to the WAL before it enters the memtable (a crash after
   ``sync`` loses nothing).
2. Freezing a memtable syncs its WAL before the next memtable takes writes (a
   newer write can never survive a crash that loses an older one).
3. A new WAL file exists, and the directory is synced, before the manifest names
   its memtable.
4. An SSTable is fsynced (``FileObject.create``) and the directory synced before
   the manifest names it (the manifest never points at a missing file).
5. A WAL is deleted only after the manifest records its memtable's flush, and a
   compaction's inputs only after the manifest records the compaction (a crash in
   between leaves stray files, which recovery removes, never missing data).
6. The manifest is rewritten through a temporary file, fsync, ``os.replace`` and
   a directory fsync (a crash leaves the old manifest or the new one).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from tinylsm import extensions
from tinylsm.block_cache import BlockCache
from tinylsm.durability import Op
from tinylsm.errors import CorruptionError, LsmError
from tinylsm.files import file_names, sst_path, sync_directory, wal_path
from tinylsm.manifest import Flush, Manifest, ManifestRecord, NewMemtable, Snapshot, encode_manifest_record
from tinylsm.options import (
    MAX_LEVELS,
    LeveledCompactionOptions,
    LsmStorageOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.state import CompactionRecord, LsmStorageState, TieredCompactionTask, TreeShape
from tinylsm.wal import Wal, encode_record

# BEGIN SOLUTION
import copy
import itertools

from tinylsm.compaction import apply_full_compaction, controller_for
from tinylsm.memtable import MemTable
from tinylsm.sstable import SsTable

# END SOLUTION

MANIFEST_NAME = "MANIFEST"
MANIFEST_REWRITE_BYTES = 64 * 1024
"""A manifest that grows past this many bytes is rewritten as one snapshot."""

STRATEGIES = {
    NoCompaction: 0,
    SimpleLeveledCompactionOptions: 1,
    TieredCompactionOptions: 2,
    LeveledCompactionOptions: 3,
}
"""The strategy byte of a snapshot, by compaction options class."""

_FILE_NAME = re.compile(r"^(\d+)\.(sst|wal)$")


class ShapeLog:
    """The tree's shape as the manifest describes it, kept by replaying its records.

    Recovery replays the whole manifest into one; while the engine runs, every new
    record is applied to it too, so that a rewrite can snapshot it at any time.
    """

    def __init__(self, options: LsmStorageOptions) -> None:
        # BEGIN SOLUTION day6.task3
        self.strategy = STRATEGIES[type(options.compaction)]
        self.controller = controller_for(options.compaction)
        self.memtables: list[int] = []
        self.shape = TreeShape()
        self.max_id = 0
        # END SOLUTION

    def apply(self, record: ManifestRecord, name: str = MANIFEST_NAME) -> None:
        """Change the shape as ``record`` says; a record that cannot apply is corruption."""
        # BEGIN SOLUTION day6.task3
        if isinstance(record, Snapshot):
            if record.strategy != self.strategy:
                raise LsmError(
                    f"the database was created with {_strategy_name(record.strategy)} compaction; "
                    f"it cannot be opened with {_strategy_name(self.strategy)} compaction"
                )
            self.memtables = list(record.memtables)
            self.shape = TreeShape(record.l0, record.levels)
            self.max_id = max(self.max_id, record.next_id - 1)
        elif isinstance(record, NewMemtable):
            live = {*self.memtables, *self.shape.l0, *(sst_id for run in self.shape.levels for sst_id in run)}
            if record.memtable_id in live:
                raise CorruptionError(f"{name}: memtable {record.memtable_id} is created again while its id is live")
            self.memtables.append(record.memtable_id)
            self.max_id = max(self.max_id, record.memtable_id)
        elif isinstance(record, Flush):
            if not self.memtables or self.memtables[0] != record.sst_id:
                raise CorruptionError(f"{name}: flush of memtable {record.sst_id}, which is not the oldest live one")
            self.memtables.pop(0)
            if self.controller is None or self.controller.flush_to_l0:
                self.shape = TreeShape((record.sst_id, *self.shape.l0), self.shape.levels)
            else:
                self.shape = TreeShape(self.shape.l0, ((record.sst_id,), *self.shape.levels))
        else:
            _check_compaction(self.shape, record, self.strategy, self._max_levels(), name)
            if record.full:
                self.shape = apply_full_compaction(self.shape, record.task, record.output)
            elif self.controller is not None:
                self.shape = self.controller.apply_result(self.shape, record.task, record.output)
            else:
                raise CorruptionError(f"{name}: a compaction record, but the database has no compaction")
            self.max_id = max(self.max_id, *record.output, 0)
        # END SOLUTION

    # BEGIN SOLUTION
    def _max_levels(self) -> int:
        max_levels = getattr(self.controller, "options", None)
        return getattr(max_levels, "max_levels", MAX_LEVELS)

    # END SOLUTION

    def snapshot(self, next_id: int) -> Snapshot:
        """One record that replaces every record applied so far."""
        # BEGIN SOLUTION day6.task3
        return Snapshot(self.strategy, next_id, tuple(self.memtables), self.shape.l0, self.shape.levels)
        # END SOLUTION


class Recovery:
    """The write-ahead log and the manifest of one database directory."""

    def __init__(self, options: LsmStorageOptions, directory: Path, block_cache: BlockCache) -> None:
        # BEGIN SOLUTION day6.task3
        self.options = options
        self.directory = Path(directory)
        self.block_cache = block_cache
        self._log = ShapeLog(options)
        self._lock = threading.Lock()
        self._manifest: Manifest | None = None
        self._wal: Wal | None = None
        self._next_id = 1
        # END SOLUTION

    def recover(self) -> tuple[LsmStorageState, int]:
        """Rebuild the state from the manifest, the SSTables and the WALs; tidy up.

        Replays the manifest, opens every live SSTable, replays the WAL of every
        live memtable into a memtable, starts a fresh memtable and WAL (never
        appending after a possibly torn tail), rewrites the manifest as one
        snapshot, and removes files that no record names.

        A damaged last record is dropped as a torn tail only where a crash can
        leave one (and only with ``wal_recovery_mode="tolerate_corrupted_tail_records"``):
        at the end of the newest WAL, which is then cut off, and at the end of the
        manifest when the files show that nothing relied on that record yet. Any
        other damage raises ``CorruptionError`` before a file is changed.
        """
        # BEGIN SOLUTION day6.task3
        tolerate = self.options.wal_recovery_mode == "tolerate_corrupted_tail_records"
        on_disk = [m for name in file_names(self.directory) if (m := _FILE_NAME.match(name))]
        wal_ids = {int(m[1]) for m in on_disk if m[2] == "wal"}
        manifest_path = self.directory / MANIFEST_NAME
        if manifest_path.exists() and not manifest_path.is_file():
            raise CorruptionError(f"{MANIFEST_NAME} is not a file: it cannot say which SSTables are live")
        if manifest_path.exists():
            self._replay_manifest(manifest_path, tolerate, wal_ids)
        elif wal_ids:
            # Recovery writes the MANIFEST before the first WAL, so a WAL without one means
            # the MANIFEST is lost: which files are live is unknown, and guessing deletes data.
            raise CorruptionError(
                f"{MANIFEST_NAME} is missing, but {wal_path(self.directory, min(wal_ids)).name} is a "
                "write-ahead log: the database had a MANIFEST, and without it the live files are unknown"
            )
        else:
            self._adopt_listed_tables()
        shape = self._log.shape
        max_levels = self._log._max_levels()
        deepest = max((n for n, run in enumerate(shape.levels, 1) if run), default=0)
        if deepest > max_levels:
            # Compacting into the last allowed level would drop tombstones that still hide
            # older values below it: refuse instead of bringing deleted keys back.
            raise LsmError(
                f"the database has tables in level {deepest}, but the options allow "
                f"max_levels={max_levels}: open it with max_levels of at least {deepest}"
            )
        live_ssts = {*shape.l0, *(i for run in shape.levels for i in run)}
        tables = {}
        for sst_id in live_ssts:
            path = sst_path(self.directory, sst_id)
            if not path.is_file():
                raise CorruptionError(f"{MANIFEST_NAME} names {path.name}, which is missing or not a file")
            tables[sst_id] = SsTable.open(sst_id, path, self.block_cache)
        runs = tuple(tuple(sorted(run, key=lambda i: tables[i].first_key)) for run in shape.levels)
        for level, run in enumerate(runs, 1):
            # A level is one sorted run: tables that overlap there mean a file was replaced
            # (by another valid SST) or the manifest put it in the wrong level.
            for left, right in itertools.pairwise(run):
                if tables[left].last_key >= tables[right].first_key:
                    raise CorruptionError(
                        f"level {level} holds {sst_path(self.directory, left).name} and "
                        f"{sst_path(self.directory, right).name}, whose key ranges overlap: one of them is not the "
                        "file the MANIFEST recorded"
                    )
        # Only the newest log was being appended when the process stopped: every older
        # one was fsynced and closed before a newer one was created.
        newest_wal = max(wal_ids, default=None)
        memtables = []
        for memtable_id in self._log.memtables:
            memtable = MemTable(memtable_id, self.options)
            path = wal_path(self.directory, memtable_id)
            if path.exists():
                for key, value in Wal.replay(path, allow_torn_tail=tolerate and memtable_id == newest_wal):
                    memtable.put(key, value)
            if not memtable.is_empty():
                memtables.append(memtable)
        if tolerate and newest_wal in self._log.memtables:
            Wal.cut_torn_tail(wal_path(self.directory, newest_wal))
        self._next_id = max(self._log.max_id, *(int(m[1]) for m in on_disk), 0) + 1
        active = MemTable(self._take_id(), self.options)
        self._log.memtables = [m.id for m in memtables]
        self._log.shape = TreeShape(shape.l0, runs)
        if not manifest_path.exists():
            self._rewrite_manifest()  # the MANIFEST exists before any WAL does
        self._log.memtables.append(active.id)
        if self.options.enable_wal:
            self._open_wal(active.id)
        self._rewrite_manifest()
        self._remove_strays(live_ssts, set(self._log.memtables))
        state = LsmStorageState(
            memtable=active,
            imm_memtables=tuple(reversed(memtables)),
            l0_sstables=shape.l0,
            levels=runs,
            sstables=tables,
        )
        return state, self._next_id
        # END SOLUTION

    def log(self, memtable_id: int, ops: Sequence[Op]) -> None:
        """Append ``ops`` as one record to the active memtable's WAL (no fsync)."""
        # BEGIN SOLUTION day6.task1
        wal = self._wal
        if wal is not None:
            wal.append(ops)
        elif self._manifest is None:
            raise LsmError("the database is closed: the write was not logged")
        # END SOLUTION

    def sync(self) -> None:
        """Make every logged write durable (an fsync of the active WAL)."""
        # BEGIN SOLUTION day6.task1
        wal = self._wal
        if wal is not None:
            wal.sync()
        # END SOLUTION

    def memtable_frozen(self, frozen_id: int, new_id: int) -> None:
        """Sync the frozen memtable's WAL, create the new one's, then record it."""
        # BEGIN SOLUTION day6.task3
        if self._wal is not None:
            self._wal.close()
            self._open_wal(new_id)
        self._record(NewMemtable(new_id))
        # END SOLUTION

    def memtable_flushed(self, memtable_id: int, sst_id: int) -> None:
        """Record the flush once the SSTable is durable, then delete the memtable's WAL."""
        # BEGIN SOLUTION day6.task3
        sync_directory(self.directory)
        self._record(Flush(sst_id))
        wal_path(self.directory, memtable_id).unlink(missing_ok=True)
        # END SOLUTION

    def compacted(self, record: CompactionRecord, removed_ids: Sequence[int]) -> None:
        """Record a compaction once its outputs are durable (the caller deletes inputs after)."""
        # BEGIN SOLUTION day6.task3
        sync_directory(self.directory)
        self._record(record)
        # END SOLUTION

    def close(self) -> None:
        """Sync and close the WAL and the manifest; a second call does nothing.

        Afterwards ``sync`` does nothing and ``log`` or a call that records raises ``LsmError``.
        """
        # BEGIN SOLUTION day6.task3
        with self._lock:
            # The manifest goes first: a log that finds no WAL then also finds no
            # manifest, and refuses the write instead of taking the WAL as switched off.
            manifest, wal = self._manifest, self._wal
            self._manifest = self._wal = None
            try:
                if manifest is not None:
                    manifest.close()
            finally:
                if wal is not None:
                    wal.close()  # even when the manifest's close failed: no file is left open
        # END SOLUTION

    # BEGIN SOLUTION
    def _take_id(self) -> int:
        taken, self._next_id = self._next_id, self._next_id + 1
        return taken

    def _open_wal(self, memtable_id: int) -> None:
        self._wal = Wal(
            wal_path(self.directory, memtable_id), functools.partial(extensions.sync_function, self.options)
        )
        sync_directory(self.directory)

    def _record(self, record: ManifestRecord) -> None:
        with self._lock:
            if self._manifest is None:
                raise LsmError("the database is closed")
            # The record is applied to a copy of the shape first: one that the shape
            # refuses must never reach the file, where it would fail every later recovery.
            log = copy.copy(self._log)
            log.memtables = list(log.memtables)
            log.apply(record)
            self._manifest.append(record)
            self._log = log
            if self._manifest.size > MANIFEST_REWRITE_BYTES:
                self._rewrite_manifest()

    def _rewrite_manifest(self) -> None:
        # The new manifest is made before the old one is closed: if making it fails,
        # the old one is still whole, on disk and here.
        path = self.directory / MANIFEST_NAME
        rewritten = Manifest.create(path, self._log.snapshot(max(self._next_id, self._log.max_id + 1)))
        if self._manifest is not None:
            self._manifest.close()
        self._manifest = rewritten

    def _replay_manifest(self, path: Path, tolerate: bool, wal_ids: set[int]) -> None:
        try:
            records, torn = Manifest.read(path, allow_torn_tail=False), None
        except CorruptionError as error:
            if not tolerate:
                raise
            records, torn = Manifest.read(path), error  # raises again unless the damage is the last record
        if not records or not isinstance(records[0], Snapshot):
            # Manifest.create writes a snapshot first, atomically: without one the file is
            # damaged, and treating it as an empty tree would delete every file as a stray.
            raise CorruptionError(f"{MANIFEST_NAME} does not begin with a snapshot record: it is damaged")
        offset = 0
        for record in records:
            try:
                self._log.apply(record, f"{MANIFEST_NAME}: the record at offset {offset}")
            except (ValueError, IndexError, KeyError, TypeError) as error:
                raise CorruptionError(f"{MANIFEST_NAME}: the record at offset {offset} cannot apply: {error}") from None
            offset += len(encode_record(encode_manifest_record(record)))
        if torn is not None:
            self._check_tail_not_relied_on(torn, wal_ids)
        # A flush deletes its memtable's WAL only after the record is durable, and the WALs of
        # live memtables are created in id order: an older one missing while a newer one is
        # there was deleted or lost, and replaying the rest would not give a prefix of the writes.
        # A memtable takes writes only once its record is durable, and memtables are flushed
        # oldest first: a WAL holding writes whose memtable is not live, with an id above the
        # oldest live memtable's (or one the manifest never gave out), means lost records.
        memtables = self._log.memtables
        oldest = min(memtables, default=self._log.max_id)
        unknown = [
            i
            for i in sorted(wal_ids)
            if i > oldest and i not in memtables and wal_path(self.directory, i).stat().st_size
        ]
        if unknown:
            raise CorruptionError(
                f"{wal_path(self.directory, unknown[0]).name} holds writes, but {MANIFEST_NAME} does not "
                "name its memtable as live: records are missing from the MANIFEST"
            )
        missing = [i for i in memtables if i not in wal_ids]
        if missing and any(i in wal_ids for i in memtables if i > missing[0]):
            raise CorruptionError(
                f"{MANIFEST_NAME} names {wal_path(self.directory, missing[0]).name} as the log of a live "
                "memtable, but it is missing while a newer memtable's log is there"
            )

    def _check_tail_not_relied_on(self, torn: CorruptionError, wal_ids: set[int]) -> None:
        """Refuse a dropped manifest record that some file shows had taken effect.

        Each edit is durable before anything acts on it: a flush's WAL is deleted,
        a compaction's inputs are deleted, and a new memtable's WAL is written to,
        only after the record is fsynced. Without the record, those files would be
        missing, or a WAL newer than every memtable named would hold writes.
        """
        memtables = self._log.memtables
        if memtables and not wal_ids.intersection(memtables) and sst_path(self.directory, memtables[0]).exists():
            # Without WALs a flush's only trace is its SSTable, fsynced before the record was
            # appended: the dropped record was that flush, and the table holds the data.
            self._log.apply(Flush(memtables[0]))
        shape = self._log.shape
        live_ssts = sorted({*shape.l0, *(i for run in shape.levels for i in run)})
        missing_ssts = [i for i in live_ssts if not sst_path(self.directory, i).exists()]
        # Only a flush deletes a WAL, and only the oldest live memtable's; and only if the memtables were
        # logged at all (some has a WAL), whatever the options of this open say.
        memtables = self._log.memtables
        logged = wal_ids.intersection(memtables)
        missing_wals = memtables[:1] if logged and memtables[0] not in wal_ids else []
        newest = max(self._log.memtables, default=0)
        written = [i for i in sorted(wal_ids) if i > newest and wal_path(self.directory, i).stat().st_size]
        if missing_ssts:
            reason = f"{sst_path(self.directory, missing_ssts[0]).name} is gone (a compaction had been recorded)"
        elif missing_wals:
            reason = f"{wal_path(self.directory, missing_wals[0]).name} is gone (a flush had been recorded)"
        elif written:
            reason = f"{wal_path(self.directory, written[0]).name} holds writes (a new memtable had been recorded)"
        else:
            return
        raise CorruptionError(f"{torn}, and it had taken effect: {reason}")

    def _adopt_listed_tables(self) -> None:
        """A database written without a manifest: its SSTables are all L0, newest (highest id) first.

        Under tiered compaction, which has no L0, each SSTable is a tier of its own, newest first.
        """
        ids = sorted(
            (int(m[1]) for name in file_names(self.directory) if (m := _FILE_NAME.match(name)) and m[2] == "sst"),
            reverse=True,
        )
        controller = self._log.controller
        if controller is not None and not controller.flush_to_l0:
            # Tiered compaction keeps no L0: each table becomes a tier, as its flush would have.
            self._log.shape = TreeShape((), tuple((i,) for i in ids))
        else:
            self._log.shape = TreeShape(tuple(ids))
        self._log.max_id = max(ids, default=0)

    def _remove_strays(self, live_ssts: set[int], live_memtables: set[int]) -> None:
        """Delete SSTs and WALs that no record names, and temporary files."""
        for name in file_names(self.directory):
            match = _FILE_NAME.match(name)
            stray_sst = match and match[2] == "sst" and int(match[1]) not in live_ssts
            stray_wal = match and match[2] == "wal" and int(match[1]) not in live_memtables
            if stray_sst or stray_wal or name.endswith(".tmp"):
                (self.directory / name).unlink(missing_ok=True)

    # END SOLUTION


# BEGIN SOLUTION
def _check_compaction(shape: TreeShape, record: CompactionRecord, strategy: int, max_levels: int, name: str) -> None:
    """Refuse a compaction record that could not have been written for ``shape`` under ``strategy``."""
    levels = shape.levels
    live = {*shape.l0, *(i for run in levels for i in run)}
    task = record.task
    tiered = isinstance(task, TieredCompactionTask)
    if tiered != (strategy == STRATEGIES[TieredCompactionOptions]):
        kind = "a tiered" if tiered else "a leveled"
        raise CorruptionError(
            f"{name}: {kind} compaction record in a database of {_strategy_name(strategy)} compaction"
        )
    if tiered:
        inputs = [i for tier in task.tiers for i in tier]
        if any(tuple(tier) not in levels for tier in task.tiers):
            raise CorruptionError(f"{name}: a compaction record merges tiers that are not in the tree")
    else:
        inputs = [*task.upper, *task.lower]
        if not task.upper_level < task.lower_level <= MAX_LEVELS:
            raise CorruptionError(
                f"{name}: a compaction record from level {task.upper_level} into level {task.lower_level}"
            )
        if task.lower_level > max(max_levels, len(levels)):
            raise CorruptionError(
                f"{name}: a compaction record into level {task.lower_level}, beyond the tree's "
                f"{max(max_levels, len(levels))} levels (a database written with a larger "
                "max_levels must be opened with at least as many)"
            )
        upper = shape.l0 if task.upper_level == 0 else _level(levels, task.upper_level)
        # A full compaction takes the tables of every level at once into the bottom one.
        below = {i for run in levels for i in run} if record.full else set(_level(levels, task.lower_level))
        if not set(task.upper) <= set(upper) or not set(task.lower) <= below:
            raise CorruptionError(f"{name}: a compaction record names inputs that are not in their levels")
        if record.full and set(task.lower) != below:
            raise CorruptionError(f"{name}: a full compaction record does not name every table below L0")
    if len(set(inputs)) != len(inputs) or not set(inputs) <= live:
        raise CorruptionError(f"{name}: a compaction record names inputs that are not live tables")
    # A trivial move keeps an input as its output; any other live table cannot be one.
    if len(set(record.output)) != len(record.output) or live.difference(inputs).intersection(record.output):
        raise CorruptionError(f"{name}: a compaction record's outputs repeat or are other live tables")


def _level(levels: tuple[tuple[int, ...], ...], number: int) -> tuple[int, ...]:
    return levels[number - 1] if number <= len(levels) else ()


def _strategy_name(strategy: int) -> str:
    return {0: "no", 1: "simple leveled", 2: "tiered", 3: "leveled"}.get(strategy, f"unknown ({strategy})")


# END SOLUTION
