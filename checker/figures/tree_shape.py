"""The shape of the tree over time, from the engine or the simulator, and the pictures of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap, LogNorm

from checker.figures.style import MIB, ORANGE, bytes_text, level_colours, new_figure, size_unit, styled, tier_colours
from checker.figures.workloads import (
    COMPACTION_DAY,
    STRATEGY_TITLES,
    Workload,
    engine_options,
    open_engine,
    require_day,
    run_workload,
)
from checker.tools.simulate import STRATEGIES, load_controller
from checker.tools.simulate.model import Settings, Simulation
from tinylsm.options import (
    CompactionOptions,
    LeveledCompactionOptions,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class TreeSnapshot:
    """The tree once the compactions after one flush are done: SSTs and bytes of each sorted run.

    Runs are L0 first, then L1, L2, ... (or, under tiered compaction, the tiers,
    newest first). ``targets`` holds the leveled controller's target size of L1,
    L2, ... (0 for a level not in use), and is empty for the other strategies.
    """

    ssts: tuple[int, ...]
    sizes: tuple[int, ...]
    targets: tuple[int, ...] = ()


@dataclass(frozen=True)
class ShapeHistory:
    """The tree after each flush of one run: what ``plot_tree_shapes`` draws."""

    title: str
    tiered: bool
    snapshots: tuple[TreeSnapshot, ...]
    flush_size: int
    """Bytes of one flushed SST (nominal): the unit of time of the run."""

    @property
    def run_count(self) -> int:
        """The most sorted runs (L0 and levels, or tiers) any snapshot has."""
        return max((len(snapshot.ssts) for snapshot in self.snapshots), default=0)

    def run_names(self) -> list[str]:
        """``L0, L1, ...`` or ``tier 1 (newest), tier 2, ...``."""
        if self.tiered:
            return [f"tier {number}" + (" (newest)" if number == 1 else "") for number in range(1, self.run_count + 1)]
        return [f"L{number}" for number in range(self.run_count)]

    def matrix(self, what: str) -> list[list[int]]:
        """``ssts`` or ``sizes`` as rows (one per run, padded with 0) by columns (one per flush)."""
        runs = self.run_count
        columns = [(*getattr(snapshot, what), *([0] * (runs - len(snapshot.ssts)))) for snapshot in self.snapshots]
        return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _leveled_targets(options: CompactionOptions, shape: Any) -> tuple[int, ...]:
    """The leveled controller's target size of every level, for a leveled run; ``()`` otherwise."""
    if not isinstance(options, LeveledCompactionOptions):
        return ()
    from tinylsm.leveled import LeveledController

    return tuple(LeveledController(options).target_sizes(shape))


def _levels_shown(options: CompactionOptions) -> int:
    """How many levels below L0 a leveled strategy has (padded in the plots), 0 for tiered."""
    return getattr(options, "max_levels", 0)


def engine_shape_history(
    strategy: str, compaction: CompactionOptions, workload: Workload, sst_size: int, label: str = ""
) -> ShapeHistory:
    """Run ``workload`` on the engine under ``compaction``; the tree after every flush.

    The engine writes SSTs of ``sst_size`` bytes (``target_sst_size``), and the
    workload forces a flush after each SST's worth of puts. ``label`` names the
    run in titles (by default the strategy's name).
    """
    require_day(COMPACTION_DAY, "compaction")
    from tinylsm.state import shape_of

    tiered = isinstance(compaction, TieredCompactionOptions)
    padded = 1 + _levels_shown(compaction)
    snapshots: list[TreeSnapshot] = []
    with open_engine(engine_options(compaction=compaction, target_sst_size=sst_size)) as db:

        def record() -> None:
            levels = db.stats()["levels"]
            runs = levels[1:] if tiered else [*levels, *([{"ssts": 0, "bytes": 0}] * (padded - len(levels)))]
            targets = _leveled_targets(compaction, shape_of(db.state))
            snapshots.append(TreeSnapshot(tuple(r["ssts"] for r in runs), tuple(r["bytes"] for r in runs), targets))

        run_workload(db, workload, record)
    return ShapeHistory(f"{label or STRATEGY_TITLES[strategy]} (engine)", tiered, tuple(snapshots), sst_size)


class RecordingSimulation(Simulation):
    """The simulator, silent, keeping the tree's shape after each flush has settled."""

    def __init__(self, strategy: str, options: CompactionOptions, settings: Settings) -> None:
        super().__init__(load_controller(STRATEGIES[strategy], options), settings, out=lambda line: None)
        self.options = options
        self.snapshots: list[TreeSnapshot] = []

    def settle(self, iteration: int) -> None:
        """Compact as the controller asks, then note the tree."""
        super().settle(iteration)
        if self.tiered:
            runs: list[tuple[int, ...]] = list(self.levels)
        else:
            padding = [()] * (_levels_shown(self.options) - len(self.levels))
            runs = [self.l0, *self.levels, *padding]
        sizes = tuple(sum(self.ssts[sst_id].size for sst_id in run) for run in runs)
        targets = _leveled_targets(self.options, self.shape())
        self.snapshots.append(TreeSnapshot(tuple(len(run) for run in runs), sizes, targets))


@dataclass(frozen=True)
class SimulatedRun:
    """One run of the simulator: the shape after every flush, and the costs it added up."""

    history: ShapeHistory
    flushes: int
    flushed: int
    written: int
    compactions: int
    max_space: int
    final_space: int
    sorted_runs: int
    max_sorted_runs: int
    levels_in_use: int

    @property
    def write_amplification(self) -> float:
        """Bytes written by flushes and compactions per byte flushed."""
        return self.written / self.flushed


def simulate(
    strategy: str, options: CompactionOptions, iterations: int, *, seed: int = 0, sst_size: int = MIB, label: str = ""
) -> SimulatedRun:
    """Run the simulator: ``iterations`` flushes of one ``sst_size`` SST each, compacting after each.

    ``label`` names the run in titles (by default the strategy's name).
    """
    require_day(COMPACTION_DAY, "compaction")
    simulation = RecordingSimulation(strategy, options, Settings(iterations=iterations, sst_size=sst_size, seed=seed))
    summary = simulation.run()
    history = ShapeHistory(
        f"{label or STRATEGY_TITLES[strategy]} (simulator)", simulation.tiered, tuple(simulation.snapshots), sst_size
    )
    return SimulatedRun(
        history=history,
        flushes=summary.flushes,
        flushed=summary.flushed,
        written=summary.written,
        compactions=summary.compactions,
        max_space=summary.max_space,
        final_space=summary.final_space,
        sorted_runs=summary.read_amplification,
        max_sorted_runs=summary.max_read_amplification,
        levels_in_use=sum(1 for level in simulation.levels if level),
    )


@styled
def plot_tree_shapes(histories: Sequence[ShapeHistory], title: str) -> Figure:
    """One row per run: bytes of each sorted run after every flush (stacked bars), and SSTs per run (a heatmap)."""
    figure, axes = new_figure(len(histories), 2, (13.5, 3.3 * len(histories)), width_ratios=(1.25, 1))
    figure.suptitle(title, fontsize=14, fontweight="bold")
    for (bytes_axes, count_axes), history in zip(axes, histories, strict=True):
        _plot_run_bytes(bytes_axes, history)
        _plot_run_counts(count_axes, history, figure)
    return figure


def _plot_run_bytes(axes: Axes, history: ShapeHistory) -> None:
    sizes = history.matrix("sizes")
    count = len(history.snapshots)
    largest = max((sum(column) for column in zip(*sizes, strict=True)), default=0)
    unit, unit_name = size_unit(largest)
    layers: list[tuple[str, Any, list[float]]] = []  # bottom first: (label, colour, height after each flush)
    if history.tiered:
        # The oldest tier (the largest) at the bottom of each bar, each tier coloured by its age rank.
        by_age = [_tiers_oldest_first(column) for column in zip(*sizes, strict=True)]
        colours = tier_colours(history.run_count)
        for rank in range(history.run_count):
            label = "oldest tier" if rank == 0 else f"{_ordinal(rank + 1)} oldest"
            layers.append((label, colours[rank], [c[rank] / unit if rank < len(c) else 0 for c in by_age]))
    else:
        # The deepest level at the bottom, L0 on top: the picture of a tree that grows downwards.
        colours, names = level_colours(history.run_count), history.run_names()
        for run in reversed(range(history.run_count)):
            layers.append((names[run], colours[run], [size / unit for size in sizes[run]]))
    # One filled step curve per layer (a bar per flush, without thousands of rectangles).
    edges = [flush + 0.5 for flush in range(count + 1)]
    bottoms = [0.0] * count
    for label, colour, heights in layers:
        tops = [b + h for b, h in zip(bottoms, heights, strict=True)]
        axes.fill_between(
            edges, [*bottoms, bottoms[-1]], [*tops, tops[-1]], step="post", color=colour, lw=0, label=label
        )
        bottoms = tops
    handles, labels = axes.get_legend_handles_labels()
    order = list(range(len(handles)) if history.tiered else reversed(range(len(handles))))
    axes.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left", ncols=2)
    axes.set_title(f"{history.title}: bytes in each sorted run")
    axes.set_xlabel(f"flushes (one SST of {bytes_text(history.flush_size)} each)")
    axes.set_ylabel(f"size on disk ({unit_name})")
    axes.set_xlim(0.5, count + 0.5)
    axes.set_ylim(bottom=0)


def _tiers_oldest_first(column: Sequence[int]) -> list[int]:
    """A snapshot's tier sizes (newest first, padded with 0) as the tiers that exist, oldest first."""
    return [size for size in reversed(column) if size]


def _ordinal(number: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(number, f"{number}th")


def _plot_run_counts(axes: Axes, history: ShapeHistory, figure: Figure) -> None:
    counts = history.matrix("ssts")
    largest = max((max(row) for row in counts), default=1)
    colour_map = ListedColormap(plt.get_cmap("viridis")(range(256)))
    colour_map.set_bad("#f4f4f4")
    masked = [[value if value else float("nan") for value in row] for row in counts]
    image = axes.imshow(
        masked,
        aspect="auto",
        interpolation="nearest",
        cmap=colour_map,
        norm=LogNorm(vmin=1, vmax=max(2, largest)),
        extent=(0.5, len(history.snapshots) + 0.5, history.run_count - 0.5, -0.5),
    )
    axes.set_yticks(range(history.run_count), history.run_names())
    axes.grid(False)
    axes.set_title(f"{history.title}: SSTs in each sorted run")
    axes.set_xlabel("flushes")
    colour_bar = figure.colorbar(image, ax=axes, pad=0.01)
    ticks = [tick for tick in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if tick <= max(2, largest)]
    colour_bar.set_ticks(ticks, labels=[str(tick) for tick in ticks])
    colour_bar.minorticks_off()
    colour_bar.set_label("SSTs, log scale (grey: none)")


@styled
def plot_level_targets(history: ShapeHistory, l0_trigger: int) -> Figure:
    """Leveled compaction after every flush: each level's size against its target (top), L0's files (bottom)."""
    if not history.snapshots or not history.snapshots[0].targets:
        raise ValueError("plot_level_targets needs the history of a leveled run (its snapshots carry targets)")
    levels = len(history.snapshots[0].targets)
    sizes, files = history.matrix("sizes"), history.matrix("ssts")
    unit, unit_name = size_unit(max(max(row) for row in sizes))
    flushes = list(range(1, len(history.snapshots) + 1))
    figure, axes = new_figure(2, 1, (11.5, 6.4), sharex=True, height_ratios=(2.2, 1))
    top, bottom = axes[0][0], axes[1][0]
    colours = level_colours(levels + 1)
    for level in range(1, levels + 1):
        colour = colours[level]
        size_line = [size / unit for size in sizes[level]]
        targets = [snapshot.targets[level - 1] / unit for snapshot in history.snapshots]
        if not any(size_line) and not any(targets):
            continue
        last = " (= its size)" if level == levels else ""
        top.step(flushes, size_line, where="mid", color=colour, lw=2.4, label=f"L{level} size")
        top.step(flushes, targets, where="mid", color=colour, lw=1.5, ls="--", label=f"L{level} target{last}")
    top.set_yscale("symlog", linthresh=history.flush_size / unit)
    top.set_ylim(bottom=0)
    top.set_title(f"{history.title}: each level against its target size")
    top.set_ylabel(f"bytes ({unit_name}, log scale)")
    top.legend(ncols=2, loc="upper left", fontsize=9)
    bottom.step(flushes, files[0], where="mid", color=ORANGE, lw=2, label="L0 files")
    bottom.axhline(l0_trigger, color="black", ls=":", lw=1.5, label=f"trigger ({l0_trigger} files)")
    bottom.set_ylim(0, l0_trigger + 1.5)
    bottom.set_ylabel("L0 files")
    bottom.set_xlabel(f"flushes (one SST of {bytes_text(history.flush_size)} each)")
    bottom.legend(loc="upper right", ncols=2)
    bottom.set_xlim(0.5, len(flushes) + 0.5)
    return figure


SIMULATED_STRATEGIES: dict[str, tuple[str, CompactionOptions]] = {
    "simple leveled": ("simple", SimpleLeveledCompactionOptions()),
    "tiered, num_tiers=3": ("tiered", TieredCompactionOptions()),
    "tiered, num_tiers=6": ("tiered", TieredCompactionOptions(num_tiers=6)),
    "leveled": ("leveled", LeveledCompactionOptions(base_level_size_mb=4)),
}
"""The runs the simulator draws (by label): the course's default options, tiered also with
``num_tiers=6``, and leveled with a 4 MiB base level so that a few hundred 1 MiB flushes fill
several levels."""


def simulate_strategies(iterations: int, *, seed: int = 0) -> list[SimulatedRun]:
    """Every run of ``SIMULATED_STRATEGIES``, ``iterations`` flushes each."""
    return [
        simulate(strategy, options, iterations, seed=seed, label=label)
        for label, (strategy, options) in SIMULATED_STRATEGIES.items()
    ]
