"""Run day 6's crash trials many times in a row, each with a new seed, and report any flake.

The hidden crash tests run a few fixed seeds. A crash test that passes once can
still be flaky: a kill that lands at an unlucky moment, a race between a flush and
a sync. This script repeats the same trials with other seeds, as the proof that
the reference (or your engine) survives them run after run:

    python scripts/crash_soak.py                 # 20 runs, the reference solutions
    python scripts/crash_soak.py --runs 50 --impl student:6
    python scripts/crash_soak.py --runs 1 --first-seed 1007    # repeat one failing seed

Each run does two trials with seed ``first_seed + run``: a writer process killed
with SIGKILL at a seeded moment (then reopened and checked against every prefix
of its writes), and a power cut at every fsync of a scenario of writes, freezes,
flushes and compactions (each crashed copy reopened twice and checked). The
compaction strategy and the WAL setting rotate with the run. Failures print their
seed and keep their directory; the exit status is 1 if any run failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRASH_CHILD = ROOT / "days" / "day6" / "hidden" / "crash_child.py"
TRAP_SPECS = [
    {"strategy": "leveled", "wal": True},
    {"strategy": "tiered", "wal": False},
    {"strategy": "simple", "wal": True},
    {"strategy": "none", "wal": True},
    {"strategy": "tiered", "wal": True},
    {"strategy": "leveled", "wal": False},
]


def load_crash_child():
    """Import the hidden tests' crash helpers (after TINYLSM_IMPL is set: they import tinylsm)."""
    spec = importlib.util.spec_from_file_location("tinylsm_day6_crash_child", CRASH_CHILD)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs in a row (default 20)")
    parser.add_argument("--first-seed", type=int, default=1000, help="seed of the first run (default 1000)")
    parser.add_argument(
        "--impl", default="solutions", help="the composition to test, as TINYLSM_IMPL (default solutions)"
    )
    arguments = parser.parse_args()
    if not CRASH_CHILD.exists():
        print(f"{CRASH_CHILD.relative_to(ROOT)} is missing: the crash helpers ship with the hidden tests")
        return 2
    os.environ["TINYLSM_IMPL"] = arguments.impl
    sys.path.insert(0, str(ROOT))
    crash_child = load_crash_child()
    failed: list[int] = []
    started = time.monotonic()
    for run in range(arguments.runs):
        seed = arguments.first_seed + run
        spec = TRAP_SPECS[run % len(TRAP_SPECS)]
        scratch = Path(tempfile.mkdtemp(prefix=f"tinylsm-soak-{seed}-"))
        began = time.monotonic()
        problems = crash_child.kill_trial(scratch / "killed", seed)
        crashes, trap_problems = crash_child.trap_trials(scratch / "traps", spec, seed)
        problems += trap_problems
        took = time.monotonic() - began
        if problems:
            failed.append(seed)
            print(f"run {run + 1:3d}  seed {seed}  FLAKE  ({took:.1f} s; files kept in {scratch})")
            for problem in problems[:5]:
                print(f"      {problem}")
            print(f"      repeat: python scripts/crash_soak.py --runs 1 --first-seed {seed} --impl {arguments.impl}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
            print(
                f"run {run + 1:3d}  seed {seed}  ok     ({took:.1f} s; SIGKILL trial with "
                f"{crash_child.kill_spec(seed)['strategy']} compaction, {crashes} power cuts with "
                f"{crash_child.describe(spec)})"
            )
        sys.stdout.flush()
    total = time.monotonic() - started
    if failed:
        print(f"{len(failed)} of {arguments.runs} runs failed, seeds {failed} ({total:.0f} s)")
        return 1
    print(f"{arguments.runs} runs in a row without a flake ({total:.0f} s, implementation {arguments.impl})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
