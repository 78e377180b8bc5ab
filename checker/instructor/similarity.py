"""``python -m checker similarity SUBMISSIONS --out DIR``: which submissions share code, module by module.

Every submission's task modules (the files ``--submission`` grades: the
non-test ``.py`` files of ``days/dayN/``) are compared with the module of the
same name in every other submission, and in the course's reference (named
``(reference)``, when the course has its sources: a submission copied from a
leaked or decompiled reference is a copy too), by winnowed fingerprints of their tokens
(the method MOSS uses, as the ``copydetect`` library implements it), and
statement by statement (``statements``: padding, reordering, renaming, loops
rewritten and strings rebuilt do not hide a copy from it). Names are normalised
before fingerprinting, so renaming variables does not hide a copy; comments and
docstrings do not count. The course's starter stubs are boilerplate: what a
student was given never counts as shared. A pair is reported when either
measure reaches the threshold over enough code.

``DIR`` receives:

* ``similarity.html``: copydetect's report, every pair at or above the
  threshold with the shared code highlighted side by side;
* ``similarity.csv``: the pairs reported (at or above the threshold, sharing at
  least ``MIN_TOKENS`` tokens), one row per pair of modules, the most similar
  first: ``first``, ``second`` (the submissions), ``module``, ``first_share`` and
  ``second_share`` (the fraction of each one's own code found in the other),
  ``tokens`` (how many tokens they share), ``statement_share`` (the larger
  fraction of a module's own statements found in the other) and
  ``statement_nodes`` (the size of the statements they share, in syntax-tree nodes).

A high share is a reason to read two submissions side by side, never a verdict.
``grade-many --similarity`` runs the same comparison into its gradebook folder.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from checker.common import DEFAULT_ROOT, EXIT_OK, EXIT_USAGE, UsageError, parse_arguments
from checker.grading.batch import class_submissions
from checker.grading.submission import student_files
from checker.instructor.statements import shared, statement_units

THRESHOLD = 0.5
"""The share of a module's own code, found in another's, from which a pair is reported."""

MIN_TOKENS = 200
"""The tokens (about 20 lines of code) two modules must share to be reported, whatever the share.

Measured on day 1's block module: a copy of the reference with renamed names
and no comments shares 100% of its code (2,158 tokens) with it; an independent
solution that passes every test shares 26% (555 tokens) with the reference, the
same interface in the same format. A student who has written three one-line
methods shares 67% of that little code with another solution, but only 109
tokens: a short method body between the given lines looks alike in everyone's
code, so a share of very little code says nothing.
"""

MIN_STATEMENT_NODES_PER_TOKEN = 0.5
"""A statement's syntax tree has about half as many nodes as it has tokens: ``--min-tokens``
applies to the statement measure at this rate (100 nodes for the default 200 tokens)."""

REFERENCE = "(reference)"
"""The name the course's reference goes by among the submissions compared."""

COPIED_TOKENS = 6
"""Where copydetect's list of the pairs in its report keeps the number of tokens they share."""

REPORT = "similarity.html"
PAIRS = "similarity.csv"


@dataclass(frozen=True)
class Match:
    """Two submissions' modules of the same name, and how much code they share."""

    first: str
    second: str
    module: str
    first_share: float
    second_share: float
    tokens: int
    statement_share: float = 0.0
    statement_nodes: int = 0

    @property
    def share(self) -> float:
        """The larger of the two shares: a copied module may sit inside a larger one."""
        return max(self.first_share, self.second_share)

    def reported(self, threshold: float, min_tokens: int) -> bool:
        """Whether either measure finds ``threshold`` or more of a module's code over enough code."""
        by_tokens = self.share >= threshold and self.tokens >= min_tokens
        by_statements = (
            self.statement_share >= threshold and self.statement_nodes >= min_tokens * MIN_STATEMENT_NODES_PER_TOKEN
        )
        return by_tokens or by_statements


def compare_modules(
    submissions: list[Path], course: Path, report: Path, threshold: float, min_tokens: int
) -> list[Match]:
    """Compare the task modules of every pair of ``submissions``; every pair of modules, the most similar first.

    Writes copydetect's HTML report of the pairs at or above ``threshold`` that
    share ``min_tokens`` or more to ``report`` (when there were modules to compare).
    """
    from copydetect import CopyDetector  # imported here: only this command needs it, and it loads matplotlib

    class Detector(CopyDetector):
        """copydetect's detector, whose report leaves out pairs that share too little code to mean anything."""

        def get_copied_code_list(self) -> list[list]:
            return [pair for pair in super().get_copied_code_list() if pair[COPIED_TOKENS] >= min_tokens]

    detector = Detector(same_name_only=True, display_t=threshold, autoopen=False, silent=True, out_file=str(report))
    for stub in student_files(course):
        detector.add_file(str(course / stub), "boilerplate")
    owners: dict[str, tuple[str, str]] = {}
    for stub in student_files(course):
        reference = course / "solutions" / stub.relative_to("days")
        if reference.is_file():
            owners[str(reference)] = (REFERENCE, stub.as_posix())
            detector.add_file(str(reference))
    for submission in submissions:
        for module in student_files(submission):
            path = str(submission / module)
            owners[path] = (submission.name, module.as_posix())
            detector.add_file(path)
    if len({name for name, _ in owners.values()}) < 2:
        return []
    detector.run()
    matches = []
    files = detector.test_files
    units = {path: statement_units(Path(path).read_text(errors="replace")) for path in files}
    stubs = {module: course / module for _, module in owners.values()}
    given = {module: statement_units(stub.read_text() if stub.is_file() else "") for module, stub in stubs.items()}
    for i, first in enumerate(files):
        for j in range(i + 1, len(files)):
            (first_name, module), (second_name, _) = owners[first], owners[files[j]]
            first_share, second_share = detector.similarity_matrix[i, j]
            if first_name == second_name or first_share < 0:  # the same student, or modules of different names
                continue
            tokens = int(detector.token_overlap_matrix[i, j])
            statements = shared(units[first], units[files[j]], given[module])
            matches.append(
                Match(
                    first_name,
                    second_name,
                    module,
                    float(first_share),
                    float(second_share),
                    tokens,
                    max(statements[:2]),
                    statements[2],
                )
            )
    detector.generate_html_report()
    return sorted(matches, key=lambda m: (-max(m.share, m.statement_share), m.first, m.second, m.module))


def write_pairs(matches: list[Match], out: Path, threshold: float, min_tokens: int) -> list[Match]:
    """Write the pairs at or above ``threshold`` sharing ``min_tokens`` or more to ``similarity.csv``; those pairs."""
    flagged = [match for match in matches if match.reported(threshold, min_tokens)]
    with (out / PAIRS).open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([field.name for field in fields(Match)])
        for match in flagged:
            row = astuple(match)
            writer.writerow(
                [
                    *row[:3],
                    f"{match.first_share:.3f}",
                    f"{match.second_share:.3f}",
                    match.tokens,
                    f"{match.statement_share:.3f}",
                    match.statement_nodes,
                ]
            )
    return flagged


def similarity_report(
    submissions: list[Path], course: Path, out: Path, threshold: float = THRESHOLD, min_tokens: int = MIN_TOKENS
) -> list[Match]:
    """Compare ``submissions`` and write the HTML report and the CSV of pairs into ``out``; the pairs reported."""
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT).unlink(missing_ok=True)  # never mistake an earlier run's report for this one's
    matches = compare_modules(submissions, course, out / REPORT, threshold, min_tokens)
    return write_pairs(matches, out, threshold, min_tokens)


def describe(flagged: list[Match], out: Path, threshold: float) -> list[str]:
    """What to print after a comparison: where the reports are and which pairs to read."""
    lines = [f"Similarity: {len(flagged)} pair(s) of modules share {threshold:.0%} or more of a module's code"]
    lines += [
        f"  {m.first} and {m.second}, {m.module}: {m.first_share:.0%} / {m.second_share:.0%} ({m.tokens} tokens), "
        f"statements {m.statement_share:.0%}"
        for m in flagged
    ]
    report = out / REPORT
    lines.append(f"Report: {report} and {out / PAIRS}" if report.exists() else f"Pairs: {out / PAIRS}")
    return lines


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--threshold`` and ``--min-tokens``, shared with ``grade-many``."""
    parser.add_argument(
        "--threshold",
        type=float,
        default=THRESHOLD,
        metavar="SHARE",
        help=f"report pairs sharing at least this fraction of a module's code (default {THRESHOLD})",
    )
    parser.add_argument(
        "--min-tokens",
        type=int,
        default=MIN_TOKENS,
        metavar="N",
        help=f"and sharing at least N tokens (default {MIN_TOKENS})",
    )


def option_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with ``--threshold`` or ``--min-tokens``, or ``None``."""
    if not 0 < args.threshold <= 1:
        return "--threshold is a fraction of a module's code, above 0 and at most 1"
    if args.min_tokens < 0:
        return "--min-tokens is a number of tokens, 0 or more"
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checker similarity",
        description="Compare the task modules of every pair of submissions in SUBMISSIONS (instructors).",
    )
    parser.add_argument("submissions", metavar="SUBMISSIONS", help="a folder holding one folder per submission")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the HTML report and the CSV go")
    add_options(parser)
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="the course whose stubs are the given code")
    return parser


def main(argv: list[str]) -> int:
    """Run ``python -m checker similarity``; the exit status (0 whatever was found, 2 for usage)."""
    args = parse_arguments(_parser(), argv)
    if isinstance(args, int):
        return args
    course = Path(args.root).resolve()
    try:
        submissions = class_submissions(course, Path(args.submissions), "similarity")
        problem = option_problem(args)
        if problem:
            raise UsageError(problem)
    except UsageError as error:
        print(f"checker: {error}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out).resolve()
    flagged = similarity_report([s.resolve() for s in submissions], course, out, args.threshold, args.min_tokens)
    for line in describe(flagged, out, args.threshold):
        print(line)
    return EXIT_OK
