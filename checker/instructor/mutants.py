"""The mutant catalogue: realistic student bugs, applied to the reference one at a time.

Each ``checker/instructor/mutants/dayN.toml`` lists mutants as exact text substitutions in one
module of ``solutions/dayN``:

    [[mutant]]
    name = "seek-lands-before-target"
    file = "block.py"
    bug = "seek_to_key stops on the last key below the target instead of the first key at or above it"
    find = "..."         # must occur exactly once in the module
    replace = "..."      # (find and replace may also be equal-length lists of such pairs)
    caught_by = "days/day1/hidden/test_block_hidden.py::test_..."   # optional

A mutant is *caught* when at least one of the day's tests (visible or hidden)
fails on it. ``caught_by`` names the test written to catch it: that test runs
first, alone, and only when it passes do the day's other tests run (a whole
day's run costs ten to a hundred times one test's). A mutant that does not apply, or that breaks compiling or importing
the module, is *invalid*: it proves nothing, and is never counted as caught.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from checker.common import EXIT_FAILED, EXIT_OK, Grading, UsageError, load_grading, selected_days
from checker.grading.run import TestRun, run_pytest

MUTANTS_DIR = Path(__file__).with_name("mutants")


@dataclass(frozen=True)
class Mutant:
    """One catalogued student bug."""

    day: int
    name: str
    file: str
    bug: str
    find: tuple[str, ...]
    replace: tuple[str, ...]
    caught_by: str = ""
    """The test that catches this bug, run before the day's others (empty: none is named)."""


@dataclass
class MutantResult:
    """What the day's tests made of one mutant."""

    mutant: Mutant
    status: str  # "caught", "missed" or "invalid"
    detail: str = ""
    caught_by: list[str] = field(default_factory=list)


def load_mutants(day: int, directory: Path = MUTANTS_DIR) -> list[Mutant]:
    """The catalogue of one day (empty when the day has none yet)."""
    path = directory / f"day{day}.toml"
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text())
    mutants = []
    for m in data.get("mutant", []):
        find, replace = m["find"], m["replace"]
        finds = (find,) if isinstance(find, str) else tuple(find)
        replaces = (replace,) if isinstance(replace, str) else tuple(replace)
        if len(finds) != len(replaces):
            raise ValueError(f"{path}: mutant {m['name']} has {len(finds)} finds but {len(replaces)} replaces")
        mutants.append(Mutant(day, m["name"], m["file"], m["bug"], finds, replaces, m.get("caught_by", "")))
    return mutants


def _apply(mutant: Mutant, day_dir: Path) -> str:
    """Apply ``mutant`` inside a copy of the day's solution; return an error, or ``""``."""
    module = day_dir / mutant.file
    if not module.exists():
        return f"{mutant.file} does not exist in solutions/day{mutant.day}"
    text = module.read_text()
    for find, replace in zip(mutant.find, mutant.replace, strict=True):
        occurrences = text.count(find)
        if occurrences != 1:
            return f"the text to replace occurs {occurrences} times in {mutant.file} (must be exactly once): {find!r}"
        text = text.replace(find, replace)
    module.write_text(text)
    return ""


def _import_error(root: Path, mutant: Mutant, day_dir: Path) -> str:
    """Compile and import every module of the mutated day; return the error, or ``""``."""
    modules = [p.stem for p in day_dir.glob("*.py")]
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module('tinylsm.' + m)"
    env = {**os.environ, "TINYLSM_IMPL": "solutions", "TINYLSM_DAY_DIRS": f"{mutant.day}={day_dir}"}
    completed = subprocess.run(
        [sys.executable, "-c", code, *modules], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    return completed.stderr.strip().splitlines()[-1] if completed.returncode else ""


def run_mutant(root: Path, mutant: Mutant, grading: Grading, *, find_all: bool = False) -> MutantResult:
    """Apply one mutant to a copy of the reference day and run that day's tests on it."""
    with tempfile.TemporaryDirectory(prefix="tinylsm-mutant-") as scratch:
        day_dir = Path(scratch) / f"day{mutant.day}"
        shutil.copytree(root / "solutions" / f"day{mutant.day}", day_dir)
        error = _apply(mutant, day_dir) or _import_error(root, mutant, day_dir)
        if error:
            return MutantResult(mutant, "invalid", error)
        # A mutant fails tests on purpose: their operation logs are of no use to anyone.
        day_dirs = f"{mutant.day}={day_dir}"
        env = {"TINYLSM_IMPL": "solutions", "TINYLSM_DAY_DIRS": day_dirs, "TINYLSM_REPLAY_DIR": scratch}

        def failing_tests(tests: str | None) -> tuple[TestRun, list[str]]:
            run = run_pytest(
                root,
                mutant.day,
                env,
                test_timeout=grading.test_timeout,
                stop_at_first_failure=not find_all,
                trusted_code=True,
                tests=tests,
            )
            failed = sorted(nodeid for nodeid, r in run.results.items() if r["outcome"] != "passed")
            if run.timed_out:
                failed.append("(the day's tests ran out of time)")
            return run, failed

        detail = ""
        if mutant.caught_by and not find_all:
            run, caught_by = failing_tests(mutant.caught_by)
            if caught_by and not run.collect_errors:
                return MutantResult(mutant, "caught", caught_by=caught_by)
            detail = f"its caught_by test, {mutant.caught_by}, does not catch it"
        run, caught_by = failing_tests(None)
    if run.collect_errors:
        return MutantResult(mutant, "invalid", "the tests could not be collected")
    return MutantResult(mutant, "caught" if caught_by else "missed", detail, caught_by=caught_by)


def command_mutants(args: argparse.Namespace) -> int:
    """Run ``python -m checker mutants``: apply each selected mutant alone and report which tests catch it."""
    root = Path(args.root).resolve()
    if not (root / "solutions").is_dir():
        raise UsageError("mutants are applied to the reference solutions, which this copy of the course does not have")
    grading = load_grading()
    mutants = [m for day in selected_days(args.day) for m in load_mutants(day.number)]
    if args.only:
        mutants = [m for m in mutants if m.name in args.only]
        if not mutants:
            raise UsageError(f"no mutant is named {', '.join(args.only)}")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda m: run_mutant(root, m, grading, find_all=args.all), mutants))
    for result in results:
        m = result.mutant
        print(f"day{m.day} {m.name}: {result.status.upper()} — {m.bug}")
        if result.detail:
            print(f"    {result.detail}")
        for nodeid in result.caught_by[: None if args.all else 1]:
            print(f"    caught by {nodeid}")
    caught = sum(r.status == "caught" for r in results)
    print(f"mutants caught: {caught}/{len(results)}")
    return EXIT_OK if caught == len(results) else EXIT_FAILED
