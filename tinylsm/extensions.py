"""Where a later day's work plugs into an earlier day's code.

An earlier day never imports a later day's module directly: it asks this module,
which returns the plain behaviour when the option is off and imports the later
day's module only when it is on. So day 1's block builder works before day 7
exists, and day 7's prefix compression reaches day 1's blocks without anyone
editing ``days/day1``.

| extension point   | called by (day)  | switched on by                            | provided by (day)    |
|-------------------|------------------|-------------------------------------------|----------------------|
| shared key prefix | ``block`` (1)    | ``prefix_compression``                    | ``prefix`` (7)       |
| section checksums | ``sstable`` (2)  | ``checksums``                             | ``checksum`` (7)     |
| key filter        | ``sstable`` (2)  | ``bloom_bits_per_key > 0``                | ``bloom`` (7)        |
| durability        | ``engine`` (4)   | ``enable_wal`` or ``enable_manifest``     | ``recovery`` (6)     |
| compaction        | ``engine`` (4)   | ``compaction``, ``force_full_compaction`` | ``compaction`` (5)   |
| group commit      | ``recovery`` (6) | ``group_commit``                          | ``group_commit`` (7) |
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tinylsm.durability import Durability, PlainDurability, StopAfterFailure, refuse_unknown_order
from tinylsm.options import LsmStorageOptions

if TYPE_CHECKING:
    from tinylsm.block_cache import BlockCache
    from tinylsm.engine import LsmStorage


class FilterBuilder(Protocol):
    """Collects the keys of one SSTable and encodes a filter over them."""

    def add_key(self, key: bytes) -> None: ...

    def build(self) -> bytes: ...


class KeyFilter(Protocol):
    """Answers "may this SSTable hold the key?" with no false negatives."""

    def may_contain(self, key: bytes) -> bool: ...


def no_shared_prefix(first_key: bytes, key: bytes) -> int:
    """Store every key whole: the shared prefix length is always 0."""
    return 0


def shared_prefix_function(options: LsmStorageOptions) -> Callable[[bytes, bytes], int]:
    """How many leading bytes of a key a block may take from the block's first key."""
    if options.prefix_compression:
        from tinylsm.prefix import shared_prefix_length

        return shared_prefix_length
    return no_shared_prefix


def checksum_function(options: LsmStorageOptions) -> Callable[[bytes], int] | None:
    """The checksum an SSTable writer stores after each section, or ``None`` for none."""
    if options.checksums:
        from tinylsm.checksum import checksum

        return checksum
    return None


def verify_checksum(data: bytes, stored: int, where: str) -> None:
    """Raise ``CorruptionError`` naming ``where`` unless ``data`` matches ``stored``.

    Called only for files whose footer says they carry checksums, but then for every
    block read from disk: the day-7 module is looked up in ``sys.modules``, because
    an ``import`` statement here would cost about 0.8 µs, 15 % of reading a block
    that the operating system has cached.
    """
    checksums = sys.modules.get("tinylsm.checksum") or importlib.import_module("tinylsm.checksum")
    checksums.verify_checksum(data, stored, where)


def filter_builder(options: LsmStorageOptions) -> FilterBuilder | None:
    """A builder of the per-SSTable key filter, or ``None`` when filters are off."""
    if options.bloom_bits_per_key > 0:
        from tinylsm.bloom import BloomBuilder

        return BloomBuilder(options.bloom_bits_per_key)
    return None


def decode_filter(raw: bytes) -> KeyFilter:
    """Read back a filter that ``filter_builder(...).build()`` wrote."""
    from tinylsm.bloom import Bloom

    return Bloom.decode(raw)


class Compactor(Protocol):
    """Runs compactions for one engine (day 5); the engine calls it, never the reverse."""

    def start(self) -> None:
        """Begin background work, if the options ask for it."""
        ...

    def after_flush(self) -> None:
        """A flush added an L0 table: compact now (inline) or wake the background thread."""
        ...

    def force_full_compaction(self) -> None:
        """Compact every SSTable into the bottom of the tree."""
        ...

    def stop(self) -> None:
        """Finish background work and stop its thread (idempotent)."""
        ...


def sync_function(options: LsmStorageOptions, fsync: Callable[[], None]) -> Callable[[], None]:
    """What a WAL calls to make its writes durable: ``fsync`` itself, or day 7's group commit.

    With group commit, threads that call the returned function at the same time
    share one call of ``fsync``; each still returns only after an ``fsync`` that
    began after it was called has finished.
    """
    if options.group_commit:
        from tinylsm.group_commit import GroupCommit

        return GroupCommit(fsync).sync
    return fsync


def durability(options: LsmStorageOptions, directory: Path, block_cache: BlockCache) -> Durability:
    """The write-ahead log and manifest of day 6, or plain SSTables when both are off.

    A directory that already has a manifest keeps it, whatever the options say:
    SSTables the manifest does not name would otherwise be lost to it. Either one
    takes no more writes once a write to disk has failed (``StopAfterFailure``).
    """
    refuse_unknown_order(directory)
    if options.enable_wal or options.enable_manifest or (directory / "MANIFEST").exists():
        from tinylsm.recovery import Recovery

        return StopAfterFailure(Recovery(options, directory, block_cache))
    return StopAfterFailure(PlainDurability(options, directory, block_cache))


def compactor(engine: LsmStorage) -> Compactor:
    """Day 5's compactor for ``engine``."""
    from tinylsm.compaction import Compactor

    return Compactor(engine)
