"""``python -m checker``: the argument parser and the table of commands, nothing else.

Each command lives in the package of its job and is imported only when it runs,
so that ``python -m checker shell`` never loads the grader and a broken module
breaks only its own command. Grading, ``mutants`` and ``stubs`` share this
parser (they take ``--root`` and ``--day``); every other command parses its own
arguments in ``main(argv) -> int``.

A command is listed only where its module is: a student release leaves the
instructors' modules out, so its ``--help`` shows the student's commands only, and
naming a missing command says that it is not part of the release.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tomllib
from collections.abc import Callable

from checker.common import DEFAULT_ROOT, EXIT_USAGE, UsageError, parse_arguments

TOOLS = {
    "simulate": ("checker.tools.simulate", "the compaction simulator (no disk)"),
    "shell": ("checker.tools.shell", "an interactive shell on the composed engine"),
    "inspect": ("checker.tools.inspect", "decode an .sst, .wal or MANIFEST file for humans"),
    "export": (
        "checker.instructor.export",
        "write a student release, a GitHub Classroom template or a Gradescope autograder bundle (instructors)",
    ),
    "grade-many": (
        "checker.grading.batch",
        "grade every submission in a folder, in parallel, into a gradebook (instructors)",
    ),
    "similarity": (
        "checker.instructor.similarity",
        "compare the code of every pair of submissions in a folder; an HTML report and a CSV (instructors)",
    ),
    "coverage": (
        "checker.instructor.coverage",
        "branch coverage of each day's reference by that day's tests, module by module (instructors)",
    ),
    "replay": (
        "checker.tools.replay",
        "re-run an operation log on the composed engine and a dict; the first divergence",
    ),
    "graded": ("checker.instructor.graded", "regenerate the book's lists of what the grader checks (instructors)"),
    "bench": ("checker.benchmarks.command", "benchmark the engine against baselines measured in the same run"),
}
"""Commands with their own parser: name -> (module with ``main(argv)``, one-line help)."""

GRADE = "checker.grading.command:command_grade"
MUTANTS = "checker.instructor.mutants:command_mutants"
STUBS = "checker.instructor.stubgen:command_stubs"


def _present(module: str) -> bool:
    """Whether this copy of the course has ``module`` (a student release leaves the instructors' out).

    Looked for as a file of this course (source or compiled, module or package), not through the
    import system, which may know other copies of the course.
    """
    base = DEFAULT_ROOT.joinpath(*module.split("."))
    candidates = (base.with_suffix(".py"), base.with_suffix(".pyc"), base / "__init__.py", base / "__init__.pyc")
    return any(path.is_file() for path in candidates)


def _import_tool(name: str):
    """The module of tool ``name``; a compiled module that this Python cannot run is a usage error."""
    try:
        return importlib.import_module(TOOLS[name][0])
    except ImportError as error:
        if "bad magic number" not in str(error):
            raise
        try:
            wanted = "Python " + tomllib.loads((DEFAULT_ROOT / "solutions" / "reference.toml").read_text())["python"]
        except (OSError, ValueError, KeyError, TypeError):
            wanted = "the version of Python that the README names"
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        raise UsageError(
            f"{name} is compiled in this release for {wanted}, and this is Python {running}, which cannot run it: "
            f"use {wanted} for this course (a new .venv made with it)"
        ) from None


def _handler(target: str) -> Callable[[argparse.Namespace], int]:
    """The function named ``module:function``, imported now."""
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


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
    parser.add_argument(
        "--without-landlock",
        action="store_true",
        help="grade a submission without Landlock, where its code could forge its grade (trusted code only)",
    )
    parser.add_argument("--no-compose", action="store_true", help="skip the composed-engine scenario")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="list every failing test with its message, not a line per task"
    )
    parser.add_argument("--test-timeout", type=int, metavar="S", help="seconds per test (default: course.toml)")
    parser.add_argument("--day-time-limit", type=int, metavar="S", help="seconds per day (default: course.toml)")
    parser.add_argument(
        "--disk-limit-mb", type=int, metavar="MB", help="disk a day's graded run may fill (default: course.toml)"
    )
    parser.set_defaults(handler=GRADE)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    if _present(MUTANTS.split(":")[0]):
        _add_mutants(commands)
    if _present(STUBS.split(":")[0]):
        stubs_help = "regenerate days/ stubs from solutions/ (instructors)"
        stubs = commands.add_parser("stubs", help=stubs_help, description=stubs_help[0].upper() + stubs_help[1:] + ".")
        stubs.add_argument("--check", action="store_true", help="only report stubs that are out of date")
        stubs.set_defaults(handler=STUBS)

    for name, (module, summary) in TOOLS.items():
        if _present(module):
            commands.add_parser(name, help=summary, add_help=False)
    return parser


def _add_mutants(commands: argparse._SubParsersAction) -> None:
    mutants_help = "apply each catalogued student bug and check the tests catch it"
    mutants = commands.add_parser(
        "mutants", help=mutants_help, description=mutants_help[0].upper() + mutants_help[1:] + "."
    )
    mutants.add_argument("--day", type=int, action="append", help="only this day's mutants (repeatable)")
    mutants.add_argument("--only", action="append", metavar="NAME", help="only the mutant with this name")
    mutants.add_argument("--all", action="store_true", help="list every test that catches each mutant")
    mutants.add_argument("-j", "--jobs", type=int, default=1, help="mutants to run at once")
    mutants.set_defaults(handler=MUTANTS)


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m checker`` with ``argv``; the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    commands = {**{name: module for name, (module, _) in TOOLS.items()}, "mutants": MUTANTS, "stubs": STUBS}
    if argv and argv[0] in commands and not _present(commands[argv[0]].split(":")[0]):
        print(f"checker: {argv[0]} is not part of this student release", file=sys.stderr)
        return EXIT_USAGE
    try:
        if argv and argv[0] in TOOLS:
            return _import_tool(argv[0]).main(argv[1:])
        parser = _parser()
        args = parse_arguments(parser, argv)
        if isinstance(args, int):
            return args
        return _handler(args.handler)(args)
    except UsageError as error:
        print(f"checker: {error}", file=sys.stderr)
        return EXIT_USAGE
