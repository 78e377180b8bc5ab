"""What a workload asks of an engine, and TinyLSM behind that interface.

Every engine (TinyLSM and each baseline) is an ``Engine``: open a directory, hand
out the fastest callables it has for ``put`` and ``get`` (so that the timed loops
pay the same Python call overhead for every engine), scan, let background work
settle, compact, write durably, and report its own counters.

TinyLSM runs with the course's full defaults for the days this copy of the course
has, except ``base_level_size_mb`` (10 MiB, LevelDB's level-1 size, instead of
128) and ``background_work`` (on). The features of days not written yet are
switched off exactly as ``tinylsm.testkit.options_for_day`` does for the tests.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from tinylsm._composition import Composition
    from tinylsm.engine import LsmStorage
    from tinylsm.options import LsmStorageOptions

Put = Callable[[bytes, bytes], object]
Get = Callable[[bytes], "bytes | None"]

BASE_LEVEL_SIZE_MB = 10
"""Target size of TinyLSM's base level in the benchmark (LevelDB's level 1 holds 10 MB)."""

SETTLE_POLL_SECONDS = 0.005
"""How often ``settle`` looks whether background compaction is done."""
SETTLE_LIMIT_SECONDS = 1800
"""``settle`` gives up (raises) after this long: a guard against a hang, not a timing check."""

ENGINE_DAY = 4
"""The first day whose modules make an engine that can run a workload."""


class NotSupported(Exception):
    """The engine cannot run this workload (e.g. a dict has nothing to sync); the reason is the message."""


class Engine(abc.ABC):
    """One storage engine as the workloads see it; ``open`` before anything else, ``close`` last."""

    name: ClassVar[str]
    in_memory: ClassVar[bool] = False
    """True for an engine that keeps nothing on disk (no amplification, no recovery, no sync)."""
    python_fsyncs: ClassVar[bool] = False
    """True when the engine calls ``os.fsync`` from Python, so that the workloads can count fsyncs."""
    wal_patterns: ClassVar[tuple[str, ...]] = ()
    """Glob patterns of the engine's write-ahead log files, for recovery's MB of WAL."""

    @abc.abstractmethod
    def open(self, path: Path, *, synced: bool = False) -> None:
        """Open (or create) the database in directory ``path``; ``synced`` for the synced-write workloads."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the database (idempotent)."""

    @abc.abstractmethod
    def putter(self) -> Put:
        """A callable ``put(key, value)``: a write that is logged but not fsynced."""

    @abc.abstractmethod
    def getter(self) -> Get:
        """A callable ``get(key)`` returning the value or ``None``."""

    @abc.abstractmethod
    def scan(self, start: bytes, count: int) -> int:
        """Read the first ``count`` entries with keys ``>= start`` in order; return how many there were."""

    def settle(self) -> None:
        """Turn buffered writes into their on-disk form and wait for background work to finish."""
        return  # by default there is nothing to do

    def compact(self) -> None:
        """Compact everything into the bottom of the tree (or the engine's equivalent)."""
        return  # by default there is nothing to do

    def synced_putter(self) -> Put:
        """A callable ``put(key, value)`` that returns once the write is durable (one sync per write)."""
        raise NotSupported(f"{self.name} keeps nothing on disk: there is nothing to sync")

    def synced_batch(self, pairs: Sequence[tuple[bytes, bytes]]) -> None:
        """Write ``pairs`` as one batch, then make it durable."""
        raise NotSupported(f"{self.name} keeps nothing on disk: there is nothing to sync")

    @contextlib.contextmanager
    def thread_writer(self) -> Iterator[Put]:
        """What one of several concurrent threads uses to write durably (by default ``synced_putter``)."""
        yield self.synced_putter()

    def make_durable(self) -> None:
        """Make every write so far survive the death of the process (before a simulated crash)."""
        return  # by default there is nothing to do

    def counters(self) -> dict[str, int]:
        """The engine's own read counters, under the names ``stats()`` uses (empty if it has none)."""
        return {}

    def write_amplification(self, user_bytes: int) -> tuple[float | None, str]:
        """(bytes the engine says it wrote to SSTables / ``user_bytes``, where the number comes from)."""
        return None, "n/a: the engine reports no write counters"

    @staticmethod
    @abc.abstractmethod
    def settings() -> str:
        """The settings used, in one line, for the report."""

    @staticmethod
    @abc.abstractmethod
    def version() -> str:
        """The engine's version, for the report."""


# ----------------------------------------------------------------------------
# TinyLSM
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TinyLsmSetup:
    """The options TinyLSM runs with, and what is switched off because its day is missing."""

    last_day: int
    """The highest day this copy of the course has (``max(COMPOSITION.day_dirs)``)."""
    composition: str
    """``COMPOSITION.describe()``: which folder each day comes from."""
    options: LsmStorageOptions | None
    """``None`` when there is no engine yet (before day 4)."""
    features_off: tuple[str, ...]
    """``field=value`` for every option that differs from the full engine's because a day is missing."""

    def describe_options(self) -> str:
        """The options in one line (sizes in KiB/MiB)."""
        if self.options is None:
            return f"no engine: day {ENGINE_DAY} is not written yet"
        o = self.options
        return (
            f"target_sst_size {o.target_sst_size >> 20} MiB (also the memtable size), block {o.block_size >> 10} KiB, "
            f"{o.bloom_bits_per_key} bloom bits/key, block cache {o.block_cache_bytes >> 20} MiB, "
            f"{o.num_memtable_limit} memtables, {_compaction_text(o)}, WAL {_on(o.enable_wal)} (no fsync per write), "
            f"manifest {_on(o.enable_manifest)}, background work {_on(o.background_work)}, "
            f"prefix compression {_on(o.prefix_compression)}, checksums {_on(o.checksums)}, "
            f"group commit {_on(o.group_commit)}"
        )


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _compaction_text(options: LsmStorageOptions) -> str:
    compaction = options.compaction
    if type(compaction).__name__ != "LeveledCompactionOptions":
        return f"compaction {type(compaction).__name__}"
    return (
        f"leveled compaction (L0 trigger {compaction.level0_file_num_compaction_trigger}, "
        f"base level {compaction.base_level_size_mb:g} MiB, x{compaction.level_size_multiplier} per level, "
        f"{compaction.max_levels} levels)"
    )


def tinylsm_setup(composition: Composition | None = None) -> TinyLsmSetup:
    """The benchmark's TinyLSM options for the days of ``composition`` (default: ``tinylsm.COMPOSITION``)."""
    from tinylsm.options import LeveledCompactionOptions
    from tinylsm.testkit import options_for_day

    if composition is None:
        from tinylsm import COMPOSITION as composition
    last_day = max(composition.day_dirs, default=0)
    if last_day < ENGINE_DAY or not all(day in composition.day_dirs for day in range(1, ENGINE_DAY + 1)):
        return TinyLsmSetup(last_day, composition.describe(), None, ())

    def options(day: int) -> LsmStorageOptions:
        overrides: dict[str, object] = {}
        if day >= 5:  # compaction, and the background thread that runs it, exist from day 5 on
            overrides = {
                "background_work": True,
                "compaction": LeveledCompactionOptions(base_level_size_mb=BASE_LEVEL_SIZE_MB),
            }
        return options_for_day(day, **overrides)

    chosen, full = options(last_day), options(7)
    features_off = tuple(
        f"{field.name}={getattr(chosen, field.name)!r}"
        for field in dataclasses.fields(chosen)
        if getattr(chosen, field.name) != getattr(full, field.name)
    )
    return TinyLsmSetup(last_day, composition.describe(), chosen, features_off)


class TinyLsm(Engine):
    """The course's engine, composed as ``TINYLSM_IMPL`` says."""

    name = "tinylsm"
    python_fsyncs = True
    wal_patterns = ("*.wal",)

    def __init__(self) -> None:
        setup = tinylsm_setup()
        if setup.options is None:
            raise NotSupported(setup.describe_options())
        self.options = setup.options
        self.db: LsmStorage | None = None

    def open(self, path: Path, *, synced: bool = False) -> None:
        from tinylsm.engine import LsmStorage

        self.db = LsmStorage.open(path, self.options)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def _db(self) -> LsmStorage:
        assert self.db is not None, "open the engine first"
        return self.db

    def putter(self) -> Put:
        return self._db().put

    def getter(self) -> Get:
        return self._db().get

    def scan(self, start: bytes, count: int) -> int:
        return sum(1 for _ in itertools.islice(self._db().scan(start), count))

    def settle(self) -> None:
        """``force_flush``, then wait until the compaction controller asks for nothing more."""
        from tinylsm.options import NoCompaction

        db = self._db()
        db.force_flush()
        if isinstance(db.options.compaction, NoCompaction) or not db.options.background_work:
            return  # no compaction, or it ran inline in the flush: nothing is left to wait for
        from tinylsm.compaction import controller_for
        from tinylsm.state import shape_of

        controller = controller_for(db.options.compaction)
        deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
        while controller is not None and (
            db.state.imm_memtables or controller.generate_task(shape_of(db.state)) is not None
        ):
            if time.monotonic() > deadline:  # e.g. the background thread died: do not wait forever
                raise RuntimeError(f"background compaction did not settle within {SETTLE_LIMIT_SECONDS} s")
            time.sleep(SETTLE_POLL_SECONDS)

    def compact(self) -> None:
        self._db().force_full_compaction()
        self.settle()

    def synced_putter(self) -> Put:
        db = self._db()
        put, sync = db.put, db.sync

        def put_and_sync(key: bytes, value: bytes) -> None:
            put(key, value)
            sync()

        return put_and_sync

    def synced_batch(self, pairs: Sequence[tuple[bytes, bytes]]) -> None:
        db = self._db()
        db.write_batch(pairs)
        db.sync()

    def make_durable(self) -> None:
        self._db().sync()

    def counters(self) -> dict[str, int]:
        stats = self._db().stats()
        names = ("blocks_read", "block_cache_hits", "block_cache_misses", "filter_negatives")
        return {name: int(stats[name]) for name in names if name in stats}

    def write_amplification(self, user_bytes: int) -> tuple[float | None, str]:
        stats = self._db().stats()
        return float(stats["write_amplification"]), "stats(): (flush + compaction bytes) / user bytes; WAL not counted"

    @staticmethod
    def settings() -> str:
        return tinylsm_setup().describe_options()

    @staticmethod
    def version() -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("tinylsm")
        except PackageNotFoundError:
            return "not installed as a package"
