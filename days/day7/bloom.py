"""Day 7, task 1: Bloom filters, which let a lookup skip an SSTable without reading it.

A Bloom filter answers "may this table hold the key?". "No" is always right: every
key that was added is found again (no false negatives). "Yes" is sometimes wrong,
with a probability that the bits per key choose (see the book, Day 7, "The
mathematics of a Bloom filter"). Day 2's SST writes one filter per table, built
from every key of the table, into its filter section; ``SsTable.may_contain``
consults it before the engine reads a block.

Layout of an encoded filter (little-endian; see the book, Day 7, "The filter format"):

    bits (nbytes bytes) | k (u8)

``nbytes`` is ``ceil(n * bits_per_key / 8)`` for ``n`` keys, but at least 8, and the
filter has ``nbits = 8 * nbytes`` bits. Bit ``p`` is bit ``p % 8`` (counting from the
least significant bit) of byte ``p // 8``. A key sets, and a probe tests, the ``k`` bits

    h1, h2 = mmh3.hash64(key, seed=HASH_SEED, signed=False)
    position_i = (h1 + i * h2) % nbits          for i = 0, 1, ..., k - 1

(double hashing: two 64-bit hashes stand in for ``k`` independent ones).

Speed, measured with ``timeit`` on CPython 3.11 over 10,000 keys ``b"user:%012d"`` at
10 bits per key (``k = 7``), best of 5 or 7 runs on a shared 2-core machine whose
numbers varied by up to 2x between runs: ``mmh3.hash64`` costs 0.1 to 0.3 µs a key.
``build`` marks one *byte* per probe position (a single store) and packs the marks
into bits once at the end: about 0.7 µs a key for the loop and the packing, where
the textbook loop that sets each bit in place (a load, an OR and a store) took 1.2
to 1.7 µs. ``may_contain`` costs 0.4 to 0.8 µs for an absent key (most probes stop
at the first or second bit, which is 0) and 1.1 to 1.5 µs for a present one (all
``k`` bits are tested). Reading and decoding the 4 KiB block that a "no" saves
costs 22 to 35 µs.
"""

from __future__ import annotations

import math

from tinylsm.errors import CorruptionError

HASH_SEED = 0x544C534D
"""The seed of ``mmh3.hash64`` for every filter (the ASCII bytes ``TLSM``); part of the format."""

MIN_FILTER_BYTES = 8
"""The smallest bit array, in bytes (64 bits), however few keys the filter holds."""

MIN_PROBES = 1
MAX_PROBES = 30
"""``k`` is clamped to ``MIN_PROBES..MAX_PROBES``; a stored ``k`` outside it is corruption."""


def probe_count(bits_per_key: int) -> int:
    """The number of probes ``k`` for ``bits_per_key``: ``round(bits_per_key * ln 2)``, clamped to 1..30.

    ``bits_per_key * ln 2`` is the ``k`` that minimises the false positive rate for
    that many bits per key.
    """
    raise NotImplementedError("day7.task1: probe_count — see book: Day 7, Task 1")


def false_positive_rate(bits_per_key: float, k: int) -> float:
    """The expected false positive rate ``(1 - e^(-k / bits_per_key))^k`` of a filter.

    The standard approximation for a filter of ``bits_per_key`` bits per key probed
    with ``k`` independent hashes.
    """
    raise NotImplementedError("day7.task1: false_positive_rate — see book: Day 7, Task 1")


class BloomBuilder:
    """Collects the keys of one SSTable and encodes a Bloom filter over them.

    ``add_key`` hashes the key at once and keeps only its two hashes, because the
    size of the bit array (and so every position) is known only when ``build``
    knows how many keys there are.
    """

    def __init__(self, bits_per_key: int) -> None:
        """An empty builder for a filter of ``bits_per_key`` (at least 1) bits per key."""
        raise NotImplementedError("day7.task1: BloomBuilder.__init__ — see book: Day 7, Task 1")

    def add_key(self, key: bytes) -> None:
        """Add one key to the filter (adding a key twice changes nothing)."""
        raise NotImplementedError("day7.task1: BloomBuilder.add_key — see book: Day 7, Task 1")

    def build(self) -> bytes:
        """The encoded filter over every key added so far: the bit array, then ``k``."""
        raise NotImplementedError("day7.task1: BloomBuilder.build — see book: Day 7, Task 1")


class Bloom:
    """A decoded filter: the bit array and the number of probes ``k``. Immutable and thread-safe."""

    def __init__(self, bits: bytes, k: int) -> None:
        """A filter over the bit array ``bits`` (at least 8 bytes), probed ``k`` times per key."""
        raise NotImplementedError("day7.task1: Bloom.__init__ — see book: Day 7, Task 1")

    @classmethod
    def decode(cls, raw: bytes) -> Bloom:
        """Read a filter written by ``BloomBuilder.build``; malformed bytes raise ``CorruptionError``.

        Too short for 8 bytes of bits and ``k``, or a ``k`` outside 1..30, is malformed.
        """
        raise NotImplementedError("day7.task1: Bloom.decode — see book: Day 7, Task 1")

    def may_contain(self, key: bytes) -> bool:
        """``False`` if ``key`` was certainly not added; ``True`` if it may have been."""
        raise NotImplementedError("day7.task1: Bloom.may_contain — see book: Day 7, Task 1")
