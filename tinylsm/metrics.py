"""Counters of the read path, shared by every SSTable of one engine.

They feed ``stats()`` so that the effect of the block cache (day 2) and the bloom
filters (day 7) can be seen. Increments are plain ``+=`` without a lock: under
concurrent reads a count may come out slightly low, which is fine for statistics
and keeps the hot path cheap.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReadCounters:
    """How many blocks were read from disk, served by the cache, or skipped by filters."""

    blocks_read: int = 0
    block_cache_hits: int = 0
    block_cache_misses: int = 0
    filter_negatives: int = 0


@dataclass
class WriteCounters:
    """Bytes written by the user, by flushes and by compactions: write amplification's parts."""

    user_bytes_written: int = 0
    flush_bytes_written: int = 0
    compaction_bytes_written: int = 0
