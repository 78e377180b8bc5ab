"""Options of the engine: one dataclass that every builder and the engine take.

Passing the whole options object (instead of loose parameters) lets a later day
switch on a feature without changing any earlier signature. The defaults suit the
full engine; the tests of an early day pass options that switch later days'
features off (see ``tinylsm.testkit.options_for_day``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from numbers import Real

MAX_KEY_SIZE = 65_535
"""Longest key the engine accepts, in bytes (a key length is a ``u16`` on disk)."""

MAX_VALUE_SIZE = 1 << 20
"""Longest value the engine accepts, in bytes (1 MiB)."""

MAX_BLOCK_SIZE = 1 << 16
"""Largest ``block_size``: offsets inside a block are ``u16``."""

MAX_LEVELS = 255
"""Most levels below L0: a level number is a ``u8`` in the manifest."""

MAX_BLOOM_BITS_PER_KEY = 64
"""Most filter bits per key: beyond about 44 the probe count is already at its cap of 30."""

MAX_BASE_LEVEL_SIZE_MB = 1 << 40
"""Largest ``base_level_size_mb`` (2^40 MiB, an exbibyte): level targets stay exact integers."""

WAL_RECOVERY_MODES = ("tolerate_corrupted_tail_records", "absolute_consistency")
"""The values of ``LsmStorageOptions.wal_recovery_mode``; the first is the default."""


def _check_int(owner: object, name: str, low: int, high: int | None = None) -> None:
    """Refuse a field that is not an ``int`` (``bool`` included) or lies outside ``low..high``."""
    value = getattr(owner, name)
    allowed = f"{low}..{high}" if high is not None else f"{low} or more"
    where = f"{type(owner).__name__}.{name}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where} must be an int ({allowed}), got {type(value).__name__} {value!r:.40}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{where} must be {allowed}, got {value}")


def _check_bool(owner: object, name: str) -> None:
    """Refuse a switch that is not ``True`` or ``False`` (``0``, ``1`` and ``"no"`` included)."""
    value = getattr(owner, name)
    if not isinstance(value, bool):
        raise TypeError(
            f"{type(owner).__name__}.{name} must be True or False, got {type(value).__name__} {value!r:.40}"
        )


@dataclass(frozen=True)
class NoCompaction:
    """Never compact: every flush adds an L0 table (day 4's setting)."""


@dataclass(frozen=True)
class SimpleLeveledCompactionOptions:
    """Simple leveled compaction: compact a level into the next by file-count ratio."""

    size_ratio_percent: int = 200
    level0_file_num_compaction_trigger: int = 2
    max_levels: int = 3

    def __post_init__(self) -> None:
        _check_int(self, "size_ratio_percent", 1)
        _check_int(self, "level0_file_num_compaction_trigger", 1)
        _check_int(self, "max_levels", 1, MAX_LEVELS)


@dataclass(frozen=True)
class TieredCompactionOptions:
    """Tiered (universal) compaction: sorted runs merged by space and size ratios."""

    num_tiers: int = 3
    max_size_amplification_percent: int = 200
    size_ratio: int = 1
    min_merge_width: int = 2

    def __post_init__(self) -> None:
        # One tier is always "too many" when num_tiers is 1, so merging would never stop.
        _check_int(self, "num_tiers", 2)
        _check_int(self, "max_size_amplification_percent", 0)
        _check_int(self, "size_ratio", 0)
        _check_int(self, "min_merge_width", 2)


@dataclass(frozen=True)
class LeveledCompactionOptions:
    """Leveled compaction with dynamic level sizes, as LevelDB and RocksDB do it."""

    level_size_multiplier: int = 10
    level0_file_num_compaction_trigger: int = 4
    max_levels: int = 4
    base_level_size_mb: float = 128
    """Target size of the base level in MiB (a fraction is allowed, for small tests)."""

    def __post_init__(self) -> None:
        # A multiplier of 1 would give every level the same target: nothing would ever sink.
        _check_int(self, "level_size_multiplier", 2)
        _check_int(self, "level0_file_num_compaction_trigger", 1)
        _check_int(self, "max_levels", 1, MAX_LEVELS)
        size = self.base_level_size_mb
        if isinstance(size, bool) or not isinstance(size, Real):
            raise TypeError(
                f"LeveledCompactionOptions.base_level_size_mb must be a number (more than 0 MiB and "
                f"at most {MAX_BASE_LEVEL_SIZE_MB} MiB), "
                f"got {type(size).__name__} {size!r:.40}"
            )
        if not 0 < size <= MAX_BASE_LEVEL_SIZE_MB:  # false for NaN and infinity too
            raise ValueError(
                f"LeveledCompactionOptions.base_level_size_mb must be more than 0 MiB and at most "
                f"{MAX_BASE_LEVEL_SIZE_MB} MiB, got {size!r:.40}"
            )


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
    wal_recovery_mode: str = WAL_RECOVERY_MODES[0]

    def __post_init__(self) -> None:
        _check_int(self, "block_size", 1, MAX_BLOCK_SIZE)
        _check_int(self, "target_sst_size", 1)
        _check_int(self, "num_memtable_limit", 1)
        _check_int(self, "bloom_bits_per_key", 0, MAX_BLOOM_BITS_PER_KEY)
        _check_int(self, "block_cache_bytes", 0)
        if not isinstance(
            self.compaction,
            NoCompaction | SimpleLeveledCompactionOptions | TieredCompactionOptions | LeveledCompactionOptions,
        ):
            raise TypeError(
                f"LsmStorageOptions.compaction must be one of the four compaction option classes, "
                f"got {self.compaction!r:.60}"
            )
        for switch in fields(self):
            if switch.type == "bool":
                _check_bool(self, switch.name)
        modes = ", ".join(map(repr, WAL_RECOVERY_MODES))
        if not isinstance(self.wal_recovery_mode, str):
            raise TypeError(
                f"LsmStorageOptions.wal_recovery_mode must be a str ({modes}), got {self.wal_recovery_mode!r:.40}"
            )
        if self.wal_recovery_mode not in WAL_RECOVERY_MODES:
            raise ValueError(
                f"LsmStorageOptions.wal_recovery_mode must be one of {modes}, got {self.wal_recovery_mode!r:.60}"
            )
