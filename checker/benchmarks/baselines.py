"""The baselines: the same workloads on a dict, SQLite, LevelDB and RocksDB.

* ``dict``: a ``sortedcontainers.SortedDict`` (a dict plus a sorted key list), the
  pure-Python floor. It lives in memory: it writes nothing to disk, so it has no
  sync, no recovery and no amplification.
* ``sqlite3`` (standard library): a table ``(k BLOB PRIMARY KEY, v BLOB) WITHOUT
  ROWID``, WAL mode, ``synchronous=NORMAL``, one transaction per 1,000 writes,
  4 KiB pages, 8 MiB page cache; ``synchronous=FULL`` with one transaction per
  write (or per batch) for the synced writes.
* ``plyvel`` (LevelDB) and ``rocksdict`` (RocksDB), when installed (``pip install
  -e '.[bench]'``), with settings comparable to TinyLSM's: WAL on without an fsync
  per write, 2 MiB memtables and SSTables, 4 KiB blocks, 10 bloom bits per key,
  an 8 MiB block cache, no compression (TinyLSM compresses nothing).
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from checker.benchmarks.engines import Engine, Get, NotSupported, Put

MIB = 1 << 20
SQLITE_WRITES_PER_TRANSACTION = 1_000
"""SQLite commits once per this many writes in the unsynced workloads (pinned, and printed)."""

INSTALL_HINT = "pip install -e '.[bench]'"


class DictBaseline(Engine):
    """A ``SortedDict`` in memory: what pure Python does with no disk at all."""

    name = "dict"
    in_memory = True

    def __init__(self) -> None:
        from sortedcontainers import SortedDict

        self._new = SortedDict
        self.data: Any = None

    def open(self, path: Path, *, synced: bool = False) -> None:
        self.data = self._new()

    def close(self) -> None:
        self.data = None

    def putter(self) -> Put:
        return self.data.__setitem__

    def getter(self) -> Get:
        return self.data.get

    def scan(self, start: bytes, count: int) -> int:
        data = self.data
        return sum(1 for key in itertools.islice(data.irange(minimum=start), count) if data[key] is not None)

    @staticmethod
    def settings() -> str:
        return "sortedcontainers.SortedDict in memory (nothing on disk: no WAL, no sync, no recovery)"

    @staticmethod
    def version() -> str:
        return f"sortedcontainers {version('sortedcontainers')}"


class SqliteBaseline(Engine):
    """SQLite through the standard library's ``sqlite3``."""

    name = "sqlite3"
    wal_patterns = ("*-wal",)

    def __init__(self) -> None:
        self.connection: sqlite3.Connection | None = None
        self._pending = 0

    def open(self, path: Path, *, synced: bool = False) -> None:
        self._file = path / "bench.sqlite3"
        self._synced = synced
        self.connection = self._connect()
        self.connection.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
        self._pending = 0

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions, each statement commits unless BEGIN says otherwise.
        connection = sqlite3.connect(self._file, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA page_size = 4096")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {'FULL' if self._synced else 'NORMAL'}")
        connection.execute("PRAGMA cache_size = -8192")  # KiB: an 8 MiB page cache, like the block caches
        connection.execute("PRAGMA busy_timeout = 60000")
        return connection

    def _conn(self) -> sqlite3.Connection:
        assert self.connection is not None, "open the engine first"
        return self.connection

    def close(self) -> None:
        if self.connection is not None:
            self._commit()
            self.connection.close()
            self.connection = None

    def _commit(self) -> None:
        if self._pending:
            self._conn().execute("COMMIT")
            self._pending = 0

    def putter(self) -> Put:
        execute = self._conn().execute
        insert = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"

        def put(key: bytes, value: bytes) -> None:
            if self._pending == 0:
                execute("BEGIN")
            execute(insert, (key, value))
            self._pending += 1
            if self._pending == SQLITE_WRITES_PER_TRANSACTION:
                execute("COMMIT")
                self._pending = 0

        return put

    def getter(self) -> Get:
        execute = self._conn().execute
        select = "SELECT v FROM kv WHERE k = ?"

        def get(key: bytes) -> bytes | None:
            row = execute(select, (key,)).fetchone()
            return None if row is None else row[0]

        return get

    def scan(self, start: bytes, count: int) -> int:
        rows = self._conn().execute("SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?", (start, count))
        return sum(1 for _ in rows)

    def settle(self) -> None:
        """Commit, then checkpoint the WAL into the database file (SQLite's flush)."""
        self._commit()
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def compact(self) -> None:
        """``VACUUM`` rebuilds the B-tree, SQLite's closest thing to a full compaction."""
        self._commit()
        self._conn().execute("VACUUM")
        self.settle()

    def synced_putter(self) -> Put:
        execute = self._conn().execute
        insert = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"

        def put(key: bytes, value: bytes) -> None:
            execute(insert, (key, value))  # a transaction of its own, fsynced at commit (synchronous=FULL)

        return put

    def synced_batch(self, pairs: Sequence[tuple[bytes, bytes]]) -> None:
        connection = self._conn()
        connection.execute("BEGIN")
        connection.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", pairs)
        connection.execute("COMMIT")

    @contextlib.contextmanager
    def thread_writer(self) -> Iterator[Put]:
        """A connection per thread: SQLite lets one writer at a time commit (it has no group commit)."""
        connection = self._connect()
        execute = connection.execute
        insert = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"
        try:
            yield lambda key, value: execute(insert, (key, value))
        finally:
            connection.close()

    def make_durable(self) -> None:
        self._commit()  # committed pages are in the OS's cache: they survive the death of the process

    @staticmethod
    def settings() -> str:
        return (
            "table (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID, journal_mode=WAL, synchronous=NORMAL, "
            f"one transaction per {SQLITE_WRITES_PER_TRANSACTION:,} writes, page_size 4 KiB, cache 8 MiB; "
            "synced writes: synchronous=FULL, one transaction per write or per batch, a connection per thread; "
            "settle: COMMIT + wal_checkpoint(TRUNCATE); compaction: VACUUM"
        )

    @staticmethod
    def version() -> str:
        return f"SQLite {sqlite3.sqlite_version}"


class PlyvelBaseline(Engine):
    """LevelDB through ``plyvel``."""

    name = "plyvel"
    wal_patterns = ("*.log",)

    def __init__(self) -> None:
        import plyvel

        self._plyvel = plyvel
        self.db: Any = None

    def open(self, path: Path, *, synced: bool = False) -> None:
        self._path = path
        self.db = self._plyvel.DB(
            str(path),
            create_if_missing=True,
            write_buffer_size=2 * MIB,
            max_file_size=2 * MIB,
            block_size=4096,
            bloom_filter_bits=10,
            lru_cache_size=8 * MIB,
            compression=None,
        )

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def putter(self) -> Put:
        return self.db.put

    def getter(self) -> Get:
        return self.db.get

    def scan(self, start: bytes, count: int) -> int:
        with self.db.iterator(start=start) as entries:
            return sum(1 for _ in itertools.islice(entries, count))

    def settle(self) -> None:
        """Close (LevelDB waits for its running compaction) and reopen (which writes the log to level 0)."""
        self.close()
        self.open(self._path)

    def compact(self) -> None:
        self.db.compact_range()

    def synced_putter(self) -> Put:
        put = self.db.put

        def put_synced(key: bytes, value: bytes) -> None:
            put(key, value, sync=True)

        return put_synced

    def synced_batch(self, pairs: Sequence[tuple[bytes, bytes]]) -> None:
        with self.db.write_batch(sync=True) as batch:
            for key, value in pairs:
                batch.put(key, value)

    def make_durable(self) -> None:
        with self.db.write_batch(sync=True):
            pass

    @staticmethod
    def settings() -> str:
        return (
            "write_buffer_size 2 MiB, max_file_size 2 MiB, block 4 KiB, 10 bloom bits/key, block cache 8 MiB, "
            "no compression, level-0 trigger 4 and level 1 10 MB (LevelDB's fixed values); "
            "settle: close + reopen; compaction: compact_range()"
        )

    @staticmethod
    def version() -> str:
        import plyvel

        return f"plyvel {version('plyvel')} (LevelDB {plyvel.__leveldb_version__})"


class RocksdictBaseline(Engine):
    """RocksDB through ``rocksdict`` (raw mode: bytes keys and values, no pickling)."""

    name = "rocksdict"
    wal_patterns = ("*.log",)

    def __init__(self) -> None:
        import rocksdict

        self._rocksdict = rocksdict
        self.db: Any = None
        self.options: Any = None

    def open(self, path: Path, *, synced: bool = False) -> None:
        r = self._rocksdict
        options = r.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_write_buffer_size(2 * MIB)
        options.set_max_write_buffer_number(3)
        options.set_target_file_size_base(2 * MIB)
        options.set_max_bytes_for_level_base(10 * MIB)
        options.set_max_bytes_for_level_multiplier(10)
        options.set_level_zero_file_num_compaction_trigger(4)
        options.set_level_compaction_dynamic_level_bytes(True)
        options.set_compression_type(r.DBCompressionType.none())
        options.enable_statistics()
        table = r.BlockBasedOptions()
        table.set_block_size(4096)
        table.set_bloom_filter(10, False)
        table.set_block_cache(r.Cache(8 * MIB))
        options.set_block_based_table_factory(table)
        self.options = options
        self.db = r.Rdict(str(path), options)
        self._sync = r.WriteOptions()
        self._sync.sync = True

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def putter(self) -> Put:
        return self.db.put

    def getter(self) -> Get:
        return self.db.get

    def scan(self, start: bytes, count: int) -> int:
        return sum(1 for _ in itertools.islice(self.db.items(from_key=start), count))

    def settle(self) -> None:
        """Flush the memtables, then wait until no compaction is pending or running."""
        db = self.db
        db.flush()
        while db.property_int_value("rocksdb.compaction-pending") or db.property_int_value(
            "rocksdb.num-running-compactions"
        ):
            time.sleep(0.005)

    def compact(self) -> None:
        self.db.compact_range(None, None)
        self.settle()

    def synced_putter(self) -> Put:
        put, options = self.db.put, self._sync

        def put_synced(key: bytes, value: bytes) -> None:
            put(key, value, options)

        return put_synced

    def synced_batch(self, pairs: Sequence[tuple[bytes, bytes]]) -> None:
        batch = self._rocksdict.WriteBatch(raw_mode=True)
        for key, value in pairs:
            batch.put(key, value)
        self.db.write(batch, self._sync)

    def make_durable(self) -> None:
        self.db.flush_wal(True)

    def _tickers(self) -> dict[str, int]:
        text = self.options.get_statistics() or ""
        return {match[1]: int(match[2]) for match in re.finditer(r"^(rocksdb\.[\w.]+) COUNT : (\d+)", text, re.M)}

    def counters(self) -> dict[str, int]:
        tickers = self._tickers()
        names = {
            "block_cache_hits": "rocksdb.block.cache.data.hit",
            "block_cache_misses": "rocksdb.block.cache.data.miss",
            "filter_negatives": "rocksdb.bloom.filter.useful",
        }
        return {name: tickers[ticker] for name, ticker in names.items() if ticker in tickers}

    def write_amplification(self, user_bytes: int) -> tuple[float | None, str]:
        tickers = self._tickers()
        flush, compaction = tickers.get("rocksdb.flush.write.bytes"), tickers.get("rocksdb.compact.write.bytes")
        if flush is None or compaction is None or not user_bytes:
            return None, "n/a: RocksDB's statistics have no flush/compaction byte counters"
        return (flush + compaction) / user_bytes, "statistics: (flush + compaction write bytes) / user bytes"

    @staticmethod
    def settings() -> str:
        return (
            "write_buffer_size 2 MiB x 3, target_file_size_base 2 MiB, level base 10 MiB x10 (dynamic), "
            "level-0 trigger 4, block 4 KiB, 10 bloom bits/key (full filter), block cache 8 MiB, no compression; "
            "settle: flush + wait for compactions; compaction: compact_range()"
        )

    @staticmethod
    def version() -> str:
        return f"rocksdict {version('rocksdict')}"


BASELINES: dict[str, type[Engine]] = {
    "dict": DictBaseline,
    "sqlite3": SqliteBaseline,
    "plyvel": PlyvelBaseline,
    "rocksdict": RocksdictBaseline,
}
"""Every baseline, in the order of the report's columns."""

_MODULES = {"dict": "sortedcontainers", "sqlite3": "sqlite3", "plyvel": "plyvel", "rocksdict": "rocksdict"}


def missing_reason(name: str) -> str | None:
    """``None`` when baseline ``name`` can run here, else why not (with the command that installs it)."""
    if importlib.util.find_spec(_MODULES[name]) is None:
        return f"not installed: {INSTALL_HINT}"
    return None


def baseline_version(name: str) -> str:
    """The version of baseline ``name``'s package, or why there is none."""
    try:
        return BASELINES[name].version()
    except (ImportError, PackageNotFoundError):
        return f"{name}: not installed"


def new_engine(name: str) -> Engine:
    """An engine by name: ``tinylsm`` or a baseline."""
    if name == "tinylsm":
        from checker.benchmarks.engines import TinyLsm

        return TinyLsm()
    if name not in BASELINES:
        raise NotSupported(f"unknown engine {name!r}")
    return BASELINES[name]()
