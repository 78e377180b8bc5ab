"""RocksDB (``rocksdict``) and LevelDB (``plyvel``), when installed, measured on the same workload as the engine."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checker.figures.amplification import Amplification
from checker.figures.style import MIB, bytes_text
from checker.figures.workloads import Workload, scratch_directory
from tinylsm.options import LeveledCompactionOptions

EXTERNAL_ENGINES = {"RocksDB": "rocksdict", "LevelDB": "plyvel"}
"""The engines measured for comparison, and the Python package that drives each."""


def external_engine_status() -> dict[str, str | None]:
    """For RocksDB and LevelDB: ``None`` when its package can be imported, else why not."""
    import importlib.util

    return {
        name: None if importlib.util.find_spec(package) else f"{package} is not installed (pip install -e '.[bench]')"
        for name, package in EXTERNAL_ENGINES.items()
    }


@dataclass(frozen=True)
class ComparableSettings:
    """Settings that TinyLSM's leveled compaction, RocksDB and LevelDB share as far as each allows."""

    sst_size: int
    base_level_bytes: int
    multiplier: int = 10
    l0_trigger: int = 4
    block_size: int = 4096
    bloom_bits_per_key: int = 10

    def tinylsm_compaction(self) -> LeveledCompactionOptions:
        """The same shape as TinyLSM leveled options."""
        return LeveledCompactionOptions(
            level_size_multiplier=self.multiplier,
            level0_file_num_compaction_trigger=self.l0_trigger,
            base_level_size_mb=self.base_level_bytes / MIB,
        )

    def describe(self) -> str:
        """One line for the notebook's output."""
        return (
            f"SSTs and memtables of {bytes_text(self.sst_size)}, L0 trigger {self.l0_trigger} files, "
            f"base level {bytes_text(self.base_level_bytes)}, x{self.multiplier} per level, "
            f"{bytes_text(self.block_size)} blocks, {self.bloom_bits_per_key} bloom bits per key, no compression"
        )


ROCKSDB_POLL_SECONDS = 0.002
"""How often the RocksDB run looks whether its background compactions are done."""


def rocksdb_amplification(workload: Workload, settings: ComparableSettings) -> Amplification:
    """Run ``workload`` on RocksDB (``rocksdict``), flushing on the same schedule, and measure it.

    Write amplification comes from RocksDB's statistics, ``(rocksdb.flush.write.bytes
    + rocksdb.compact.write.bytes) / user bytes``; sorted runs from
    ``rocksdb.num-files-at-levelN``; space amplification from
    ``rocksdb.total-sst-files-size`` before and after ``compact_range``.
    """
    import rocksdict

    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(settings.sst_size)
    options.set_target_file_size_base(settings.sst_size)
    options.set_max_bytes_for_level_base(settings.base_level_bytes)
    options.set_max_bytes_for_level_multiplier(settings.multiplier)
    options.set_level_zero_file_num_compaction_trigger(settings.l0_trigger)
    options.set_level_compaction_dynamic_level_bytes(True)
    options.set_compression_type(rocksdict.DBCompressionType.none())
    options.enable_statistics()
    table = rocksdict.BlockBasedOptions()
    table.set_block_size(settings.block_size)
    table.set_bloom_filter(settings.bloom_bits_per_key, False)
    options.set_block_based_table_factory(table)
    max_runs = 0
    with scratch_directory() as directory:
        db = rocksdict.Rdict(str(directory / "rocksdb"), options)
        try:
            for count, (key, value) in enumerate(workload.pairs(), 1):
                db.put(key, value)
                if count % workload.puts_per_flush == 0 or count == workload.puts:
                    db.flush()
                    _rocksdb_settle(db)
                    max_runs = max(max_runs, _rocksdb_runs(db))
            runs, levels = _rocksdb_runs(db), _rocksdb_levels(db)
            tickers = {
                match[1]: int(match[2])
                for match in re.finditer(r"^(rocksdb\.[\w.]+) COUNT : (\d+)", options.get_statistics() or "", re.M)
            }
            written = tickers["rocksdb.flush.write.bytes"] + tickers["rocksdb.compact.write.bytes"]
            on_disk = db.property_int_value("rocksdb.total-sst-files-size")
            db.compact_range(None, None)
            _rocksdb_settle(db)
            live = db.property_int_value("rocksdb.total-sst-files-size")
        finally:
            db.close()
    return Amplification(
        label="RocksDB leveled",
        write=written / workload.user_bytes,
        runs=runs,
        max_runs=max_runs,
        space=on_disk / live if live else None,
        levels=levels,
        note="blocks per get: not measured",
    )


def _rocksdb_settle(db: Any) -> None:
    """Wait until RocksDB runs no compaction and has none pending."""
    while db.property_int_value("rocksdb.compaction-pending") or db.property_int_value(
        "rocksdb.num-running-compactions"
    ):
        time.sleep(ROCKSDB_POLL_SECONDS)


def _rocksdb_files(db: Any) -> list[int]:
    return [db.property_int_value(f"rocksdb.num-files-at-level{level}") or 0 for level in range(7)]


def _rocksdb_runs(db: Any) -> int:
    files = _rocksdb_files(db)
    return files[0] + sum(1 for count in files[1:] if count)


def _rocksdb_levels(db: Any) -> int:
    return sum(1 for count in _rocksdb_files(db)[1:] if count)


LEVELDB_FLUSH = re.compile(r"Level-0 table #\d+: (\d+) bytes OK")
LEVELDB_COMPACTION = re.compile(r"Generated table #\d+@\d+: \d+ keys, (\d+) bytes")


def leveldb_amplification(workload: Workload, settings: ComparableSettings) -> Amplification:
    """Run ``workload`` on LevelDB (``plyvel``) and measure its write amplification.

    LevelDB has no counters of bytes written, but its info log names every table
    it writes with its size: ``Level-0 table #N: B bytes OK`` for a flush and
    ``Generated table #N@L: K keys, B bytes`` for a compaction output. The sum is
    read from ``LOG`` and ``LOG.old`` (a reopen, which writes the last memtable
    to an SST, moves the log there). LevelDB's level sizes are fixed (L1 holds
    10 MB, x10 per level) and it flushes on its own when a memtable is full, so
    only the SST size, the block size and the filter follow ``settings``; it does
    not say when its background compactions are done, so sorted runs and space
    are not measured.
    """
    import plyvel

    def open_db(path: Path) -> Any:
        return plyvel.DB(
            str(path),
            create_if_missing=True,
            write_buffer_size=settings.sst_size,
            max_file_size=settings.sst_size,
            block_size=settings.block_size,
            bloom_filter_bits=settings.bloom_bits_per_key,
            compression=None,
        )

    with scratch_directory() as directory:
        path = directory / "leveldb"
        db = open_db(path)
        try:
            put = db.put
            for key, value in workload.pairs():
                put(key, value)
        finally:
            db.close()  # waits for the compaction that is running
        open_db(path).close()  # the reopen writes the last memtable (still in the log) to an SST
        log = "".join((path / name).read_text() for name in ("LOG.old", "LOG") if (path / name).exists())
    written = sum(int(size) for size in LEVELDB_FLUSH.findall(log)) + sum(
        int(size) for size in LEVELDB_COMPACTION.findall(log)
    )
    return Amplification(
        label="LevelDB leveled",
        write=written / workload.user_bytes,
        note="sorted runs, blocks per get, space: not measured (LevelDB does not say when compactions are done)",
    )
