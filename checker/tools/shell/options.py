"""The engine's options from the shell's command line, and opening the engine with them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from checker.tools.shell.text import ShellError, human_size

if TYPE_CHECKING:
    from tinylsm.engine import LsmStorage
    from tinylsm.options import LsmStorageOptions


COMPACTIONS = ("none", "simple", "tiered", "leveled")

_SIZE = re.compile(r"(\d+)\s*([kKmM]?)(i?[bB])?")


def size_argument(text: str) -> int:
    """A size in bytes, as ``4096``, ``4k``, ``4KiB`` or ``2M``."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: use e.g. 4096, 4k or 2M")
    number, unit = int(match.group(1)), match.group(2).lower()
    return number * {"": 1, "k": 1024, "m": 1024 * 1024}[unit]


def shell_options(args: argparse.Namespace, present_days: set[int]) -> LsmStorageOptions:
    """The engine options for the shell: the course's defaults, then the flags.

    Features of days that this copy of the course does not have are off, and so
    is background work. Raises ``ShellError`` for flags that cannot be honoured.
    """
    from tinylsm.options import (
        LeveledCompactionOptions,
        NoCompaction,
        SimpleLeveledCompactionOptions,
        TieredCompactionOptions,
    )
    from tinylsm.testkit import options_for_day

    last_day = 0
    while last_day + 1 in present_days:
        last_day += 1
    fields: dict[str, object] = {}
    if args.compaction is not None:
        if args.compaction != "none" and 5 not in present_days:
            raise ShellError(f"--compaction {args.compaction} needs day 5, which this copy of the course does not have")
        strategies = {
            "none": NoCompaction,
            "simple": SimpleLeveledCompactionOptions,
            "tiered": TieredCompactionOptions,
            "leveled": LeveledCompactionOptions,
        }
        fields["compaction"] = strategies[args.compaction]()
    if args.no_wal:
        fields["enable_wal"] = False
    if args.no_manifest:
        fields["enable_manifest"] = False
    if args.target_sst_size is not None:
        fields["target_sst_size"] = args.target_sst_size
    if args.block_size is not None:
        fields["block_size"] = args.block_size
    try:
        return options_for_day(last_day, **fields)
    except (TypeError, ValueError) as error:
        raise ShellError(str(error)) from None


def compaction_name(options: LsmStorageOptions) -> str:
    """The ``--compaction`` name of the strategy in ``options``."""
    names = {
        "NoCompaction": "none",
        "SimpleLeveledCompactionOptions": "simple",
        "TieredCompactionOptions": "tiered",
        "LeveledCompactionOptions": "leveled",
    }
    return names.get(type(options.compaction).__name__, type(options.compaction).__name__)


def describe_options(options: LsmStorageOptions) -> str:
    """The options that matter in the shell, on one line."""
    on_off = {True: "on", False: "off"}
    return (
        f"compaction={compaction_name(options)} wal={on_off[options.enable_wal]} "
        f"manifest={on_off[options.enable_manifest]} block_size={human_size(options.block_size)} "
        f"target_sst_size={human_size(options.target_sst_size)} background_work={on_off[options.background_work]}"
    )


def open_engine(path: Path, options: LsmStorageOptions) -> LsmStorage:
    """Open the composed engine's ``LsmStorage`` in ``path``."""
    from tinylsm.engine import LsmStorage

    return LsmStorage.open(path, options)
