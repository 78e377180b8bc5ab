"""The engine as the figures run it: options for the last day of the course, workloads, a scratch directory."""

from __future__ import annotations

import contextlib
import math
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tinylsm
from tinylsm.options import LsmStorageOptions
from tinylsm.testkit import options_for_day

if TYPE_CHECKING:
    from tinylsm.engine import LsmStorage


COMPACTION_DAY, FILTER_DAY = 5, 7
"""The days that bring compaction and Bloom filters."""

STRATEGY_TITLES = {"simple": "simple leveled", "tiered": "tiered", "leveled": "leveled"}
"""The three compaction strategies of day 5, by the simulator's names."""


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


def composition_line() -> str:
    """Whose code runs (``TINYLSM_IMPL``) and the last day it has: a notebook's first output."""
    composition = tinylsm.COMPOSITION
    return f"TINYLSM_IMPL={composition.spec}: {composition.describe()} (last day: {last_day()})"
