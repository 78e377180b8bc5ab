"""``python -m checker``: grade the course, run the mutant catalogue, regenerate stubs.

Grading, mutants and stubs are defined here. Every other command lives in a
module of its own (``checker/<command>.py`` with a ``main(argv) -> int``), found
through ``TOOLS``, so that each tool can be read on its own.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from checker.common import (
    DEFAULT_ROOT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    load_grading,
    parse_arguments,
    selected_days,
)
from checker.grading.command import command_grade
from checker.mutants import load_mutants, run_mutant
from checker.stubgen import outdated_stubs, write_stubs

TOOLS = {
    "simulate": ("simulate", "the compaction simulator (no disk)"),
    "shell": ("shell", "an interactive shell on the composed engine"),
    "inspect": ("inspect", "decode an .sst, .wal or MANIFEST file for humans"),
    "export": ("export", "write a student release or a Gradescope autograder bundle (instructors)"),
    "grade-many": ("grading.batch", "grade every submission in a folder, in parallel, into a gradebook (instructors)"),
    "replay": ("replay", "re-run an operation log on the composed engine and a dict; the first divergence"),
    "bench": ("bench", "benchmark the engine against baselines measured in the same run"),
}


def command_mutants(args: argparse.Namespace) -> int:
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


def command_stubs(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    if args.check:
        stale = outdated_stubs(root)
        for path in stale:
            print(f"out of date: {path.relative_to(root)}")
        print("stubs match the solutions" if not stale else "run: python -m checker stubs")
        return EXIT_FAILED if stale else EXIT_OK
    for path in write_stubs(root):
        print(f"wrote {path.relative_to(root)}")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m checker", description="Grade the TinyLSM course.")
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="the course repository to grade")
    parser.add_argument("--day", type=int, action="append", help="grade only this day (repeatable)")
    parser.add_argument("--impl", choices=["student", "solutions"], default="student", help="whose code to grade")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--gradescope", metavar="FILE", help="also write Gradescope's results.json")
    parser.add_argument(
        "--submission", metavar="DIR", help="grade the code in DIR (a copy of a student's repository) on this course"
    )
    parser.add_argument("--no-compose", action="store_true", help="skip the composed-engine scenario")
    parser.add_argument("--test-timeout", type=int, metavar="S", help="seconds per test (default: course.toml)")
    parser.add_argument("--day-time-limit", type=int, metavar="S", help="seconds per day (default: course.toml)")
    parser.set_defaults(handler=command_grade)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    mutants = commands.add_parser("mutants", help="apply each catalogued student bug and check the tests catch it")
    mutants.add_argument("--day", type=int, action="append", help="only this day's mutants (repeatable)")
    mutants.add_argument("--only", action="append", metavar="NAME", help="only the mutant with this name")
    mutants.add_argument("--all", action="store_true", help="list every test that catches each mutant")
    mutants.add_argument("-j", "--jobs", type=int, default=1, help="mutants to run at once")
    mutants.set_defaults(handler=command_mutants)

    stubs = commands.add_parser("stubs", help="regenerate days/ stubs from solutions/ (instructors)")
    stubs.add_argument("--check", action="store_true", help="only report stubs that are out of date")
    stubs.set_defaults(handler=command_stubs)

    for name, (_, summary) in TOOLS.items():
        commands.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in TOOLS:
        module = importlib.import_module(f"checker.{TOOLS[argv[0]][0]}")
        return module.main(argv[1:])
    parser = _parser()
    args = parse_arguments(parser, argv)
    if isinstance(args, int):
        return args
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"checker: {error}", file=sys.stderr)
        return EXIT_USAGE
