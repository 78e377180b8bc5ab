"""Day 6 crash helpers: the child processes of the hidden crash tests, and the checks after a crash.

Not a test module (pytest collects only ``test_*.py``). The hidden tests import it
by path, and run it as a script in fresh interpreters:

    python crash_child.py writer DIRECTORY SPEC SEED
        Write a seeded history of puts, deletes and batches, with a sync now and
        then; print ``synced N`` after each sync (N = writes so far), then wait on
        stdin to be killed. The parent reads those lines and kills it with SIGKILL.

    python crash_child.py traps ROOT SPEC SEED
        Build a base database, then for k = 1, 2, ... fork a process that copies
        it, replaces ``os.fsync`` by a trap, and runs a fixed scenario (writes,
        syncs, freezes, flushes, compactions, close). At its k-th fsync the trap
        simulates a power cut: every file loses what was written to it after its
        last completed fsync, and the process kills itself with SIGKILL. The loop
        stops when a run finishes without reaching its k-th fsync. Prints JSON.

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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import tinylsm
from tinylsm.options import (
    LeveledCompactionOptions,
    LsmStorageOptions,
    NoCompaction,
    SimpleLeveledCompactionOptions,
    TieredCompactionOptions,
)
from tinylsm.testkit import options_for_day, show

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

CHILD_TIMEOUT = 60.0
"""Seconds a child may take to reach the point where the parent kills it (a hang is a failure)."""

WRITER_WRITES = 600
"""Writes in a writer's history; the parent kills the writer long before it gets through them."""

MAX_TRAPS = 400
"""A trap scenario with more fsyncs than this is broken (an endless loop of durable steps)."""

PARALLEL_CHECKS = 8
"""Crash runs, and then checks of crashed directories, run at once (each mostly waits for I/O)."""


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
        for key, value in write_ops(step):
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
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


# ----------------------------------------------------------------------------- running children


def child_environment() -> dict[str, str]:
    """This process's environment (``TINYLSM_IMPL`` and the rest), with the course root importable."""
    root = str(Path(tinylsm.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def _lines(stream: Any, deadline: float) -> Iterator[str]:
    """The lines a child prints, until it closes its output; a silent child past ``deadline`` stops it."""
    fd = stream.fileno()
    pending = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the child printed nothing for too long")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode(errors="replace")


def _last_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def kill_spec(seed: int) -> dict[str, Any]:
    """The options of a writer trial: every strategy comes up as the seed varies."""
    rng = random.Random(seed * 7919 + 1)
    return {
        "strategy": ("leveled", "tiered", "simple", "none")[seed % 4],
        "wal": True,
        "target_sst_size": rng.choice((384, 640)),
        "num_memtable_limit": rng.choice((2, 3)),
    }


def kill_trial(directory: Path, seed: int) -> list[str]:
    """Run a writer, SIGKILL it after a seeded number of syncs, reopen and check; return the problems."""
    spec = kill_spec(seed)
    syncs_before_kill = random.Random(seed).randint(1, 4)
    where = f"seed {seed} ({describe(spec)}; killed after sync #{syncs_before_kill})"
    command = [sys.executable, __file__, "writer", str(directory), json.dumps(spec), str(seed)]
    child = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_environment(),
    )
    synced, syncs_seen, hung, reached = 0, 0, False, False
    try:
        for line in _lines(child.stdout, time.monotonic() + CHILD_TIMEOUT):
            word, _, number = line.partition(" ")
            if word == "synced":
                synced, syncs_seen = int(number), syncs_seen + 1
            if syncs_seen >= syncs_before_kill or word == "done":
                reached = True
                break
    except TimeoutError:
        hung = True
    finally:
        if reached or hung:
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=CHILD_TIMEOUT)
        stderr = child.stderr.read().decode(errors="replace")
        child.stdin.close()
        child.stdout.close()
        child.stderr.close()
    if hung:
        return [f"{where}: the writer printed nothing for {CHILD_TIMEOUT:.0f} s (a hang?)"]
    if not reached or child.returncode != -signal.SIGKILL or syncs_seen == 0:
        return [
            f"{where}: the writer failed before it could be killed (exit status {child.returncode}): "
            f"{_last_error_line(stderr)}"
        ]
    return check_recovered(directory, spec, history(seed), synced, where)


def writer_main(directory: str, spec_json: str, seed: str) -> None:
    from tinylsm.engine import LsmStorage

    steps = history(int(seed))
    db = LsmStorage.open(directory, make_options(json.loads(spec_json)))
    done = 0
    for step in steps:
        apply_step(db, step)
        done += is_write(step)
        if step[0] == "sync":
            print(f"synced {done}", flush=True)
    print(f"done {done}", flush=True)
    sys.stdin.read()  # the parent kills this process; it never closes the database


# ----------------------------------------------------------------------------- fsync traps


def _install_trap(directory: Path, crash_at: int) -> None:
    """Replace ``os.fsync``: record what each fsync made durable, and cut the power at call ``crash_at``."""
    synced_sizes: dict[int, int] = {}
    present_before = {entry.inode() for entry in os.scandir(directory)}
    calls = 0

    def power_cut() -> None:
        for entry in os.scandir(directory):
            if not entry.is_file():
                continue
            size = entry.stat().st_size
            kept = synced_sizes.get(entry.inode(), None if entry.inode() in present_before else 0)
            if kept is not None and size > kept:
                os.truncate(entry.path, kept)
        os.kill(os.getpid(), signal.SIGKILL)

    def trapped_fsync(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == crash_at:
            power_cut()
        # The power-cut simulation decides what survives, so the disk's own fsync would only
        # cost time here: record the size this fsync makes durable instead.
        status = os.fstat(fd)
        if stat.S_ISREG(status.st_mode):
            synced_sizes[status.st_ino] = status.st_size

    os.fsync = trapped_fsync


def _crash_run(directory: Path, progress_path: Path, spec: dict[str, Any], steps: list[Step], crash_at: int) -> None:
    """In a forked process: run ``steps`` with the trap set at fsync ``crash_at``; never returns."""
    progress = os.open(progress_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        from tinylsm.engine import LsmStorage

        _install_trap(directory, crash_at)
        db = LsmStorage.open(directory, make_options(spec))
        done = 0
        for step in steps:
            apply_step(db, step)
            done += is_write(step)
            if step[0] in ("sync", "flush"):
                os.write(progress, b"synced %d\n" % done)
        db.close()
        os.write(progress, b"synced %d\nfinished\n" % done)
        os._exit(0)
    except BaseException as error:
        line = "".join(traceback.format_exception_only(type(error), error)).strip().replace("\n", " ")
        os.write(progress, f"error {line}\n".encode())
        os._exit(1)


def _check_in_parallel(jobs: list[tuple[Path, int, str]], spec: dict[str, Any], steps: list[Step]) -> list[str]:
    """Run ``check_recovered`` on each crashed directory, in forked processes, a few at a time.

    Each check reopens a database twice, and a reopen waits for several real fsyncs:
    checking in parallel lets those waits overlap. Each process reports through a file.
    """
    running: dict[int, Path] = {}
    reports: list[Path] = []
    for directory, synced, where in jobs:
        if len(running) >= PARALLEL_CHECKS:
            pid, _ = os.wait()
            running.pop(pid, None)
        report = directory.with_suffix(".check")
        reports.append(report)
        pid = os.fork()
        if pid == 0:
            try:
                problems = check_recovered(directory, spec, steps, synced, where)
            except BaseException as error:
                problems = [f"{where}: checking raised {type(error).__name__}: {error}"]
            report.write_text(json.dumps(problems))
            os._exit(0)
        running[pid] = report
    while running:
        pid, _ = os.wait()
        running.pop(pid, None)
    problems: list[str] = []
    for report, (_, _, where) in zip(reports, jobs, strict=True):
        if not report.exists():
            problems.append(f"{where}: the check of this crash died without reporting")
        else:
            problems += json.loads(report.read_text())
    return problems


def traps_main(root: str, spec_json: str, seed: str) -> None:
    """Crash the scenario at fsync 1, 2, ... until a run finishes; check every crash; print a JSON report."""
    from tinylsm.engine import LsmStorage

    spec = json.loads(spec_json)
    label = f"seed {seed} ({describe(spec)})"
    base_steps, steps = trap_histories(int(seed))
    root_path = Path(root)
    base = root_path / "base"
    try:
        db = LsmStorage.open(base, make_options(spec))
        for step in base_steps:
            apply_step(db, step)
        db.close()
    except BaseException as error:
        line = "".join(traceback.format_exception_only(type(error), error)).strip()
        print(json.dumps({"crashes": 0, "problems": [f"{label}: building the base database failed: {line}"]}))
        return
    base_writes = count_writes(base_steps)
    jobs: list[tuple[Path, int, str]] = []
    first = 1
    while True:  # crash runs, a few at a time, until one finishes before its trap fires
        if first > MAX_TRAPS:
            print(json.dumps({"crashes": 0, "problems": [f"{label}: more than {MAX_TRAPS} fsyncs; a loop?"]}))
            return
        runs: dict[int, int] = {}
        for crash_at in range(first, first + PARALLEL_CHECKS):
            directory = root_path / f"crash{crash_at:03d}"
            shutil.copytree(base, directory)
            pid = os.fork()
            if pid == 0:
                _crash_run(directory, directory.with_suffix(".progress"), spec, steps, crash_at)
            runs[pid] = crash_at
        statuses: dict[int, int] = {}
        while runs:
            pid, status = os.wait()
            if pid in runs:
                statuses[runs.pop(pid)] = status
        for crash_at in sorted(statuses):
            status = statuses[crash_at]
            directory = root_path / f"crash{crash_at:03d}"
            progress = directory.with_suffix(".progress")
            lines = progress.read_text().splitlines() if progress.exists() else []
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                where = f"{label}, power cut at fsync #{crash_at}"
                jobs.append((directory, base_writes + synced_writes(lines), where))
                continue
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                break
            errors = [line[len("error ") :] for line in lines if line.startswith("error ")]
            error = errors[0] if errors else f"wait status {status}"
            print(json.dumps({"crashes": 0, "problems": [f"{label}: run {crash_at} failed with no crash: {error}"]}))
            return
        else:
            first += PARALLEL_CHECKS
            continue
        break
    problems = _check_in_parallel(jobs, spec, [*base_steps, *steps])
    print(json.dumps({"crashes": len(jobs), "problems": problems}))


def synced_writes(lines: list[str]) -> int:
    """The writes a crashed run had made durable: the last ``synced N`` it reported (0 if none)."""
    counts = [int(line.split()[1]) for line in lines if line.startswith("synced ")]
    return counts[-1] if counts else 0


def trap_trials(root: Path, spec: dict[str, Any], seed: int) -> tuple[int, list[str]]:
    """Crash the scenario at each of its fsyncs in turn; return how many crashes ran, and the problems."""
    label = f"seed {seed} ({describe(spec)})"
    command = [sys.executable, __file__, "traps", str(root), json.dumps(spec), str(seed)]
    try:
        completed = subprocess.run(
            command, env=child_environment(), capture_output=True, text=True, timeout=CHILD_TIMEOUT * 4, check=False
        )
    except subprocess.TimeoutExpired:
        return 0, [f"{label}: the crash driver did not finish within {CHILD_TIMEOUT * 4:.0f} s (a hang?)"]
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        return 0, [f"{label}: the crash driver failed: {_last_error_line(completed.stderr)}"]
    report = json.loads(lines[-1])
    problems = report["problems"]
    if report["crashes"] == 0 and not problems:
        problems = [f"{label}: the scenario made no fsync at all, so no crash could be injected"]
    return report["crashes"], problems


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "writer":
        writer_main(*arguments)
    elif command == "traps":
        traps_main(*arguments)
    else:
        raise SystemExit(f"unknown command {command!r}")
