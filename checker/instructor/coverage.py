"""``python -m checker coverage``: how much of each day's reference its own tests reach.

A branch that no test of day N reaches is a branch where a student's bug costs
nothing on day N. This command measures, for every module of ``solutions/dayN``,
the branch coverage of day N's visible and hidden tests when day N's code is the
graded one and every other day is the reference (as ``student:N`` grades it).
It uses coverage.py in branch mode, and follows the engine processes that crash
tests start, so a branch reached only by a killed process counts too.

The day's reference is copied to a folder of its own, so that the figures count
the day's code only, however the other days use it. The tests run in one
process, as ``python -m checker mutants`` runs them: this is the instructor's own
code, and coverage.py has to see the engine where the tests run it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from checker.common import DEFAULT_ROOT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, Day, UsageError, selected_days

COVERAGE_RUN = (sys.executable, "-m", "coverage", "run")
PYTEST_ARGUMENTS = ("--hidden", "-q", "-p", "no:cacheprovider", "-p", "no:xdist")

FLOOR = 98.0
"""The branch coverage, in percent, that every module of every day must reach."""


@dataclass(frozen=True)
class ModuleCoverage:
    """What a day's tests reached of one module of its reference."""

    day: int
    module: str
    branches: int
    covered_branches: int
    statements: int
    covered_statements: int
    missing_branches: tuple[tuple[int, int], ...]
    missing_lines: tuple[int, ...]

    @property
    def branch_percent(self) -> float:
        """Covered branches over branches, in percent (100 for a module without a branch)."""
        return 100.0 * self.covered_branches / self.branches if self.branches else 100.0


def _settings(day_dir: Path, data_file: Path) -> str:
    return "\n".join(
        [
            "[run]",
            "branch = true",
            "parallel = true",
            f"data_file = {data_file}",
            f"include = {day_dir}{os.sep}*",
            "patch = subprocess",
            "",
        ]
    )


def measure_day(root: Path, day: Day) -> list[ModuleCoverage]:
    """Run day ``day``'s visible and hidden tests under coverage.py; the coverage of each of its modules.

    Raises ``RuntimeError`` when the tests do not all pass on the reference: a
    figure measured on a failing run would say nothing about the tests.
    """
    with tempfile.TemporaryDirectory(prefix="tinylsm-coverage-") as scratch:
        work = Path(scratch)
        day_dir = work / f"day{day.number}"
        shutil.copytree(root / "solutions" / f"day{day.number}", day_dir)
        settings = work / "coveragerc"
        settings.write_text(_settings(day_dir, work / ".coverage"))
        env = {
            **os.environ,
            "TINYLSM_IMPL": "solutions",
            "TINYLSM_DAY_DIRS": f"{day.number}={day_dir}",
            "TINYLSM_REPLAY_DIR": scratch,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        run = subprocess.run(
            [*COVERAGE_RUN, f"--rcfile={settings}", "-m", "pytest", *PYTEST_ARGUMENTS, f"days/day{day.number}"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-15:])
            raise RuntimeError(f"day {day.number}'s tests do not pass on the reference:\n{tail}")
        report = work / "coverage.json"
        for command in (["combine", "-q"], ["json", "-q", "-o", str(report)]):
            subprocess.run(
                [sys.executable, "-m", "coverage", *command, f"--rcfile={settings}"],
                cwd=work,
                env=env,
                check=True,
                capture_output=True,
            )
        files = json.loads(report.read_text())["files"]
    return [_module(day.number, Path(name).name, data) for name, data in sorted(files.items())]


def _module(day: int, module: str, data: dict) -> ModuleCoverage:
    summary = data["summary"]
    return ModuleCoverage(
        day=day,
        module=module,
        branches=summary["num_branches"],
        covered_branches=summary["covered_branches"],
        statements=summary["num_statements"],
        covered_statements=summary["covered_lines"],
        missing_branches=tuple(tuple(pair) for pair in data.get("missing_branches", [])),
        missing_lines=tuple(data.get("missing_lines", [])),
    )


def _arrow(branch: tuple[int, int]) -> str:
    source, target = branch
    return f"{source}->{'exit' if target < 0 else target}"


def format_table(modules: list[ModuleCoverage], floor: float) -> list[str]:
    """The report: one line per module, with what is missing, and ✗ under the floor."""
    lines = [f"{'module':<26} {'branches':>10} {'branch %':>9} {'lines %':>8}  missing"]
    for m in modules:
        lines_percent = 100.0 * m.covered_statements / m.statements if m.statements else 100.0
        mark = "✓" if m.branch_percent >= floor else "✗"
        missing = ", ".join([_arrow(b) for b in m.missing_branches] + [str(n) for n in m.missing_lines])
        name = f"day{m.day}/{m.module}"
        lines.append(
            f"{name:<26} {m.covered_branches:>4}/{m.branches:<5} {m.branch_percent:>8.1f}% {lines_percent:>7.1f}%"
            f"  {mark} {missing}".rstrip()
        )
    return lines


def main(argv: list[str]) -> int:
    """Run ``python -m checker coverage``; 0 when every module reaches the floor."""
    parser = argparse.ArgumentParser(
        prog="python -m checker coverage",
        description="Branch coverage of each day's reference by that day's visible and hidden tests (instructors).",
    )
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="the course repository")
    parser.add_argument("--day", type=int, action="append", help="only this day (repeatable)")
    parser.add_argument(
        "--floor", type=float, default=FLOOR, help=f"the branch coverage every module must reach (default {FLOOR:g})"
    )
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    try:
        if not (root / "solutions").is_dir():
            raise UsageError("coverage is measured on the reference, which this copy of the course does not have")
        days = selected_days(args.day)
    except UsageError as error:
        print(f"checker: {error}", file=sys.stderr)
        return EXIT_USAGE
    modules: list[ModuleCoverage] = []
    for day in days:
        try:
            modules += measure_day(root, day)
        except RuntimeError as error:
            print(f"checker: {error}", file=sys.stderr)
            return EXIT_FAILED
    print("\n".join(format_table(modules, args.floor)))
    below = [m for m in modules if m.branch_percent < args.floor]
    print(f"modules at or above {args.floor:g}% branch coverage: {len(modules) - len(below)}/{len(modules)}")
    return EXIT_OK if not below else EXIT_FAILED
