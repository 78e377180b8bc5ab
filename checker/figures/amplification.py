"""Write, read and space amplification: estimates, measurements on the engine, parameter sweeps, and their plots."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from checker.figures.style import BLUE, GREEN, GREY, ORANGE, PURPLE, VERMILLION, new_figure, styled
from checker.figures.tree_shape import SimulatedRun, simulate
from checker.figures.workloads import (
    COMPACTION_DAY,
    STRATEGY_TITLES,
    Workload,
    engine_options,
    levels_in_use,
    open_engine,
    require_day,
    run_workload,
    sorted_runs,
)
from tinylsm.options import (
    CompactionOptions,
    LeveledCompactionOptions,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Amplification:
    """What one run of a workload cost.

    ``write``: bytes written to SSTs (flushes and compactions) per byte the user
    wrote. ``runs``: sorted runs a point read may have to search at the end (L0
    files plus non-empty levels, or tiers); ``max_runs`` the most after any flush.
    ``blocks_per_get``: data blocks read from disk per lookup of a present key (no
    block cache). ``space``: bytes on disk / bytes once everything is compacted
    into one sorted run (the live data). ``None`` means not measured; ``note`` says why.
    """

    label: str
    write: float
    runs: int | None = None
    max_runs: int | None = None
    blocks_per_get: float | None = None
    space: float | None = None
    levels: int = 0
    note: str = ""


@dataclass(frozen=True)
class Estimate:
    """The textbook's estimate of each amplification for one strategy and its parameters."""

    write: float
    runs: float
    space: float


def leveled_write_estimate(size_ratio: float, levels: int) -> float:
    """Leveling's write amplification: ``1 + L * (1 + T / 2)`` for ``L`` levels of size ratio ``T``.

    A flush writes a byte once; each time it moves down into a level it is written
    again, along with the overlapping part of that level, which holds on average
    half of its ``T`` times larger capacity: ``1 + T / 2`` bytes per byte moved.
    This is an average-case constant for the ``O(T * L)`` that the cost analyses of
    Dayan and Idreos ("Dostoevsky", SIGMOD 2018) and of Luo and Carey ("LSM-based
    storage techniques: a survey", VLDB Journal 2020) give for leveling.
    """
    return 1 + levels * (1 + size_ratio / 2)


def tiered_write_estimate(runs_merged: int, flushes: int) -> float:
    """Tiering's write amplification: ``1 + log_T(N)`` after ``N`` flushes, merging ``T`` runs at a time.

    Each merge moves a byte into a run ``T`` times larger, so a byte is rewritten
    once per tiering level: the ``O(L)`` of the same two papers.
    """
    return 1 + math.log(max(flushes, 1), max(runs_merged, 2))


def estimate(strategy: str, options: CompactionOptions, levels: int, flushes: int) -> Estimate:
    """The textbook's estimates for ``strategy`` with ``options``, given the levels in use and the flushes.

    Read amplification is counted in sorted runs right after the compactions have
    settled: L0 holds fewer files than its trigger, plus one run per level in use
    (leveling); fewer tiers than ``num_tiers`` (tiering). Space amplification is
    ``(T + 1) / T`` for leveling (Luo and Carey's survey), and for tiering the bound
    ``1 + max_size_amplification_percent / 100`` that the controller enforces.
    """
    if isinstance(options, TieredCompactionOptions):
        return Estimate(
            write=tiered_write_estimate(options.num_tiers, flushes),
            runs=options.num_tiers - 1,
            space=1 + options.max_size_amplification_percent / 100,
        )
    if isinstance(options, SimpleLeveledCompactionOptions):
        ratio = options.size_ratio_percent / 100
    elif isinstance(options, LeveledCompactionOptions):
        ratio = options.level_size_multiplier
    else:
        raise TypeError(f"no estimate for {options!r}")
    return Estimate(
        write=leveled_write_estimate(ratio, levels),
        runs=options.level0_file_num_compaction_trigger - 1 + levels,
        space=(ratio + 1) / ratio,
    )


def engine_amplification(
    label: str, compaction: CompactionOptions, workload: Workload, sst_size: int, lookups: int = 500
) -> Amplification:
    """Run ``workload`` on the engine under ``compaction`` and measure every amplification from ``stats()``.

    The block cache is off, so that ``blocks_read`` counts reads from disk. After
    the workload: ``lookups`` gets of keys that were written measure the blocks
    read per get; then a full compaction leaves only the live data, whose size
    is the denominator of space amplification.
    """
    require_day(COMPACTION_DAY, "compaction")
    options = engine_options(compaction=compaction, target_sst_size=sst_size, block_cache_bytes=0)
    max_runs = 0
    with open_engine(options) as db:

        def note_runs() -> None:
            nonlocal max_runs
            max_runs = max(max_runs, sorted_runs(db.stats()["levels"]))

        run_workload(db, workload, note_runs)
        stats = db.stats()
        written = sorted({key for key, _ in workload.pairs()})
        rng = random.Random(workload.seed + 1)
        before = stats["blocks_read"]
        for _ in range(lookups):
            db.get(rng.choice(written))
        blocks_per_get = (db.stats()["blocks_read"] - before) / lookups
        db.force_full_compaction()
        live = db.stats()["sst_bytes"]
    return Amplification(
        label=label,
        write=stats["write_amplification"],
        runs=sorted_runs(stats["levels"]),
        max_runs=max_runs,
        blocks_per_get=blocks_per_get,
        space=stats["sst_bytes"] / live if live else None,
        levels=levels_in_use(stats["levels"]),
    )


@dataclass(frozen=True)
class SweepPoint:
    """One simulator run of a parameter sweep, with the textbook's estimate for it."""

    value: float
    run: SimulatedRun
    estimate: Estimate


@dataclass(frozen=True)
class Sweep:
    """A strategy's costs as one of its options varies (everything else fixed)."""

    strategy: str
    parameter: str
    points: tuple[SweepPoint, ...]


def sweep(
    strategy: str, base: CompactionOptions, parameter: str, values: Sequence[int], iterations: int, *, seed: int = 0
) -> Sweep:
    """Simulate ``strategy`` once per value of the option ``parameter``, ``iterations`` flushes each."""
    points = []
    for value in values:
        options = replace(base, **{parameter: value})
        run = simulate(strategy, options, iterations, seed=seed)
        points.append(SweepPoint(value, run, estimate(strategy, options, run.levels_in_use, run.flushes)))
    return Sweep(strategy, parameter, tuple(points))


SWEEPS: tuple[tuple[str, CompactionOptions, str, tuple[int, ...]], ...] = (
    ("leveled", LeveledCompactionOptions(base_level_size_mb=4), "level_size_multiplier", (2, 3, 4, 6, 8, 10, 12)),
    ("leveled", LeveledCompactionOptions(base_level_size_mb=4), "level0_file_num_compaction_trigger", (1, 2, 4, 6, 8)),
    ("tiered", TieredCompactionOptions(), "num_tiers", (3, 4, 5, 6, 8, 10)),
)
"""The parameter sweeps the notebooks and the book draw: (strategy, other options, option swept, values)."""


def run_sweeps(iterations: int, *, seed: int = 0) -> list[Sweep]:
    """Every sweep of ``SWEEPS``, ``iterations`` flushes per simulator run."""
    return [
        sweep(strategy, base, parameter, values, iterations, seed=seed) for strategy, base, parameter, values in SWEEPS
    ]


PARAMETER_TITLES = {
    "level_size_multiplier": "level size multiplier T",
    "level0_file_num_compaction_trigger": "L0 compaction trigger (files)",
    "num_tiers": "num_tiers",
    "size_ratio_percent": "size ratio (%)",
    "max_levels": "levels below L0",
}


@styled
def plot_sweeps(sweeps: Sequence[Sweep], iterations: int) -> Figure:
    """For each sweep a column: write amplification (top) and sorted runs (bottom), measured against estimates."""
    figure, axes = new_figure(2, len(sweeps), (4.6 * len(sweeps), 7.2), sharex="col")
    figure.suptitle(
        f"The simulator, {iterations} flushes of 1 MiB each: measured against the textbook's estimates",
        fontsize=13,
        fontweight="bold",
    )
    for column, one in enumerate(sweeps):
        xs = [point.value for point in one.points]
        colour = {"simple": PURPLE, "tiered": GREEN, "leveled": BLUE}[one.strategy]
        name = STRATEGY_TITLES[one.strategy]
        top, bottom = axes[0][column], axes[1][column]
        top.plot(xs, [p.estimate.write for p in one.points], "s--", color=GREY, lw=1.5, label="estimate")
        top.plot(xs, [p.run.write_amplification for p in one.points], "o-", color=colour, lw=2, label="measured")
        top.set_title(f"{name}: varying {PARAMETER_TITLES.get(one.parameter, one.parameter)}", fontsize=11)
        top.set_ylabel("write amplification (×)")
        measured = [p.run.write_amplification for p in one.points]
        if max(measured) > 4 * min(measured):  # one value dwarfs the rest: a log scale keeps them readable
            top.set_yscale("log")
            top.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
            top.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            top.yaxis.set_minor_formatter(NullFormatter())
            top.set_ylabel("write amplification (×, log scale)")
        else:
            top.set_ylim(bottom=0)
        top.legend(loc="best")
        for point in one.points:
            top.annotate(
                f"L={point.run.levels_in_use}" if one.strategy != "tiered" else "",
                (point.value, point.run.write_amplification),
                textcoords="offset points",
                xytext=(0, -15),
                ha="center",
                fontsize=8.5,
                color=colour,
            )
        bottom.plot(
            xs, [p.estimate.runs for p in one.points], "-", color=GREY, lw=7, alpha=0.35, label="bound (textbook)"
        )
        bottom.plot(xs, [p.run.max_sorted_runs for p in one.points], "o-", color=colour, lw=2, label="measured (most)")
        bottom.set_ylabel("sorted runs per read (most)")
        bottom.set_xlabel(PARAMETER_TITLES.get(one.parameter, one.parameter))
        bottom.set_ylim(bottom=0)
        bottom.set_xticks(xs)
        bottom.legend(loc="lower right")
    return figure


@styled
def plot_amplification(results: Sequence[Amplification], estimates: dict[str, Estimate], subtitle: str) -> Figure:
    """Write, read (sorted runs and blocks per get) and space amplification of each run, with the estimates.

    ``estimates`` maps a result's label to the textbook's estimate for it; a
    result without one (RocksDB, LevelDB) is drawn hatched, and a value that
    was not measured is marked n/a.
    """
    figure, grid = new_figure(2, 2, (12.5, 8.6))
    figure.suptitle(f"Amplification on one workload: {subtitle}", fontsize=13, fontweight="bold")
    panels = (
        ("write", "write amplification (×)", "bytes written to SSTs / user bytes"),
        ("max_runs", "sorted runs (most after a flush)", "what a point read may have to search"),
        ("blocks_per_get", "blocks read per get", "present keys, no block cache"),
        ("space", "space amplification (×)", "bytes on disk / live bytes"),
    )
    colours = [_result_colour(result.label) for result in results]
    positions = list(range(len(results)))
    for axes_, (attribute, label, what) in zip([*grid[0], *grid[1]], panels, strict=True):
        for position, result, colour in zip(positions, results, colours, strict=True):
            value = getattr(result, attribute)
            outside = result.label not in estimates
            if value is None:
                axes_.text(position, 0, "n/a", ha="center", va="bottom", fontsize=9, color=GREY)
                continue
            axes_.bar(position, value, color=colour, hatch="//" if outside else None, edgecolor="white", width=0.7)
            axes_.annotate(  # at the foot of the bar, clear of the estimate near its top
                f"{value:.3g}",
                (position, 0),
                textcoords="offset points",
                xytext=(0, 5),
                ha="center",
                va="bottom",
                fontsize=9.5,
                fontweight="bold",
                color="white",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": colour, "edgecolor": "none"},
            )
            guess = getattr(estimates.get(result.label), {"max_runs": "runs"}.get(attribute, attribute), None)
            if guess is not None:
                axes_.plot([position - 0.42, position + 0.42], [guess, guess], color="black", lw=2.4, ls="--", zorder=3)
        axes_.set_title(label, fontsize=11)
        axes_.set_ylabel(what)
        axes_.set_xticks(positions, [result.label.replace(" ", "\n", 1) for result in results], fontsize=10)
        axes_.margins(y=0.15)
        axes_.grid(axis="x", visible=False)
    handles = [
        Patch(facecolor="#dddddd", edgecolor="black", label="TinyLSM (from stats())"),
        Patch(facecolor="white", edgecolor="black", hatch="//", label="other engine (from its own counters)"),
        plt.Line2D([], [], color="black", lw=2.2, ls="--", label="textbook estimate"),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=3)
    return figure


def _result_colour(label: str) -> str:
    for name, colour in (("simple", PURPLE), ("tiered", GREEN), ("RocksDB", VERMILLION), ("LevelDB", ORANGE)):
        if name in label:
            return colour
    return BLUE


def amplification_table(results: Sequence[Amplification], estimates: dict[str, Estimate]) -> str:
    """The measured amplifications, one line per run, each with its estimate in brackets where there is one."""

    def cell(value: float | None, guess: float | None) -> str:
        text = "n/a" if value is None else f"{value:.2f}"
        return f"{text} [{guess:.2f}]" if guess is not None else text

    lines = [f"{'run':<22} {'write':>14} {'runs (most)':>14} {'blocks/get':>11} {'space':>13}  levels"]
    for r in results:
        guess = estimates.get(r.label)
        lines.append(
            f"{r.label:<22} {cell(r.write, guess and guess.write):>14} "
            f"{cell(r.max_runs, guess and guess.runs):>14} {cell(r.blocks_per_get, None):>11} "
            f"{cell(r.space, guess and guess.space):>13}  {r.levels}" + (f"   ({r.note})" if r.note else "")
        )
    return "\n".join(lines)
