"""Day 6 crash helpers: the crash trials of the hidden crash tests, and the checks after a crash.

Not a test module (pytest collects only ``test_*.py``). The hidden tests import it
by path. Each trial drives an engine in an engine process of its own
(``checker.grading.isolation.engine``), so that what was acknowledged is what this
process saw return, never what the crashed process said:

* ``kill_trial``: write a seeded history of puts, deletes and batches, with a sync
  now and then; after a seeded number of syncs returned, SIGKILL the process.
* ``trap_trials``: build a base database, then for k = 1, 2, ... run a fixed
  scenario (writes, syncs, freezes, flushes, compactions, close) on a copy, in a
  process whose k-th fsync simulates a power cut (``tinylsm.testkit.power_cut``:
  this process kills it, then every file loses what was written to it after its
  last fsync). The loop stops when a run finishes without reaching its k-th
  fsync; that run's power is cut after ``close()``, and it is checked too.

``scripts/crash_soak.py`` uses the same functions to repeat the trials with many
seeds. Every problem found is returned as a sentence that names the seed.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from checker.grading.isolation.engine import EngineProcess, engine_process
from checker.grading.isolation.protocol import PeerGone
from tinylsm.options import (
    LeveledCompactionOptions,
    LsmStorageOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.testkit import apply_to_model, options_for_day, show

Op = tuple[bytes, bytes | None]
Step = tuple[Any, ...]
"""``("put", key, value)``, ``("delete", key)``, ``("batch", ops)``, ``("sync",)``, ``("flush",)``, ``("compact",)``."""

STRATEGIES = {
    "none": NoCompaction(),
    "simple": SimpleLeveledCompactionOptions(level0_file_num_compaction_trigger=2, max_levels=3),
    "tiered": TieredCompactionOptions(num_tiers=3, min_merge_width=2),
    "leveled": LeveledCompactionOptions(
        level_size_multiplier=4, level0_file_num_compaction_trigger=2, max_levels=3, base_level_size_mb=0.004
    ),
}

WRITER_WRITES = 600
"""Writes in a writer's history; the parent kills the writer long before it gets through them."""

MAX_TRAPS = 400
"""A trap scenario with more fsyncs than this is broken (an endless loop of durable steps)."""


def make_options(spec: dict[str, Any]) -> LsmStorageOptions:
    """Day 6 options from a JSON-friendly spec: strategy name, WAL on or off, sizes."""
    return options_for_day(
        6,
        compaction=STRATEGIES[spec["strategy"]],
        enable_wal=spec.get("wal", True),
        target_sst_size=spec.get("target_sst_size", 512),
        block_size=spec.get("block_size", 128),
        num_memtable_limit=spec.get("num_memtable_limit", 2),
    )


def describe(spec: dict[str, Any]) -> str:
    return (
        f"{spec['strategy']} compaction, WAL {'on' if spec.get('wal', True) else 'off'}, "
        f"target_sst_size={spec.get('target_sst_size', 512)}, num_memtable_limit={spec.get('num_memtable_limit', 2)}"
    )


# ----------------------------------------------------------------------------- histories


def _value(rng: random.Random, write: int, part: int) -> bytes:
    """Mostly a value that names its write (so that prefixes differ), sometimes ``b""``."""
    if rng.random() < 0.05:
        return b""
    return b"w%d.%d:" % (write, part) + b"x" * rng.choice((0, 4, 12, 40, 90))


def history(seed: int, writes: int = WRITER_WRITES, sync_every: int = 10) -> list[Step]:
    """A seeded history: puts, deletes and batches over a few dozen keys, with syncs in between."""
    rng = random.Random(seed)
    keys = [b"key%03d" % i for i in range(40)]
    steps: list[Step] = []
    for write in range(writes):
        roll = rng.random()
        if roll < 0.15:
            steps.append(("delete", rng.choice(keys)))
        elif roll < 0.27:
            ops = [
                (rng.choice(keys), None if rng.random() < 0.25 else _value(rng, write, part))
                for part in range(rng.randint(2, 7))
            ]
            steps.append(("batch", ops))
        else:
            steps.append(("put", rng.choice(keys), _value(rng, write, 0)))
        if rng.random() < 1 / sync_every:
            steps.append(("sync",))
    return steps


def trap_histories(seed: int) -> tuple[list[Step], list[Step]]:
    """The base database's history, and the scenario run (and crashed) on top of it.

    The scenario has writes that are not synced when an automatic freeze comes,
    writes synced after it, a batch, a forced flush, a full compaction, and more
    writes: a crash at each of its fsyncs interrupts a different durable step.
    """
    rng = random.Random(seed)
    keys = [b"key%03d" % i for i in range(24)]

    def puts(count: int, size: int) -> list[Step]:
        return [("put", rng.choice(keys), b"%d:" % rng.randrange(10**6) + b"v" * size) for _ in range(count)]

    base = [*puts(12, 30), ("delete", keys[0]), ("sync",), ("flush",), *puts(4, 10)]
    scenario: list[Step] = [
        *puts(3, 20),
        ("sync",),
        *puts(9, 50),  # enough to freeze the memtable while its last writes are not synced
        ("sync",),
        ("batch", [(keys[1], b"batch-1"), (keys[2], None), (keys[3], b""), (keys[4], b"batch-4")]),
        ("flush",),
        *puts(2, 20),
        ("delete", keys[5]),
        ("compact",),
        *puts(2, 10),
    ]
    return base, scenario


def is_write(step: Step) -> bool:
    return step[0] in ("put", "delete", "batch")


def write_ops(step: Step) -> list[Op]:
    if step[0] == "put":
        return [(step[1], step[2])]
    if step[0] == "delete":
        return [(step[1], None)]
    return list(step[1])


def apply_step(db: Any, step: Step) -> None:
    kind = step[0]
    if kind == "put":
        db.put(step[1], step[2])
    elif kind == "delete":
        db.delete(step[1])
    elif kind == "batch":
        db.write_batch(step[1])
    elif kind == "sync":
        db.sync()
    elif kind == "flush":
        db.force_flush()
    elif kind == "compact":
        db.force_full_compaction()
    else:
        raise ValueError(f"unknown step {step!r}")


def model_after(steps: Sequence[Step], writes: int) -> dict[bytes, bytes]:
    """The key-value content after the first ``writes`` writes of ``steps``."""
    model: dict[bytes, bytes] = {}
    done = 0
    for step in steps:
        if not is_write(step):
            continue
        if done == writes:
            break
        done += 1
        apply_to_model(model, write_ops(step))
    return model


def matching_prefixes(steps: Sequence[Step], recovered: dict[bytes, bytes]) -> list[int]:
    """Every ``p`` such that the content after the first ``p`` writes equals ``recovered``.

    A batch counts as one write. Linear in the history: the set of keys on which
    the model and ``recovered`` disagree is kept up to date as the model grows.
    """
    model: dict[bytes, bytes] = {}
    differing = set(recovered)
    matches = [] if differing else [0]
    done = 0
    for step in steps:
        if not is_write(step):
            continue
        done += 1
        for key, value in write_ops(step):
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
            if model.get(key) == recovered.get(key):
                differing.discard(key)
            else:
                differing.add(key)
        if not differing:
            matches.append(done)
    return matches


def count_writes(steps: Sequence[Step]) -> int:
    return sum(1 for step in steps if is_write(step))


# ----------------------------------------------------------------------------- checks after a crash

ALLOWED_NAMES = ("MANIFEST", "LOCK")


def _file_id(name: str) -> tuple[int, str] | None:
    stem, dot, suffix = name.partition(".")
    if dot and suffix in ("sst", "wal") and len(stem) >= 5 and stem.isdigit():
        return int(stem), suffix
    return None


def _differences(want: dict[bytes, bytes], got: dict[bytes, bytes]) -> str:
    missing = sorted(k for k in want if k not in got)
    wrong = sorted(k for k in want if k in got and got[k] != want[k])
    extra = sorted(k for k in got if k not in want)
    parts = []
    if missing:
        parts.append(f"missing {show(missing)}")
    if wrong:
        parts.append(
            f"wrong values for {show(wrong)} (e.g. {show(wrong[0])}: {show(got[wrong[0]])}, "
            f"expected {show(want[wrong[0]])})"
        )
    if extra:
        parts.append(f"keys that should be absent {show(extra)}")
    return "; ".join(parts) or "no difference"


def check_recovered(directory: Path, spec: dict[str, Any], steps: Sequence[Step], synced: int, where: str) -> list[str]:
    """Reopen ``directory`` after a crash and list what is wrong, each problem naming ``where``.

    Checks: every synced write is there and the data equals the state after some
    prefix of the history; no file is left that no live table or memtable owns;
    ids continue after every id found on disk; a second reopen changes nothing.
    """
    from tinylsm.engine import LsmStorage

    options = make_options(spec)
    before = os.listdir(directory)
    highest = max((found[0] for name in before if (found := _file_id(name))), default=0)
    try:
        db = LsmStorage.open(directory, options)
    except Exception as error:
        return [f"{where}: reopening after the crash raised {type(error).__name__}: {error}"]
    problems: list[str] = []
    try:
        recovered = dict(db.scan())
        state = db.state
        prefixes = matching_prefixes(steps, recovered)
        if not prefixes or prefixes[-1] < synced:
            want = model_after(steps, synced)
            if prefixes:
                problems.append(
                    f"{where}: the recovered data is the state after {prefixes[-1]} writes, but {synced} "
                    f"writes had been synced (compared with that state: {_differences(want, recovered)})"
                )
            else:
                problems.append(
                    f"{where}: the recovered data is not the state after any prefix of the writes; compared "
                    f"with the {synced} synced writes: {_differences(want, recovered)}"
                )
        memtable_ids = {state.memtable.id, *(m.id for m in state.imm_memtables)}
        if state.memtable.id <= highest:
            problems.append(
                f"{where}: after the reopen the new memtable took id {state.memtable.id}, but a file with id "
                f"{highest} was on disk: ids must continue after the highest id seen"
            )
        after = sorted(os.listdir(directory))
        strays = [n for n in after if n not in ALLOWED_NAMES and _file_id(n) is None]
        ssts = {found[0] for n in after if (found := _file_id(n)) and found[1] == "sst"}
        wals = {found[0] for n in after if (found := _file_id(n)) and found[1] == "wal"}
        if strays:
            problems.append(f"{where}: files other than NNNNN.sst, NNNNN.wal, MANIFEST and LOCK remain: {strays}")
        if ssts != set(state.sstables):
            problems.append(
                f"{where}: SST files on disk {sorted(ssts)} differ from the tables of the recovered tree "
                f"{sorted(state.sstables)} (a stray table was kept, or a live one is missing)"
            )
        if not wals <= memtable_ids:
            problems.append(
                f"{where}: WAL files {sorted(wals - memtable_ids)} belong to no live memtable "
                f"(live: {sorted(memtable_ids)}); recovery must remove them"
            )
        shape = (state.l0_sstables, state.levels)
    finally:
        try:
            db.close()
        except Exception as error:
            problems.append(f"{where}: close() after the reopen raised {type(error).__name__}: {error}")
    if problems:
        return problems
    try:
        db = LsmStorage.open(directory, options)
    except Exception as error:
        return [f"{where}: a second reopen raised {type(error).__name__}: {error}"]
    try:
        again = dict(db.scan())
        if again != recovered:
            problems.append(f"{where}: a second reopen changed the data: {_differences(recovered, again)}")
        if options.enable_wal and (db.state.l0_sstables, db.state.levels) != shape:
            problems.append(
                f"{where}: a second reopen changed the tree from {show(shape)} to "
                f"{show((db.state.l0_sstables, db.state.levels))}"
            )
    finally:
        db.close()
    return problems


# ----------------------------------------------------------------------------- crash trials


def kill_spec(seed: int) -> dict[str, Any]:
    """The options of a writer trial: every strategy comes up as the seed varies."""
    rng = random.Random(seed * 7919 + 1)
    return {
        "strategy": ("leveled", "tiered", "simple", "none")[seed % 4],
        "wal": True,
        "target_sst_size": rng.choice((384, 640)),
        "num_memtable_limit": rng.choice((2, 3)),
    }


def _first_line(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[0]


def kill_trial(directory: Path, seed: int) -> list[str]:
    """Drive a writer in an engine process, SIGKILL it after a seeded number of syncs, reopen and check."""
    spec = kill_spec(seed)
    syncs_before_kill = random.Random(seed).randint(1, 4)
    where = f"seed {seed} ({describe(spec)}; killed after sync #{syncs_before_kill})"
    steps = history(seed)
    synced = syncs_seen = done = 0
    with engine_process() as engine:
        try:
            db = engine.module("tinylsm.engine").LsmStorage.open(directory, make_options(spec))
            for step in steps:
                apply_step(db, step)
                done += is_write(step)
                if step[0] == "sync":
                    # sync() returned: every write so far is acknowledged, as this process saw it
                    synced, syncs_seen = done, syncs_seen + 1
                    if syncs_seen >= syncs_before_kill:
                        break
        except Exception as error:
            return [f"{where}: the writer failed before it could be killed: {_first_line(error)}"]
        engine.kill()
    return check_recovered(directory, spec, steps, synced, where)


def _crash_run(
    engine: EngineProcess, directory: Path, spec: dict[str, Any], steps: list[Step], crash_at: int
) -> tuple[bool, int]:
    """Run ``steps`` in ``engine`` with the power cut at fsync ``crash_at``: (cut there, writes made durable).

    A run that reaches its end closes the database, and then the power is cut all the same.
    """
    power = engine.cut_power_at(directory, crash_at)
    synced = done = 0
    try:
        db = engine.module("tinylsm.engine").LsmStorage.open(directory, make_options(spec))
        for step in steps:
            apply_step(db, step)
            done += is_write(step)
            if step[0] in ("sync", "flush"):
                synced = done
        db.close()
    except PeerGone:
        if not power.was_cut():
            raise RuntimeError(f"the engine process ended by itself before its fsync #{crash_at}") from None
        return True, synced
    power.cut_now()
    return False, done


def trap_trials(root: Path, spec: dict[str, Any], seed: int) -> tuple[int, list[str]]:
    """Crash the scenario at each of its fsyncs in turn; return how many crashes ran, and the problems."""
    label = f"seed {seed} ({describe(spec)})"
    base_steps, steps = trap_histories(seed)
    try:
        base = _built(root / "base", spec, base_steps)
    except Exception as error:
        return 0, [f"{label}: building the base database failed: {_first_line(error)}"]
    return _cut_at_each_fsync(label, spec, steps, base_steps, _copies_of(base, root, "crash"))


def torn_tail_trials(root: Path, spec: dict[str, Any]) -> tuple[int, list[str]]:
    """Open a database whose newest WAL ends in a torn record, with the power cut at each fsync in turn.

    Recovery cuts the torn tail off and starts a new WAL: a cut between the two must
    not leave the torn log looking like an older one, which no torn tail may end.
    Returns how many crashes ran, and the problems.
    """
    label = f"a newest WAL ending in a torn record ({describe(spec)})"
    base_steps: list[Step] = [("put", b"a", b"1"), ("sync",)]
    try:
        base = _built(root / "base", spec, base_steps)
    except Exception as error:
        return 0, [f"{label}: building the base database failed: {_first_line(error)}"]
    with max(base.glob("*.wal")).open("ab") as log:
        log.write(b"\x05\x00\x00")  # the first bytes of a record header: the append the crash stopped
    steps: list[Step] = [("put", b"b", b"2"), ("sync",)]
    return _cut_at_each_fsync(label, spec, steps, base_steps, _copies_of(base, root, "torn"))


def _built(directory: Path, spec: dict[str, Any], steps: list[Step]) -> Path:
    """A database made by ``steps`` (by the engine graded) and closed."""
    from tinylsm.engine import LsmStorage

    db = LsmStorage.open(directory, make_options(spec))
    for step in steps:
        apply_step(db, step)
    db.close()
    return directory


def _copies_of(base: Path, root: Path, prefix: str) -> Callable[[int], Path]:
    def copy(crash_at: int) -> Path:
        directory = root / f"{prefix}{crash_at:03d}"
        shutil.copytree(base, directory)
        return directory

    return copy


def new_database_trials(root: Path, spec: dict[str, Any]) -> tuple[int, list[str]]:
    """Open a new database (an empty directory), write, sync and close it, with the power cut at each fsync in turn.

    The first open writes the database's first files: a cut between any two of them
    must leave a directory that the next open takes, empty or with the synced write.
    Returns how many crashes ran, and the problems.
    """
    label = f"a new database ({describe(spec)})"
    steps: list[Step] = [("put", b"key", b"value"), ("sync",)]

    def empty_directory(crash_at: int) -> Path:
        directory = root / f"new{crash_at:03d}"
        directory.mkdir(parents=True)
        return directory

    return _cut_at_each_fsync(label, spec, steps, [], empty_directory)


def _cut_at_each_fsync(
    label: str, spec: dict[str, Any], steps: list[Step], done_before: list[Step], directory_for: Callable[[int], Path]
) -> tuple[int, list[str]]:
    """Run ``steps`` with the power cut at fsync 1, 2, ... (each run in ``directory_for(k)``), then check each run.

    ``done_before`` made the directory's data before the run. The loop stops at the
    first run that ends without reaching its fsync; that run is cut after
    ``close()``. Returns how many runs were cut at an fsync, and the problems.
    """
    problems: list[str] = []
    for crash_at in range(1, MAX_TRAPS + 1):
        directory = directory_for(crash_at)
        with engine_process() as engine:
            try:
                crashed, synced = _crash_run(engine, directory, spec, steps, crash_at)
            except Exception as error:
                return crash_at - 1, [f"{label}: run {crash_at} failed with no crash: {_first_line(error)}"]
        where = f"{label}, power cut at fsync #{crash_at}" if crashed else f"{label}, power cut after close()"
        history = [*done_before, *steps]
        problems += check_recovered(directory, spec, history, count_writes(done_before) + synced, where)
        if not crashed:
            if crash_at == 1 and not problems:
                problems = [f"{label}: the scenario made no fsync at all, so no crash could be injected"]
            return crash_at - 1, problems
    return MAX_TRAPS, [f"{label}: more than {MAX_TRAPS} fsyncs; a loop?"]
