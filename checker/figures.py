"""Measure what the engine does at scale, and draw it: the code behind ``notebooks/`` and the book's figures.

The numbers come from three sources, and none is typed in by hand:

* **the engine**, composed as ``TINYLSM_IMPL`` says (your code by default), run on a
  small workload in a temporary directory. Background work is off, so every flush
  and every compaction happens in the writer and a run is deterministic; the WAL
  and the manifest are off too, as they change nothing in the tree's shape;
* **the simulator** (``checker.tools.simulate``), which runs day 5's compaction
  controllers on a model of the tree with no disk, at a scale the engine would
  take minutes for;
* **RocksDB** (``rocksdict``) and **LevelDB** (``plyvel``), when they are
  installed, on the same workload with comparable settings.

The engine's options come from ``options_for_day`` for the last day this copy of
the course has, so the features of days not written yet stay off. Every
``plot_*`` function returns a matplotlib ``Figure`` drawn in the course's style;
a notebook shows it, ``save_figure`` writes it as a PNG for the book.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import random
import re
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap, LogNorm, to_hex
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

import tinylsm
from checker.tools.inspect import ENTRY_HEADER, KIND_TOMBSTONE, SST_FOOTER, U16, U32, inspect_bytes, show
from checker.tools.inspect import Settings as InspectSettings
from checker.tools.simulate import MIB, STRATEGIES, Settings, Simulation, load_controller
from tinylsm.options import (
    CompactionOptions,
    LeveledCompactionOptions,
    LsmStorageOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.testkit import options_for_day

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tinylsm.engine import LsmStorage

KIB = 1 << 10
COMPACTION_DAY, FILTER_DAY = 5, 7
"""The days that bring compaction and Bloom filters."""

STRATEGY_TITLES = {"simple": "simple leveled", "tiered": "tiered", "leveled": "leveled"}
"""The three compaction strategies of day 5, by the simulator's names."""

# ----------------------------------------------------------------------------
# Style
# ----------------------------------------------------------------------------

STYLE: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "legend.fontsize": 9.5,
    "legend.framealpha": 0.9,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
}
"""The course's matplotlib settings, applied while a figure is drawn (nothing global changes)."""

# Okabe-Ito colours: told apart by readers with any common colour-vision deficiency.
ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILLION, PURPLE, GREY = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#7F7F7F",
)

P = ParamSpec("P")
R = TypeVar("R")


def styled(draw: Callable[P, R]) -> Callable[P, R]:
    """Run a drawing function inside the course's ``STYLE``.

    The first figure may switch pyplot's backend on, which (in a notebook) turns
    interactive mode on, so that figures are shown: that change outlives the style.
    """

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with plt.rc_context(STYLE):
            result = draw(*args, **kwargs)
            interactive = plt.isinteractive()
        plt.interactive(interactive)
        return result

    return wrapper


def _new_figure(rows: int, columns: int, size: tuple[float, float], **options: Any) -> tuple[Figure, Any]:
    """A figure with a ``rows`` x ``columns`` grid of axes (always a 2-D array) and constrained layout."""
    return plt.subplots(rows, columns, figsize=size, squeeze=False, layout="constrained", **options)


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` (byte for byte the same for the same figure), then close it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=150, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return target


def level_colours(count: int) -> list[str]:
    """A colour per run of a leveled tree: L0 (overlapping files) orange, then L1.. in darkening blues."""
    blues = plt.get_cmap("Blues")
    deeper = [to_hex(blues(0.35 + 0.6 * index / max(1, count - 2))) for index in range(count - 1)]
    return [ORANGE, *deeper]


def tier_colours(count: int) -> list[str]:
    """A colour per tier, from the oldest (dark green) to the newest (light green)."""
    greens = plt.get_cmap("Greens")
    return [to_hex(greens(0.9 - 0.6 * index / max(1, count - 1))) for index in range(count)]


def _size_unit(largest: float) -> tuple[int, str]:
    """Bytes per unit and the unit's name (KiB or MiB) for numbers up to ``largest`` bytes."""
    return (MIB, "MiB") if largest >= 4 * MIB else (KIB, "KiB")


# ----------------------------------------------------------------------------
# The engine: options, workloads, a scratch directory
# ----------------------------------------------------------------------------


def last_day() -> int:
    """The last day this copy of the course has (``TINYLSM_IMPL`` chooses whose code runs it)."""
    return max(tinylsm.COMPOSITION.day_dirs, default=0)


def require_day(day: int, what: str) -> None:
    """Raise ``RuntimeError`` unless this copy of the course has day ``day``, which ``what`` needs."""
    if last_day() < day:
        raise RuntimeError(f"{what} needs day {day}, which this copy of the course does not have yet")


def engine_options(**overrides: Any) -> LsmStorageOptions:
    """The options the notebooks run the engine with.

    ``options_for_day(last_day())`` switches off the features of days not written
    yet. Background work is off (flushes and compactions run in the writer, so a
    run is deterministic), and so are the WAL and the manifest, which change
    nothing in the tree's shape. ``overrides`` set any other field.
    """
    fields: dict[str, Any] = {"background_work": False, "enable_wal": False, "enable_manifest": False}
    fields.update(overrides)
    return options_for_day(last_day(), **fields)


def key_of(number: int) -> bytes:
    """The workloads' key for ``number``: ``b"key000000000042"`` (15 bytes, ordered like the numbers)."""
    return b"key%012d" % number


@dataclass(frozen=True)
class Workload:
    """Puts of random keys: ``puts`` writes, keys drawn uniformly from ``key_space`` keys.

    When ``puts`` is larger than ``key_space`` some keys are written again, so that
    older versions become garbage that compaction removes. A flush is forced after
    every ``puts_per_flush`` puts, so every run sees the same flushes.
    """

    puts: int
    key_space: int
    puts_per_flush: int
    value_size: int = 100
    seed: int = 0

    def pairs(self) -> Iterator[tuple[bytes, bytes]]:
        """The ``(key, value)`` of every put, in order (the same for the same seed)."""
        rng = random.Random(self.seed)
        value = b"v" * self.value_size
        for _ in range(self.puts):
            yield key_of(rng.randrange(self.key_space)), value

    @property
    def entry_bytes(self) -> int:
        """Bytes of one put as ``stats()`` counts them: key and value."""
        return len(key_of(0)) + self.value_size

    @property
    def user_bytes(self) -> int:
        """Bytes of every put: what write amplification divides by."""
        return self.puts * self.entry_bytes

    @property
    def flushes(self) -> int:
        """How many flushes the workload forces."""
        return math.ceil(self.puts / self.puts_per_flush)

    @classmethod
    def sized_for(
        cls, sst_size: int, flushes: int, *, overwrite: float = 0.0, value_size: int = 100, seed: int = 0
    ) -> Workload:
        """A workload of ``flushes`` flushes that each write one SST of about ``sst_size`` bytes.

        ``overwrite`` is the share of puts that rewrite a key (roughly): 0 draws keys
        from a key space far larger than the workload, 0.5 from one half its size.
        """
        puts_per_flush = max(1, int(0.85 * sst_size / (len(key_of(0)) + value_size)))
        puts = puts_per_flush * flushes
        key_space = max(1, int(puts * (1 - overwrite))) if overwrite else 1000 * puts
        return cls(puts, key_space, puts_per_flush, value_size, seed)


@contextlib.contextmanager
def scratch_directory() -> Iterator[Path]:
    """A temporary directory for one run of an engine, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tinylsm-notebook-") as name:
        yield Path(name)


@contextlib.contextmanager
def open_engine(options: LsmStorageOptions) -> Iterator[LsmStorage]:
    """The composed engine, open in a scratch directory, closed (and the directory removed) afterwards."""
    from tinylsm.engine import LsmStorage

    with scratch_directory() as directory, LsmStorage.open(directory / "db", options) as db:
        yield db


def sorted_runs(levels: Sequence[dict[str, int]]) -> int:
    """Sorted runs a point read may search, from ``stats()["levels"]``: every L0 file, every non-empty level."""
    return levels[0]["ssts"] + sum(1 for level in levels[1:] if level["ssts"])


def levels_in_use(levels: Sequence[dict[str, int]]) -> int:
    """Levels (or tiers) below L0 that hold data, from ``stats()["levels"]``."""
    return sum(1 for level in levels[1:] if level["ssts"])


def run_workload(db: LsmStorage, workload: Workload, after_flush: Callable[[], None] = lambda: None) -> None:
    """Put every pair of ``workload`` into ``db``, forcing a flush (then calling ``after_flush``) on schedule."""
    for count, (key, value) in enumerate(workload.pairs(), 1):
        db.put(key, value)
        if count % workload.puts_per_flush == 0 or count == workload.puts:
            db.force_flush()
            after_flush()


# ----------------------------------------------------------------------------
# The shape of the tree over time
# ----------------------------------------------------------------------------


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
    figure, axes = _new_figure(len(histories), 2, (13.5, 3.3 * len(histories)), width_ratios=(1.25, 1))
    figure.suptitle(title, fontsize=14, fontweight="bold")
    for (bytes_axes, count_axes), history in zip(axes, histories, strict=True):
        _plot_run_bytes(bytes_axes, history)
        _plot_run_counts(count_axes, history, figure)
    return figure


def _plot_run_bytes(axes: Axes, history: ShapeHistory) -> None:
    sizes = history.matrix("sizes")
    count = len(history.snapshots)
    largest = max((sum(column) for column in zip(*sizes, strict=True)), default=0)
    unit, unit_name = _size_unit(largest)
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
    axes.set_xlabel(f"flushes (one SST of {_bytes_text(history.flush_size)} each)")
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
    unit, unit_name = _size_unit(max(max(row) for row in sizes))
    flushes = list(range(1, len(history.snapshots) + 1))
    figure, axes = _new_figure(2, 1, (11.5, 6.4), sharex=True, height_ratios=(2.2, 1))
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
    bottom.set_xlabel(f"flushes (one SST of {_bytes_text(history.flush_size)} each)")
    bottom.legend(loc="upper right", ncols=2)
    bottom.set_xlim(0.5, len(flushes) + 0.5)
    return figure


def _bytes_text(size: int) -> str:
    """``64 KiB``, ``1 MiB``, ``300 B``."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= KIB:
        return f"{size / KIB:g} KiB"
    return f"{size} B"


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


# ----------------------------------------------------------------------------
# Amplification
# ----------------------------------------------------------------------------


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
    figure, axes = _new_figure(2, len(sweeps), (4.6 * len(sweeps), 7.2), sharex="col")
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


# --- RocksDB and LevelDB, when installed ---

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
            f"SSTs and memtables of {_bytes_text(self.sst_size)}, L0 trigger {self.l0_trigger} files, "
            f"base level {_bytes_text(self.base_level_bytes)}, x{self.multiplier} per level, "
            f"{_bytes_text(self.block_size)} blocks, {self.bloom_bits_per_key} bloom bits per key, no compression"
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


@styled
def plot_amplification(results: Sequence[Amplification], estimates: dict[str, Estimate], subtitle: str) -> Figure:
    """Write, read (sorted runs and blocks per get) and space amplification of each run, with the estimates.

    ``estimates`` maps a result's label to the textbook's estimate for it; a
    result without one (RocksDB, LevelDB) is drawn hatched, and a value that
    was not measured is marked n/a.
    """
    figure, grid = _new_figure(2, 2, (12.5, 8.6))
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


# ----------------------------------------------------------------------------
# Bloom filters
# ----------------------------------------------------------------------------


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
    figure, axes = _new_figure(1, 1, (9.5, 5))
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
    figure, axes = _new_figure(1, 2, (13, 4.6))
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


# ----------------------------------------------------------------------------
# The anatomy of an SST
# ----------------------------------------------------------------------------


SAMPLE_ENTRIES: tuple[tuple[bytes, bytes | None], ...] = tuple(
    (b"user:%04d" % number, None if number == 6 else b"name-%d" % number) for number in range(0, 45, 3)
)
"""The entries of the SST the notebooks take apart: fifteen users, one of them deleted (a tombstone)."""

SAMPLE_BLOCK_SIZE = 128
"""Blocks of 128 bytes, so that the sample's few entries fill several blocks."""


def sample_sst(entries: Sequence[tuple[bytes, bytes | None]], **overrides: Any) -> tuple[str, bytes]:
    """Write ``entries`` (``None`` deletes) with the engine, flush once; the SST's file name and bytes."""
    options = engine_options(compaction=NoCompaction(), target_sst_size=1 << 30, **overrides)
    with open_engine(options) as db:
        for key, value in entries:
            if value is None:
                db.delete(key)
            else:
                db.put(key, value)
        db.force_flush()
        (path,) = sorted(db.path.glob("*.sst"))
        return path.name, path.read_bytes()


@dataclass(frozen=True)
class Region:
    """A stretch of an SST file: ``kind`` is data, crc, meta, filter or footer."""

    name: str
    kind: str
    start: int
    size: int

    @property
    def end(self) -> int:
        """The offset just past the region."""
        return self.start + self.size


REGION_COLOURS = {"data": (SKY, BLUE), "crc": VERMILLION, "meta": GREEN, "filter": PURPLE, "footer": YELLOW}
REGION_TITLES = {
    "data": "data blocks",
    "crc": "crc slots (u32 each)",
    "meta": "meta (block index)",
    "filter": "Bloom filter",
    "footer": "footer (40 B)",
}


def sst_regions(name: str, data: bytes) -> list[Region]:
    """The regions of an SST, found by ``checker.tools.inspect``'s own decoder; they tile the whole file.

    Raises ``ValueError`` if the inspector finds damage.
    """
    report = inspect_bytes(name, data, "sst", InspectSettings())
    if report.problems:
        raise ValueError(f"{name} is damaged: {report.problems[0]['message']}")
    facts = report.facts
    crc = U32.size
    regions = []
    for block in facts["blocks"]:
        regions.append(Region(f"block {block['index']}", "data", block["offset"], block["size"]))
        regions.append(Region(f"block {block['index']} crc", "crc", block["offset"] + block["size"], crc))
    for section in ("meta", "filter"):
        start, size = facts[section]["offset"], facts[section]["size"]
        regions.append(Region(section, section, start, size))
        regions.append(Region(f"{section} crc", "crc", start + size, crc))
    regions.append(Region("footer", "footer", facts["footer"]["offset"], SST_FOOTER.size))
    for left, right in itertools.pairwise(regions):
        if left.end != right.start:
            raise ValueError(f"{left.name} ends at {left.end} but {right.name} starts at {right.start}")
    if regions[-1].end != len(data):
        raise ValueError(f"the regions end at {regions[-1].end}, the file at {len(data)}")
    return regions


def region_totals(regions: Sequence[Region]) -> dict[str, int]:
    """Bytes of each kind of region (data, crc, meta, filter, footer), in the order they first appear."""
    totals: dict[str, int] = {}
    for region in regions:
        totals[region.kind] = totals.get(region.kind, 0) + region.size
    return totals


def _region_colour(region: Region) -> str:
    colour = REGION_COLOURS[region.kind]
    if region.kind == "data":
        return colour[int(region.name.split()[1]) % 2]
    return colour


@styled
def plot_sst_layout(name: str, regions: Sequence[Region]) -> Figure:
    """The SST as coloured regions: to scale (top), then every region at the same width, with its size."""
    size = regions[-1].end
    figure, axes = _new_figure(2, 1, (14, 4.6), height_ratios=(1, 1.25))
    scale, schematic = axes[0][0], axes[1][0]
    for region in regions:
        scale.add_patch(Rectangle((region.start, 0), region.size, 1, color=_region_colour(region), linewidth=0))
        if region.kind != "crc" and region.size > size / 14:
            text = f"{region.name}\n{region.size} B"
            colour = "white" if _region_colour(region) == BLUE else "black"
            scale.text(region.start + region.size / 2, 0.5, text, ha="center", va="center", fontsize=9.5, color=colour)
    scale.set_xlim(0, size)
    scale.set_ylim(0, 1)
    scale.set_yticks([])
    scale.grid(False)
    scale.set_xlabel("file offset (bytes)")
    scale.set_title(f"{name}: {size:,} bytes to scale (each crc slot is 4 bytes)")
    for index, region in enumerate(regions):
        schematic.add_patch(Rectangle((index, 0), 0.96, 1, color=_region_colour(region), linewidth=0))
        label = region.name.replace(" crc", "\ncrc") if region.kind == "crc" else region.name.replace(" ", "\n")
        colour = "white" if _region_colour(region) in (BLUE, VERMILLION) else "black"
        schematic.text(index + 0.48, 0.62, label, ha="center", va="center", fontsize=9, color=colour)
        schematic.text(index + 0.48, 0.18, f"{region.size} B", ha="center", va="center", fontsize=9, color=colour)
    schematic.set_xlim(0, len(regions))
    schematic.set_ylim(0, 1)
    schematic.axis("off")
    schematic.set_title("the same regions, one box each (not to scale), in file order")
    kinds = list(dict.fromkeys(region.kind for region in regions))
    handles = [
        Patch(color=REGION_COLOURS[kind][0] if kind == "data" else REGION_COLOURS[kind], label=REGION_TITLES[kind])
        for kind in kinds
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return figure


@dataclass(frozen=True)
class Field:
    """One field of a block: where it starts, how long it is, its name, kind and decoded value."""

    start: int
    size: int
    name: str
    kind: str
    value: str


FIELD_COLOURS = {
    "key_overlap": "#FFE08A",
    "key_rest_len": "#FFB570",
    "kind": "#FF8A80",
    "value_len": "#D3B1E8",
    "key": "#8FD0FA",
    "value": "#A8E6C1",
    "offset": "#E0E0E0",
    "count": "#A6A6A6",
}
"""Light tints, one hue per field, so that black hex digits stay readable on every one."""

FIELD_TITLES = {
    "key_overlap": "key_overlap (u16)",
    "key_rest_len": "key_rest_len (u16)",
    "kind": "kind (u8)",
    "value_len": "value_len (u32)",
    "key": "key_rest",
    "value": "value",
    "offset": "entry offset (u16)",
    "count": "entry count (u16)",
}


def block_fields(block: bytes) -> list[Field]:
    """Every field of an encoded block (day 1's format), in byte order, decoded.

    Entries: ``key_overlap | key_rest_len | kind | value_len | key_rest | value``;
    then one ``u16`` offset per entry and the entry count. Keys are shown whole:
    ``key_rest`` completed with the first ``key_overlap`` bytes of the block's first key.
    """
    (count,) = U16.unpack_from(block, len(block) - U16.size)
    offsets_start = len(block) - U16.size * (count + 1)
    offsets = struct.unpack_from(f"<{count}H", block, offsets_start)
    fields: list[Field] = []
    first_key = b""
    for number, start in enumerate(offsets):
        overlap, rest_len, kind, value_len = ENTRY_HEADER.unpack_from(block, start)
        rest_at = start + ENTRY_HEADER.size
        rest = block[rest_at : rest_at + rest_len]
        key = first_key[:overlap] + rest
        if number == 0:
            first_key = key
        value = block[rest_at + rest_len : rest_at + rest_len + value_len]
        tombstone = kind == KIND_TOMBSTONE
        fields += [
            Field(start, 2, f"entry {number} key_overlap", "key_overlap", f"{overlap} bytes shared with the first key"),
            Field(start + 2, 2, f"entry {number} key_rest_len", "key_rest_len", str(rest_len)),
            Field(start + 4, 1, f"entry {number} kind", "kind", "1 (tombstone)" if tombstone else "0 (value)"),
            Field(start + 5, 4, f"entry {number} value_len", "value_len", str(value_len)),
            Field(rest_at, rest_len, f"entry {number} key_rest", "key", f"{show(rest)} (key {show(key)})"),
        ]
        if value_len:
            fields.append(Field(rest_at + rest_len, value_len, f"entry {number} value", "value", show(value)))
    for number, offset in enumerate(offsets):
        fields.append(Field(offsets_start + 2 * number, 2, f"offset {number}", "offset", str(offset)))
    fields.append(Field(len(block) - 2, 2, "count", "count", str(count)))
    return fields


def hexdump(data: bytes, width: int = 16) -> str:
    """``data`` as hexdump lines, ``00000010  6b 65 79 ...  |key...|`` (offsets from 0)."""
    lines = []
    for start in range(0, len(data), width):
        chunk = data[start : start + width]
        text = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        lines.append(f"{start:08x}  {chunk.hex(' '):<{3 * width - 1}}  |{text}|")
    return "\n".join(lines)


def field_table(block: bytes, fields: Sequence[Field]) -> str:
    """One line per field: offset, size, bytes in hex, name and decoded value."""
    lines = [f"{'offset':>6}  {'size':>4}  {'bytes':<29}  {'field':<22}  value"]
    for f in fields:
        raw = block[f.start : f.start + f.size]
        shown = raw.hex(" ") if f.size <= 10 else raw[:9].hex(" ") + " .."
        lines.append(f"{f.start:>6}  {f.size:>4}  {shown:<29}  {f.name:<22}  {f.value}")
    return "\n".join(lines)


@styled
def plot_block_hexdump(block: bytes, fields: Sequence[Field], title: str, width: int = 16) -> Figure:
    """The block's bytes as a hexdump grid, each byte coloured by its field; a bar marks where each entry starts."""
    rows = math.ceil(len(block) / width)
    figure, axes = _new_figure(1, 1, (12.5, 0.42 * rows + 2.0))
    axes = axes[0][0]
    kind_of_byte: dict[int, str] = {}
    for f in fields:
        for offset in range(f.start, f.start + f.size):
            kind_of_byte[offset] = f.kind
    for offset, byte in enumerate(block):
        row, column = divmod(offset, width)
        colour = FIELD_COLOURS[kind_of_byte.get(offset, "value")]
        axes.add_patch(Rectangle((column, row), 0.94, 0.9, color=colour, linewidth=0))
        axes.text(column + 0.47, row + 0.45, f"{byte:02x}", ha="center", va="center", family="monospace", fontsize=10)
    for f in fields:
        if f.kind == "key_overlap":  # the first field of an entry
            row, column = divmod(f.start, width)
            axes.plot([column - 0.03, column - 0.03], [row - 0.02, row + 0.92], color="black", lw=2.5)
    for row in range(rows):
        chunk = block[row * width : (row + 1) * width]
        text = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        axes.text(width + 0.4, row + 0.45, text, ha="left", va="center", family="monospace", fontsize=10)
    axes.set_xlim(-0.1, width + 5.2)
    axes.set_ylim(rows, -0.1)
    axes.set_yticks(
        [row + 0.45 for row in range(rows)], [f"{row * width:08x}" for row in range(rows)], family="monospace"
    )
    axes.set_xticks(
        [column + 0.47 for column in range(width)], [f"{column:x}" for column in range(width)], family="monospace"
    )
    axes.xaxis.tick_top()
    axes.tick_params(length=0)
    axes.grid(False)
    for side in ("left", "bottom", "top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_title(title, pad=10)
    kinds = list(dict.fromkeys(f.kind for f in fields))
    handles = [Patch(color=FIELD_COLOURS[kind], label=FIELD_TITLES[kind]) for kind in kinds]
    handles.append(plt.Line2D([], [], color="black", lw=2.5, label="an entry starts"))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(5, len(handles)))
    return figure


# ----------------------------------------------------------------------------
# What a notebook prints
# ----------------------------------------------------------------------------


def composition_line() -> str:
    """Whose code runs (``TINYLSM_IMPL``) and the last day it has: a notebook's first output."""
    composition = tinylsm.COMPOSITION
    return f"TINYLSM_IMPL={composition.spec}: {composition.describe()} (last day: {last_day()})"


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
