"""Options of the engine: one dataclass that every builder and the engine take.

Passing the whole options object (instead of loose parameters) lets a later day
switch on a feature without changing any earlier signature. The defaults suit the
full engine; the tests of an early day pass options that switch later days'
features off (see ``tinylsm.testkit.options_for_day``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_KEY_SIZE = 65_535
"""Longest key the engine accepts, in bytes (a key length is a ``u16`` on disk)."""

MAX_VALUE_SIZE = 1 << 20
"""Longest value the engine accepts, in bytes (1 MiB)."""

MAX_BLOCK_SIZE = 1 << 16
"""Largest ``block_size``: offsets inside a block are ``u16``."""


@dataclass(frozen=True)
class NoCompaction:
    """Never compact: every flush adds an L0 table (day 4's setting)."""


@dataclass(frozen=True)
class SimpleLeveledCompactionOptions:
    """Simple leveled compaction: compact a level into the next by file-count ratio."""

    size_ratio_percent: int = 200
    level0_file_num_compaction_trigger: int = 2
    max_levels: int = 3


@dataclass(frozen=True)
class TieredCompactionOptions:
    """Tiered (universal) compaction: sorted runs merged by space and size ratios."""

    num_tiers: int = 3
    max_size_amplification_percent: int = 200
    size_ratio: int = 1
    min_merge_width: int = 2


@dataclass(frozen=True)
class LeveledCompactionOptions:
    """Leveled compaction with dynamic level sizes, as LevelDB and RocksDB do it."""

    level_size_multiplier: int = 10
    level0_file_num_compaction_trigger: int = 4
    max_levels: int = 4
    base_level_size_mb: float = 128
    """Target size of the base level in MiB (a fraction is allowed, for small tests)."""


CompactionOptions = NoCompaction | SimpleLeveledCompactionOptions | TieredCompactionOptions | LeveledCompactionOptions


@dataclass(frozen=True)
class LsmStorageOptions:
    """Every tunable of the engine, with the full engine's defaults.

    ``block_size`` and ``target_sst_size`` are in bytes; ``target_sst_size`` is also
    the memtable size that triggers a freeze. ``background_work`` runs flushes and
    compactions on a background thread (day 5) instead of in the writer.
    ``enable_wal`` logs every write before it is applied; ``enable_manifest``
    records the tree's shape so that a reopen finds the levels (day 6).
    ``bloom_bits_per_key = 0`` means no filter. ``group_commit`` lets concurrent
    ``sync()`` callers share one fsync (day 7).
    """

    block_size: int = 4096
    target_sst_size: int = 2 << 20
    num_memtable_limit: int = 3
    compaction: CompactionOptions = field(default_factory=LeveledCompactionOptions)
    background_work: bool = True
    enable_wal: bool = True
    enable_manifest: bool = True
    bloom_bits_per_key: int = 10
    block_cache_bytes: int = 8 << 20
    prefix_compression: bool = True
    checksums: bool = True
    group_commit: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.block_size <= MAX_BLOCK_SIZE:
            raise ValueError(f"block_size must be 1..{MAX_BLOCK_SIZE} bytes, got {self.block_size}")
        if self.target_sst_size < 1:
            raise ValueError(f"target_sst_size must be at least 1 byte, got {self.target_sst_size}")
        if self.num_memtable_limit < 1:
            raise ValueError(f"num_memtable_limit must be at least 1, got {self.num_memtable_limit}")
        if self.bloom_bits_per_key < 0:
            raise ValueError(f"bloom_bits_per_key must be 0 or more, got {self.bloom_bits_per_key}")
        if self.block_cache_bytes < 0:
            raise ValueError(f"block_cache_bytes must be 0 or more, got {self.block_cache_bytes}")
        if not isinstance(
            self.compaction,
            NoCompaction | SimpleLeveledCompactionOptions | TieredCompactionOptions | LeveledCompactionOptions,
        ):
            raise TypeError(f"compaction must be one of the four compaction option classes, got {self.compaction!r}")
