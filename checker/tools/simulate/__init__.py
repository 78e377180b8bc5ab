"""``python -m checker simulate``: run day 5's compaction controllers on a model tree, with no disk.

Each iteration flushes one SST that covers a random range of keys (8-byte
big-endian integers), then asks the controller for compactions until
``generate_task`` returns ``None``. A compaction is only pretended: its outputs
hold as many bytes as its inputs (there is no dedup, as if every key were
unique), cut into SSTs of ``--sst-size-mb`` each whose key ranges split the
inputs' range evenly. After every step the tree is printed, and at the end a
summary gives the write, space and read amplification the strategy reached.

The simulator is strict where the engine would silently go wrong: a task that
names an SST the tree does not have, an ``apply_result`` that loses or keeps the
wrong SSTs, a sorted level (or tier) whose SSTs overlap or are out of key order,
and a controller that never stops asking for work all stop it with exit status 1.

The controllers are imported from the ``tinylsm`` package, so ``TINYLSM_IMPL``
chooses whose code runs: yours (``student``, the default) or the reference
(``solutions``). Run both with the same flags and compare the outputs.

This module is the command line (the strategies and their flags); ``model`` is
the simulated tree and the run.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tinylsm
from checker.common import EXIT_FAILED, parse_arguments
from checker.tools.simulate.model import MIB, Controller, Settings, megabytes, print_error, run
from tinylsm.options import LeveledCompactionOptions, SimpleLeveledCompactionOptions, TieredCompactionOptions


@dataclass(frozen=True)
class Strategy:
    """A compaction strategy: its controller's module and class, its options, and their flags."""

    module: str
    controller: str
    options: type
    flags: dict[str, str]
    """Command-line flag -> field of the options class."""


STRATEGIES = {
    "simple": Strategy(
        "tinylsm.simple_leveled",
        "SimpleLeveledController",
        SimpleLeveledCompactionOptions,
        {
            "--level0-file-num-compaction-trigger": "level0_file_num_compaction_trigger",
            "--level-size-ratio-percent": "size_ratio_percent",
            "--max-levels": "max_levels",
        },
    ),
    "tiered": Strategy(
        "tinylsm.tiered",
        "TieredController",
        TieredCompactionOptions,
        {
            "--num-tiers": "num_tiers",
            "--max-size-amplification-percent": "max_size_amplification_percent",
            "--size-ratio": "size_ratio",
            "--min-merge-width": "min_merge_width",
        },
    ),
    "leveled": Strategy(
        "tinylsm.leveled",
        "LeveledController",
        LeveledCompactionOptions,
        {
            "--level0-file-num-compaction-trigger": "level0_file_num_compaction_trigger",
            "--level-size-multiplier": "level_size_multiplier",
            "--max-levels": "max_levels",
            "--base-level-size-mb": "base_level_size_mb",
        },
    ),
}

FIELD_HELP = {
    "level0_file_num_compaction_trigger": "compact L0 once it holds this many SSTs",
    "size_ratio_percent": "compact a level into the next when lower/upper files is below this percent",
    "max_levels": "number of levels below L0",
    "num_tiers": "compact once there are this many tiers",
    "max_size_amplification_percent": "merge every tier when the newer tiers hold this percent of the oldest's files",
    "size_ratio": "size-ratio trigger, in percent",
    "min_merge_width": "fewest tiers a size-ratio merge takes",
    "level_size_multiplier": "each level aims at this many times the level above it",
    "base_level_size_mb": "target size of the base level, in MB",
}

NON_NEGATIVE_FIELDS = {"size_ratio", "size_ratio_percent", "max_size_amplification_percent"}


def _number(kind: type, minimum: float) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` at least ``minimum`` (above 0 for floats)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum or (kind is float and value <= 0):
            raise argparse.ArgumentTypeError(f"{text} is too small (at least {minimum})")
        return value

    return parse


EPILOG = (
    "The controllers come from the tinylsm package, as TINYLSM_IMPL chooses: your day 5 code "
    "by default (TINYLSM_IMPL=student), the reference with TINYLSM_IMPL=solutions. Run both with the "
    "same flags and compare. Without --size-only or --dump-real-id, each level lists the iterations "
    "whose flushed data it holds."
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m checker simulate``."""
    parser = argparse.ArgumentParser(
        prog="python -m checker simulate",
        description="Simulate a compaction strategy on a model of the tree (no disk), flush after flush.",
        epilog=EPILOG,
    )
    strategies = parser.add_subparsers(dest="strategy", metavar="STRATEGY", required=True)
    for name, strategy in STRATEGIES.items():
        sub = strategies.add_parser(
            name,
            help=f"{strategy.options.__doc__.splitlines()[0]}",
            description=f"Simulate {name} compaction with {strategy.controller}.",
            epilog=EPILOG,
        )
        sub.add_argument(
            "--iterations", type=_number(int, 1), default=50, metavar="N", help="flushes to simulate (default: 50)"
        )
        view = sub.add_mutually_exclusive_group()
        view.add_argument("--size-only", action="store_true", help="print only the size of each level, not ids")
        view.add_argument(
            "--dump-real-id", action="store_true", help="print SST ids instead of the iterations each level holds"
        )
        sub.add_argument(
            "--sst-size-mb", type=_number(float, 0), default=1.0, metavar="MB", help="size of each SST (default: 1)"
        )
        sub.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the random key ranges (default: 0)")
        defaults = strategy.options()
        for flag, field_name in strategy.flags.items():
            default = getattr(defaults, field_name)
            kind = type(default)
            minimum = 0 if field_name in NON_NEGATIVE_FIELDS else 1
            sub.add_argument(
                flag,
                dest=field_name,
                type=_number(kind, minimum),
                default=default,
                metavar="MB" if kind is float else "N",
                help=f"{FIELD_HELP[field_name]} (default: {default:g})",
            )
    return parser


def load_controller(strategy: Strategy, options: object) -> Controller:
    """Import the strategy's controller (the student's or the reference) and build it."""
    module = importlib.import_module(strategy.module)
    return getattr(module, strategy.controller)(options)


def main(argv: list[str]) -> int:
    """``python -m checker simulate STRATEGY [flags]``: 0 when the run ends well, 1 on a failure, 2 on usage."""
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if isinstance(args, int):
        return args
    strategy = STRATEGIES[args.strategy]
    options = strategy.options(**{field_name: getattr(args, field_name) for field_name in strategy.flags.values()})
    composition = tinylsm.COMPOSITION
    source = composition.sources.get(5, "missing")
    try:
        controller = load_controller(strategy, options)
    except Exception as error:
        print_error(
            f"simulate: cannot load {strategy.module}.{strategy.controller} "
            f"(day5={source}, TINYLSM_IMPL={composition.spec}): {type(error).__name__}: {error}"
        )
        return EXIT_FAILED
    view = "sizes" if args.size_only else "ids" if args.dump_real_id else "flushes"
    settings = Settings(
        iterations=args.iterations,
        sst_size=max(1, round(args.sst_size_mb * MIB)),
        seed=args.seed,
        view=view,
        levels_shown=getattr(options, "max_levels", 0),
    )
    print(f"Simulating {options} with day5={source} (TINYLSM_IMPL={composition.spec}).")
    print(
        f"Each iteration flushes one {megabytes(settings.sst_size)} SST over random keys (seed {settings.seed}), "
        "then compacts until the controller is satisfied."
    )
    return run(controller, settings)
