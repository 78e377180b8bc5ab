"""The simulated tree: SSTs as key ranges and sizes, the tasks of a controller applied to them, a run's summary."""

from __future__ import annotations

import itertools
import math
import random
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from checker.common import EXIT_FAILED, EXIT_OK
from tinylsm.state import LevelCompactionTask, SstInfo, TieredCompactionTask, TreeShape

MIB = 1 << 20
KEY_BYTES = 8
KEY_SPACE = 1 << 32
"""Keys are integers below this, stored as 8-byte big-endian strings (so bytes order = number order)."""

FLUSH_WIDTH = (KEY_SPACE // 20, KEY_SPACE // 4)
"""A flushed SST covers between 5 % and 25 % of the key space."""

MAX_TASKS_PER_FLUSH = 1000
"""A controller that still asks for work after this many compactions after one flush does not converge."""


class Controller(Protocol):
    """What the simulator needs of a compaction controller (see ``tinylsm.compaction``)."""

    flush_to_l0: bool

    def generate_task(self, shape: TreeShape) -> Any: ...

    def apply_result(self, shape: TreeShape, task: Any, output: Sequence[int]) -> TreeShape: ...


class SimulationError(Exception):
    """The controller broke a rule of compaction; the message says which, in the student's terms."""


@dataclass(frozen=True)
class Settings:
    """How to simulate: how many flushes, how big an SST, which random keys, how to print levels.

    ``view`` is ``"flushes"`` (each level lists the iterations whose data it holds),
    ``"ids"`` (the SST ids) or ``"sizes"`` (the bytes of each level). ``levels_shown``
    pads the printout with empty levels up to that many levels below L0.
    """

    iterations: int = 50
    sst_size: int = MIB
    seed: int = 0
    view: str = "flushes"
    levels_shown: int = 0


@dataclass
class Summary:
    """What a run cost. Sizes are in bytes; ``written`` counts flushes and compactions."""

    flushes: int = 0
    flushed: int = 0
    written: int = 0
    compactions: int = 0
    max_space: int = 0
    final_space: int = 0
    read_amplification: int = 0
    max_read_amplification: int = 0


class Simulation:
    """One run of a controller on a model of the tree: SST ids, sizes and key ranges only."""

    def __init__(self, controller: Controller, settings: Settings, out: Callable[[str], None] = print) -> None:
        self.controller = controller
        self.settings = settings
        self.out = out
        self.tiered = not controller.flush_to_l0
        self.rng = random.Random(settings.seed)
        self.l0: tuple[int, ...] = ()
        self.levels: tuple[tuple[int, ...], ...] = ()
        self.ssts: dict[int, SstInfo] = {}
        self.origins: dict[int, frozenset[int]] = {}
        """For each SST, the iterations whose flushed data it holds (for the default view)."""
        self.next_id = 1
        self.summary = Summary()

    # The tree.

    def shape(self) -> TreeShape:
        """The tree as the controller sees it (a copy: the controller cannot change the model)."""
        return TreeShape(self.l0, self.levels, dict(self.ssts))

    def space(self) -> int:
        """Bytes of every SST alive, including the outputs of a compaction still running."""
        return sum(info.size for info in self.ssts.values())

    def sorted_runs(self) -> int:
        """How many sorted runs a point read may have to search: every L0 file, every non-empty level."""
        return len(self.l0) + sum(1 for level in self.levels if level)

    def new_sst(self, first: int, last: int, size: int, origins: frozenset[int]) -> int:
        """Add an SST to the model and return its id."""
        sst_id = self.next_id
        self.next_id += 1
        self.ssts[sst_id] = SstInfo(sst_id, size, encode_key(first), encode_key(last))
        self.origins[sst_id] = origins
        return sst_id

    # The steps.

    def run(self) -> Summary:
        """Flush and settle ``settings.iterations`` times; raise ``SimulationError`` if a rule breaks."""
        for iteration in range(1, self.settings.iterations + 1):
            self.out(f"=== Iteration {iteration} ===")
            self.flush(iteration)
            self.out("--- After Flush ---")
            self.print_tree()
            self.settle(iteration)
            self.summary.max_read_amplification = max(self.summary.max_read_amplification, self.sorted_runs())
        self.summary.final_space = self.space()
        self.summary.read_amplification = self.sorted_runs()
        return self.summary

    def flush(self, iteration: int) -> None:
        """Add one SST over a random key range: to L0, or as a new newest tier under tiered compaction."""
        width = self.rng.randrange(*FLUSH_WIDTH)
        first = self.rng.randrange(KEY_SPACE - width)
        size = self.settings.sst_size
        sst_id = self.new_sst(first, first + width - 1, size, frozenset([iteration]))
        if self.tiered:
            self.levels = ((sst_id,), *self.levels)
        else:
            self.l0 = (sst_id, *self.l0)
        self.summary.flushes += 1
        self.summary.flushed += size
        self.summary.written += size
        self.summary.max_space = max(self.summary.max_space, self.space())

    def settle(self, iteration: int) -> None:
        """Run the controller's tasks until it asks for none."""
        for count in range(MAX_TASKS_PER_FLUSH + 1):
            task = self.controller.generate_task(self.shape())
            if task is None:
                return
            if count == MAX_TASKS_PER_FLUSH:
                raise SimulationError(
                    f"the controller does not converge: after iteration {iteration}'s flush it ran "
                    f"{MAX_TASKS_PER_FLUSH} compactions and still asks for more ({self.describe(task)}); "
                    "generate_task must return None once the tree is in shape"
                )
            self.out("--- Compaction Task ---")
            self.out(self.describe(task))
            self.compact(task)
            self.out("--- After Compaction ---")
            self.print_tree()

    def compact(self, task: object) -> None:
        """Pretend to run ``task``: write its outputs, let the controller place them, drop the inputs."""
        inputs = self.task_inputs(task)
        live_before = set(self.tree_ids())
        size = sum(self.ssts[sst_id].size for sst_id in inputs)
        outputs = self.write_outputs(inputs, size)
        self.summary.compactions += 1
        self.summary.written += size
        self.summary.max_space = max(self.summary.max_space, self.space())
        shape = self.controller.apply_result(self.shape(), task, outputs)
        self.check_result(shape, live_before - set(inputs) | set(outputs))
        self.l0, self.levels = tuple(shape.l0), tuple(tuple(level) for level in shape.levels)
        for sst_id in inputs:
            del self.ssts[sst_id]
            del self.origins[sst_id]
        self.check_sorted_runs()

    def write_outputs(self, inputs: Sequence[int], size: int) -> list[int]:
        """New SSTs holding ``size`` bytes, whose key ranges split the inputs' range evenly, in key order."""
        if size == 0:
            return []
        low = min(decode_key(self.ssts[sst_id].first_key) for sst_id in inputs)
        high = max(decode_key(self.ssts[sst_id].last_key) for sst_id in inputs)
        span = high - low + 1
        count = max(1, min(math.ceil(size / self.settings.sst_size), span))
        sizes = [self.settings.sst_size] * (count - 1)
        sizes.append(size - sum(sizes))
        outputs = []
        for index, output_size in enumerate(sizes):
            first = low + span * index // count
            last = low + span * (index + 1) // count - 1
            origins = frozenset().union(
                *(self.origins[sst_id] for sst_id in inputs if self.overlaps(sst_id, first, last))
            )
            outputs.append(self.new_sst(first, last, output_size, origins))
        return outputs

    def overlaps(self, sst_id: int, first: int, last: int) -> bool:
        """Whether SST ``sst_id`` holds keys in ``first..last``."""
        info = self.ssts[sst_id]
        return decode_key(info.first_key) <= last and decode_key(info.last_key) >= first

    # The checks.

    def tree_ids(self) -> list[int]:
        """Every SST id in L0 and the levels (or tiers), in printing order."""
        return [*self.l0, *(sst_id for level in self.levels for sst_id in level)]

    def task_inputs(self, task: object) -> list[int]:
        """The SSTs ``task`` merges, after checking that each is where the task says it is."""
        if isinstance(task, TieredCompactionTask):
            for tier in task.tiers:
                if tuple(tier) not in self.levels:
                    raise SimulationError(
                        f"the task names the tier {list(tier)}, which is not a tier of the tree "
                        f"(the tiers are {[list(t) for t in self.levels]})"
                    )
            inputs = [sst_id for tier in task.tiers for sst_id in tier]
        elif isinstance(task, LevelCompactionTask):
            self.check_named(task.upper, task.upper_level)
            self.check_named(task.lower, task.lower_level)
            inputs = [*task.upper, *task.lower]
        else:
            raise SimulationError(f"generate_task returned {task!r}, which is not a compaction task")
        repeated = sorted(sst_id for sst_id, times in Counter(inputs).items() if times > 1)
        if repeated:
            raise SimulationError(f"the task names SST {repeated[0]} more than once")
        return inputs

    def check_named(self, ids: Sequence[int], level: int) -> None:
        """Each of ``ids`` is in ``level`` (0 is L0), as a ``LevelCompactionTask`` claims."""
        if level < 0:
            raise SimulationError(f"the task names level {level}; levels are numbered from 0 (L0)")
        members = self.l0 if level == 0 else (self.levels[level - 1] if level <= len(self.levels) else ())
        for sst_id in ids:
            if sst_id in members:
                continue
            where = self.where(sst_id)
            found = f"it is in {where}" if where else "it is not in the tree"
            raise SimulationError(f"the task names SST {sst_id} as part of L{level}, but {found}")

    def where(self, sst_id: int) -> str:
        """The name of the level that holds ``sst_id``, or ``""``."""
        if sst_id in self.l0:
            return "L0"
        for number, level in enumerate(self.levels, 1):
            if sst_id in level:
                return self.run_name(number)
        return ""

    def check_result(self, shape: TreeShape, expected: set[int]) -> None:
        """``apply_result`` kept every other SST, dropped the inputs, and placed each output once."""
        ids = [*shape.l0, *(sst_id for level in shape.levels for sst_id in level)]
        twice = sorted(sst_id for sst_id, times in Counter(ids).items() if times > 1)
        missing = sorted(expected - set(ids))
        extra = sorted(set(ids) - expected)
        problems = []
        if missing:
            problems.append(f"lost SSTs {missing}")
        if extra:
            problems.append(f"still holds SSTs {extra}, which the compaction replaced or never wrote")
        if twice:
            problems.append(f"holds SSTs {twice} more than once")
        if problems:
            raise SimulationError(f"after apply_result the tree {'; '.join(problems)}")

    def check_sorted_runs(self) -> None:
        """Every level (or tier) below L0 lists SSTs in key order whose ranges do not overlap."""
        for number, level in enumerate(self.levels, 1):
            for left, right in itertools.pairwise(level):
                a, b = self.ssts[left], self.ssts[right]
                if a.last_key < b.first_key:
                    continue
                problem = "are out of key order" if a.first_key > b.last_key else "overlap"
                raise SimulationError(
                    f"{self.run_name(number)} is not a sorted run after the compaction: "
                    f"SST {left} {key_range(a)} and SST {right} {key_range(b)} {problem} "
                    f"({self.run_name(number)} is {list(level)})"
                )

    # The printout.

    def run_name(self, number: int) -> str:
        """``L2``, or ``tier 2`` (newest first) under tiered compaction."""
        return f"tier {number}" if self.tiered else f"L{number}"

    def describe(self, task: object) -> str:
        """One line about ``task``, e.g. ``compaction triggered: L0 (4 files) + L1 (3 files) -> L1``."""
        if isinstance(task, LevelCompactionTask):
            upper = f"L{task.upper_level} ({plural(len(task.upper), 'file')})"
            lower = f"L{task.lower_level} ({plural(len(task.lower), 'file')})"
            bottom = ", bottom level" if task.is_bottom else ""
            return f"compaction triggered: {upper} + {lower} -> L{task.lower_level}{bottom}"
        if isinstance(task, TieredCompactionTask):
            count, total = len(task.tiers), len(self.levels)
            positions = [self.levels.index(tuple(tier)) + 1 for tier in task.tiers if tuple(tier) in self.levels]
            if count == total:
                which = f"all {total} tiers"
            elif positions == list(range(1, count + 1)):
                which = f"the {count} newest tiers of {total}"
            else:
                which = f"tiers {', '.join(map(str, positions))} of {total}"
            size = plural(sum(len(tier) for tier in task.tiers), "file")
            return f"compaction triggered: {which} ({size}) -> 1 tier{', bottom' if task.is_bottom else ''}"
        return f"compaction triggered: {task!r}"

    def print_tree(self) -> None:
        """Print L0 and each level (or each tier), in the view the settings ask for."""
        if not self.tiered or self.l0:
            self.out(self.level_line("L0", self.l0))
        if self.tiered:
            for number, tier in enumerate(self.levels, 1):
                self.out(self.level_line(f"Tier {number}", tier))
            if not self.levels:
                self.out("(no tiers)")
            return
        levels = (*self.levels, *([()] * (self.settings.levels_shown - len(self.levels))))
        for number, level in enumerate(levels, 1):
            self.out(self.level_line(f"L{number}", level))

    def level_line(self, name: str, ids: Sequence[int]) -> str:
        """``L1 (3): [...]`` listing flushes or ids, or ``L1: 3 MB``."""
        if self.settings.view == "sizes":
            return f"{name}: {megabytes(sum(self.ssts[sst_id].size for sst_id in ids))}"
        if self.settings.view == "ids":
            return f"{name} ({len(ids)}): [{', '.join(map(str, ids))}]"
        flushes = frozenset().union(*(self.origins[sst_id] for sst_id in ids))
        return f"{name} ({len(ids)}): [{number_ranges(flushes)}]"


def encode_key(number: int) -> bytes:
    """A key of the model: ``number`` as 8 big-endian bytes."""
    return number.to_bytes(KEY_BYTES, "big")


def decode_key(key: bytes) -> int:
    """The number a key of the model stands for."""
    return int.from_bytes(key, "big")


def key_range(info: SstInfo) -> str:
    """``(keys 100..250)``: an SST's key range, as numbers."""
    return f"(keys {decode_key(info.first_key)}..{decode_key(info.last_key)})"


def plural(count: int, noun: str) -> str:
    """``1 file``, ``3 files``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def megabytes(size: int) -> str:
    """``3 MB``, ``1.5 MB``, ``1399 MB`` (MiB, really), to two decimals."""
    return f"{size / MIB:.2f}".rstrip("0").rstrip(".") + " MB"


def number_ranges(numbers: Iterable[int]) -> str:
    """``1-3, 5, 7-8`` for ``{1, 2, 3, 5, 7, 8}``."""
    parts: list[str] = []
    streak: list[int] = []
    for number in sorted(numbers):
        if streak and number != streak[-1] + 1:
            parts.append(_streak_text(streak))
            streak = []
        streak.append(number)
    if streak:
        parts.append(_streak_text(streak))
    return ", ".join(parts)


def _streak_text(streak: list[int]) -> str:
    return str(streak[0]) if len(streak) == 1 else f"{streak[0]}-{streak[-1]}"


def print_summary(summary: Summary, tiered: bool, out: Callable[[str], None] = print) -> None:
    """The last lines of a run: flushes, compactions, and the write, space and read amplification."""
    runs = "tiers" if tiered else "L0 files + non-empty levels"
    final = summary.final_space
    space_ratio = f"{summary.max_space / final:.2f}x the final {megabytes(final)}" if final else "the tree ends empty"
    out("--- Summary ---")
    out(f"flushes: {summary.flushes} ({megabytes(summary.flushed)})")
    out(f"compactions: {summary.compactions}")
    out(
        f"write amplification: {summary.written / summary.flushed:.2f}x "
        f"({megabytes(summary.written)} written by flushes and compactions / {megabytes(summary.flushed)} flushed; "
        "no dedup: a compaction writes every byte it reads)"
    )
    out(
        f"maximum space usage: {megabytes(summary.max_space)}, {space_ratio} "
        "(a compaction's inputs and outputs count together)"
    )
    out(
        f"read amplification: {plural(summary.read_amplification, 'sorted run')} at the end, "
        f"at most {summary.max_read_amplification} once compactions settled ({runs})"
    )


def print_error(line: str) -> None:
    """Print to stderr, after whatever the trace has printed so far."""
    sys.stdout.flush()
    print(line, file=sys.stderr)


def run(
    controller: Controller,
    settings: Settings,
    out: Callable[[str], None] = print,
    err: Callable[[str], None] = print_error,
) -> int:
    """Simulate, print the trace and the summary; return the exit status (1 if the controller failed)."""
    try:
        summary = Simulation(controller, settings, out).run()
    except NotImplementedError as error:
        where = traceback.extract_tb(error.__traceback__)[-1].name
        err(f"simulate: not implemented yet: {error or where}")
        return EXIT_FAILED
    except SimulationError as error:
        err(f"simulate: {error}")
        return EXIT_FAILED
    except Exception as error:
        err("".join(traceback.format_exception(error)).rstrip())
        err(f"simulate: the controller raised {type(error).__name__}: {error}")
        return EXIT_FAILED
    print_summary(summary, not controller.flush_to_l0, out)
    return EXIT_OK
