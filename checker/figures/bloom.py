"""Bloom filters: measured false-positive rates against the formula, and the cost of a lookup for a missing key."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checker.figures.style import BLUE, GREEN, GREY, SKY, VERMILLION, new_figure, styled
from checker.figures.workloads import FILTER_DAY, engine_options, key_of, open_engine, require_day
from tinylsm.options import NoCompaction

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class FalsePositives:
    """One filter's measured false positive rate, and the formula's."""

    bits_per_key: int
    k: int
    measured: float
    formula: float
    keys: int
    probes: int


def measure_false_positives(
    bits_values: Sequence[int], keys: int, probes: int, *, seed: int = 0
) -> list[FalsePositives]:
    """For each bits-per-key value: build day 7's filter over ``keys`` keys, probe ``probes`` absent keys.

    The measured rate is the share of absent keys the filter lets through; the
    formula is ``false_positive_rate(bits_per_key, k)`` of ``tinylsm.bloom``.
    """
    require_day(FILTER_DAY, "Bloom filters")
    from tinylsm.bloom import Bloom, BloomBuilder, false_positive_rate, probe_count

    rng = random.Random(seed)
    numbers = rng.sample(range(4 * (keys + probes)), keys + probes)
    present, absent = [key_of(n) for n in numbers[:keys]], [key_of(n) for n in numbers[keys:]]
    results = []
    for bits in bits_values:
        builder = BloomBuilder(bits)
        for key in present:
            builder.add_key(key)
        bloom = Bloom.decode(builder.build())
        passed = sum(1 for key in absent if bloom.may_contain(key))
        k = probe_count(bits)
        results.append(FalsePositives(bits, k, passed / probes, false_positive_rate(bits, k), keys, probes))
    return results


@styled
def plot_false_positives(points: Sequence[FalsePositives]) -> Figure:
    """False positive rate against bits per key: measured (dots) and the formula (line), on a log scale."""
    figure, axes = new_figure(1, 1, (9.5, 5))
    axes = axes[0][0]
    bits = [p.bits_per_key for p in points]
    axes.plot(bits, [p.formula for p in points], "-", color=BLUE, lw=2, label=r"formula $(1 - e^{-k/b})^k$")
    measured = [(p.bits_per_key, p.measured) for p in points if p.measured > 0]
    axes.plot(*zip(*measured, strict=True), "o", color=VERMILLION, ms=7, label="measured")
    floor = 1 / points[0].probes
    for p in points:
        if p.measured == 0:
            axes.annotate("0 of\nprobes", (p.bits_per_key, floor), ha="center", fontsize=8, color=VERMILLION)
        axes.annotate(
            f"k={p.k}",
            (p.bits_per_key, p.formula),
            textcoords="offset points",
            xytext=(0, -16),
            ha="center",
            fontsize=8.5,
            color=GREY,
        )
    axes.set_yscale("log")
    axes.set_xticks(bits)
    axes.set_xlabel("bits per key b (the filter's size / keys)")
    axes.set_ylabel("false positive rate (log scale)")
    axes.set_title(
        f"Bloom filter: {points[0].keys:,} keys, {points[0].probes:,} absent keys probed, k = round(b · ln 2)"
    )
    axes.legend()
    secondary = axes.secondary_yaxis("right", functions=(lambda rate: rate * 100, lambda percent: percent / 100))
    secondary.set_ylabel("false positives (%)")
    return figure


@dataclass(frozen=True)
class LookupCost:
    """Lookups of missing keys in an engine whose SSTs all cover the key's range."""

    bits_per_key: int
    tables: int
    lookups: int
    blocks_read: float
    """Data blocks read from disk per lookup."""
    filter_negatives: float
    """SSTs a filter ruled out per lookup."""
    predicted_blocks: float
    """``tables * false_positive_rate``: the blocks the formula expects per lookup (``tables`` with no filter)."""


def missing_key_lookup_costs(
    bits_values: Sequence[int], *, tables: int, keys_per_table: int, lookups: int, seed: int = 0
) -> list[LookupCost]:
    """For each bits-per-key value (0: no filter): ``tables`` overlapping L0 SSTs, then lookups of absent keys.

    Table ``t`` holds the even numbers ``2 * (t + tables * i)``, so every table's
    key range covers (almost) all the others'; the lookups ask for odd numbers
    inside every range, which no table holds. The block cache is off and so is
    compaction, so each table the filter lets through costs one block read.
    """
    require_day(FILTER_DAY, "Bloom filters")
    from tinylsm.bloom import false_positive_rate, probe_count

    rng = random.Random(seed)
    inside = range(2 * tables + 1, 2 * tables * (keys_per_table - 1), 2)
    probes = [key_of(rng.choice(inside)) for _ in range(lookups)]
    results = []
    for bits in bits_values:
        options = engine_options(
            compaction=NoCompaction(), bloom_bits_per_key=bits, block_cache_bytes=0, target_sst_size=1 << 30
        )
        with open_engine(options) as db:
            for table in range(tables):
                for index in range(keys_per_table):
                    db.put(key_of(2 * (table + tables * index)), b"v" * 32)
                db.force_flush()
            before = db.stats()
            for key in probes:
                db.get(key)
            after = db.stats()
        rate = false_positive_rate(bits, probe_count(bits)) if bits else 1.0
        results.append(
            LookupCost(
                bits_per_key=bits,
                tables=tables,
                lookups=lookups,
                blocks_read=(after["blocks_read"] - before["blocks_read"]) / lookups,
                filter_negatives=(after["filter_negatives"] - before["filter_negatives"]) / lookups,
                predicted_blocks=tables * rate,
            )
        )
    return results


@styled
def plot_lookup_costs(costs: Sequence[LookupCost]) -> Figure:
    """Per missing-key lookup: blocks read (bars, with the formula's prediction) and SSTs skipped by filters."""
    figure, axes = new_figure(1, 2, (13, 4.6))
    left, right = axes[0]
    labels = [f"{c.bits_per_key}" if c.bits_per_key else "0\n(no filter)" for c in costs]
    positions = list(range(len(costs)))
    left.bar(positions, [c.blocks_read for c in costs], color=SKY, width=0.65, label="measured")
    left.plot(positions, [c.predicted_blocks for c in costs], "D", color="black", ms=7, label="SSTs × FP rate")
    for position, cost in zip(positions, costs, strict=True):
        left.annotate(
            f"{cost.blocks_read:.3g}",
            (position, max(cost.blocks_read, cost.predicted_blocks)),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            fontsize=9,
        )
    left.set_yscale("symlog", linthresh=0.01)
    left.set_ylim(0, costs[0].tables * 4)
    left.set_xticks(positions, labels)
    left.set_xlabel("bloom bits per key")
    left.set_ylabel("data blocks read per lookup (symlog)")
    left.set_title(f"Missing keys: blocks read ({costs[0].tables} SSTs cover each key)")
    left.legend()
    right.bar(positions, [c.filter_negatives for c in costs], color=GREEN, width=0.65, label="measured")
    right.axhline(costs[0].tables, color="black", ls="--", lw=1.5)
    right.text(-0.4, costs[0].tables * 1.02, f"all {costs[0].tables} SSTs", va="bottom", fontsize=10)
    right.set_xticks(positions, labels)
    right.set_xlabel("bloom bits per key")
    right.set_ylabel("SSTs skipped by the filter per lookup")
    right.set_title("Missing keys: SSTs the filter ruled out")
    right.set_ylim(0, costs[0].tables * 1.2)
    figure.suptitle(
        f"{costs[0].lookups:,} lookups of absent keys, block cache off (stats(): blocks_read, filter_negatives)",
        fontsize=12,
    )
    return figure
