"""``python -m checker export``: a student release, a GitHub Classroom template, or a Gradescope autograder bundle.

    python -m checker export student DIR           the course as a student gets it
        [--reference bytecode|source|none] [--reveal 1-3]
    python -m checker export classroom DIR         the release, graded by GitHub Classroom on every push
    python -m checker export autograder FILE.zip   what Gradescope runs to grade a submission

A **student release** holds what a student needs and nothing that gives the
grading away: the README, licence, ``pyproject.toml``, ``conftest.py``, the core
(``tinylsm/``), the checker (without the mutant catalogue), the days with their
stubs and visible tests (without ``hidden/``), the book's sources and the
notebooks; and the reference, compiled to bytecode by default, so that
``student:N`` works as in the course (``checker.instructor.reference``: also as
source, or left out, and ``--reveal`` days as source). The reference's source,
the instructors' commands (``checker/instructor/``, ``grade-many``), the course's
own test suite, CI and the instructors' pages stay out; so does every part of a
Markdown page between ``<!-- instructors-only -->`` and
``<!-- end instructors-only -->`` (the README's commands for the course's tests,
the book's instructor section), and a link to a page that stays out is rewritten
as plain text. A region between ``<!-- release: NAME -->`` and
``<!-- end release -->`` is replaced with what is true of the release's reference
(the README's Python version, what ``student:N`` uses). The checker of a release
grades the visible tests and says that the hidden ones run at grading; its
``--help`` lists the student's commands only.

A **GitHub Classroom template** is a student release with the autograding
workflow of ``checker/instructor/classroom.py`` in ``.github/workflows/``.

An **autograder bundle** is a zip whose root is what Gradescope unpacks into
``/autograder/source``: the course as the grader needs it (with the solutions
and the hidden tests), ``setup.sh`` (installs the course and its pinned
dependencies from PyPI, once per image) and ``run_autograder`` (per submission:
takes the student's code from ``/autograder/submission``, grades it on the
pristine course and always writes ``/autograder/results/results.json``). Choose a
Gradescope base image with Python 3.11 or newer (e.g. Ubuntu 24.04).
``run_autograder`` reads these variables:

* ``AUTOGRADER_ROOT``: the autograder's folder (default ``/autograder``);
* ``TINYLSM_GRADE_DAYS``: grade only these days, e.g. ``1`` or ``1,3`` (default: every day);
* ``TINYLSM_PYTHON``: the interpreter when ``setup.sh`` made no virtual environment
  (default ``python3``);
* ``TINYLSM_WITHOUT_LANDLOCK``: set, grade even on a kernel without Landlock (where a
  submission could forge its grade; see the instructor guide).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

from checker.common import DEFAULT_ROOT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, instructor_only, parse_arguments
from checker.grading.submission import COURSE_PARTS
from checker.instructor.classroom import write_workflow
from checker.instructor.reference import (
    KINDS,
    PYTHON,
    Reference,
    describe,
    fill_regions,
    parse_days,
    pin_python,
    reference_days,
    ship_inspector,
    without_inspector,
    write_reference,
)

RELEASE_PARTS = (
    "README.md",
    "LICENSE",
    "pyproject.toml",
    "conftest.py",
    ".gitignore",
    "tinylsm",
    "checker",
    "days",
    "book",
    "notebooks",
)
"""What a student release takes from the course (parts the course lacks are skipped)."""

RELEASE_LEFT_OUT = (
    "days/*/hidden",
    "checker/instructor",
    "checker/grading/batch.py",
    "checker/grading/gradebook.py",
    "book/src/instructors.md",
)
"""What stays out from inside the release's parts: the hidden tests, the instructors' commands (with the
mutant catalogue; ``grade-many`` and its gradebook), the instructor guide."""

INSTRUCTORS_ONLY = re.compile(
    r"^<!-- instructors-only -->\n.*?^<!-- end instructors-only -->\n", re.MULTILINE | re.DOTALL
)
"""A region of a Markdown page that only instructors' copies of the course keep."""

AUTOGRADER_PARTS = (*COURSE_PARTS, "README.md", "LICENSE")
"""What the autograder bundles: what grading needs, and the files ``pip install`` reads."""

GENERATED = (
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".hypothesis",
    ".ruff_cache",
    "*.egg-info",
    ".ipynb_checkpoints",
    ".DS_Store",
    "*.sst",
    "*.wal",
    "book/book",
)
"""Caches and build output, never exported (a pattern with a ``/`` matches a path from the course root)."""

MARKDOWN_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<target>[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")
SOLUTION_PATH = re.compile(r"solutions/day\d")
CODE = re.compile(r"^```.*?^```|`[^`\n]*`", re.MULTILINE | re.DOTALL)
"""Code blocks and inline code in Markdown, where ``a[i](b)`` is code, not a link."""

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image: it installs the
# course (this folder) and its dependencies, pinned in pyproject.toml, from PyPI.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${TINYLSM_PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "TinyLSM needs Python 3.11 or newer: choose a Gradescope base image that has it (e.g. Ubuntu 24.04)." >&2
    exit 1
fi
if "$PYTHON" -m venv "$ROOT/venv"; then
    "$ROOT/venv/bin/python" -m pip install -e "$ROOT/source[dev]"
else
    # No working venv module in this image: install for the system interpreter instead.
    rm -rf "$ROOT/venv"
    PIP_BREAK_SYSTEM_PACKAGES=1 "$PYTHON" -m pip install -e "$ROOT/source[dev]"
fi
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission. It takes the student's code from
# submission/ (the repository, or only its days/ folder), grades it on the pristine
# course in source/, and always leaves results/results.json: when grading fails,
# a score of 0 and the reason.
#
#   AUTOGRADER_ROOT     the autograder's folder (default /autograder)
#   TINYLSM_GRADE_DAYS  grade only these days, e.g. "1" or "1,3" (default: every day)
#   TINYLSM_PYTHON      the interpreter when setup.sh made no virtual environment (default python3)
#   TINYLSM_WITHOUT_LANDLOCK  set: grade even where the kernel has no Landlock (grades can then be forged)
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
RESULTS="$ROOT/results/results.json"
STARTED=$SECONDS
if [ -x "$ROOT/venv/bin/python" ]; then
    PYTHON="$ROOT/venv/bin/python"
else
    PYTHON="${TINYLSM_PYTHON:-python3}"
fi
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

GRADE_DAYS="${TINYLSM_GRADE_DAYS:-}"
OPTIONS=()
for day in ${GRADE_DAYS//,/ }; do
    OPTIONS+=(--day "$day")
done
if [ -n "${TINYLSM_WITHOUT_LANDLOCK:-}" ]; then  # the image's kernel has no Landlock, and you accept it
    OPTIONS+=(--without-landlock)
fi

STAGE='import sys; from checker.instructor.export import stage_main; sys.exit(stage_main(sys.argv[1:]))'
{
    cd "$ROOT/source" &&
        "$PYTHON" -c "$STAGE" "$ROOT/submission" "$WORK/submission" &&
        "$PYTHON" -m checker --submission "$WORK/submission" --gradescope "$RESULTS" ${OPTIONS[@]+"${OPTIONS[@]}"}
} 2>&1 | tee "$WORK/log"

json_text() {  # stdin as the inside of a JSON string (ASCII only, so that the document is always valid)
    LC_ALL=C tr -d '\000-\010\013-\037\200-\377' |
        sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' |
        awk 'BEGIN { ORS = "\\n" } { gsub(/\t/, "    "); print }'
}

if [ ! -s "$RESULTS" ]; then
    REASON="$(
        echo "The autograder could not grade this submission, so the score is 0. What it printed last:"
        echo
        tail -n 40 "$WORK/log"
    )"
    printf '{"score": 0, "execution_time": %d, "output": "%s", "output_format": "text", %s}\n' \
        "$((SECONDS - STARTED))" "$(printf '%s' "$REASON" | json_text)" \
        '"visibility": "visible", "stdout_visibility": "hidden", "tests": []' >"$RESULTS"
fi
exit 0
"""


class ExportError(Exception):
    """An export that cannot be carried out (exit status 2)."""


class UnsoundRelease(Exception):
    """A release that points at what a student does not have (exit status 1)."""


def _left_out(relative: str, patterns: tuple[str, ...]) -> bool:
    """Whether the path ``relative`` (from the course root) matches one of ``patterns``."""
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(relative if "/" in pattern else name, pattern) for pattern in patterns)


def course_files(course: Path, parts: tuple[str, ...], left_out: tuple[str, ...] = ()) -> Iterator[Path]:
    """The regular files of ``parts`` of the course, relative to it, without generated files or ``left_out``."""
    patterns = (*GENERATED, *left_out)
    for part in parts:
        source = course / part
        if source.is_file() and not source.is_symlink():
            yield Path(part)
        elif source.is_dir() and not source.is_symlink():
            for folder, folders, files in os.walk(source):
                here = Path(folder).relative_to(course)
                folders[:] = sorted(f for f in folders if not _left_out((here / f).as_posix(), patterns))
                for name in sorted(files):
                    path = Path(folder) / name
                    if path.is_file() and not path.is_symlink() and not _left_out((here / name).as_posix(), patterns):
                        yield here / name


# ----------------------------------------------------------------------------
# The student release
# ----------------------------------------------------------------------------


def rewrite_left_out_links(text: str, page: Path, release: Path, course: Path) -> str:
    """``text`` (a Markdown page at ``page`` in the release) with links to pages the release left out as plain text.

    A link to ``CONTRIBUTING.md`` becomes ``CONTRIBUTING.md (an instructors' page, not part of this
    release)``. Links to web pages, anchors and files the release has are kept.
    """

    def replace(match: re.Match[str]) -> str:
        target = match["target"]
        if "://" in target or target.startswith("mailto:"):
            return match[0]
        in_release = (page.parent / target).resolve()
        try:
            relative = in_release.relative_to(release.resolve())
        except ValueError:
            return match[0]
        if in_release.exists() or not (course / relative).exists():
            return match[0]
        return f"{match['text']} (an instructors' page, not part of this release)"

    return MARKDOWN_LINK.sub(replace, text)


def hidden_file_names(course: Path) -> set[str]:
    """The names by which a text could point at a hidden file: ``test_x_hidden.py``, ``test_x_hidden``.

    A helper module's name without ``.py`` (``crash_child``) is too common a word to count.
    """
    names = set()
    for path in course.glob("days/*/hidden/*.py"):
        names.add(path.name)
        if path.stem.startswith("test_"):
            names.add(path.stem)
    return names


def release_problems(release: Path, course: Path) -> list[str]:
    """What in ``release`` points at something a student does not have: each as ``file: problem``.

    A Markdown link to a missing file, a path inside ``solutions/``, or the name
    of a hidden test file.
    """
    hidden_names = sorted(hidden_file_names(course))
    problems = []
    for path in sorted(p for p in release.rglob("*") if p.is_file()):
        name = path.relative_to(release).as_posix()
        if path.suffix == ".pyc" or name.startswith("solutions/"):
            continue  # the reference itself (compiled, or revealed source)
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix == ".md":
            for match in MARKDOWN_LINK.finditer(CODE.sub("", text)):
                target = match["target"]
                if "://" not in target and not target.startswith("mailto:") and not (path.parent / target).exists():
                    problems.append(f"{name}: links to {target}, which the release does not have")
        problems += [f"{name}: mentions {match[0]}..." for match in SOLUTION_PATH.finditer(text)]
        problems += [f"{name}: names the hidden file {hidden}" for hidden in hidden_names if hidden in text]
    return problems


def keep_compiled_files(repository: Path) -> None:
    """Make a release's ``.gitignore`` keep the compiled files it ships.

    The course's ``.gitignore`` ignores ``*.pyc`` (caches), which would leave the
    compiled reference (``solutions/dayN/*.pyc``) and inspector out of any
    repository the release is pushed to (a student's own, the Classroom template):
    a clone of it, and the workflow's checkout, would grade ``student:N`` without
    the reference's other days. Each folder that holds compiled files the release
    ships is named, so caches stay ignored.
    """
    shipped = (path.relative_to(repository) for path in repository.rglob("*.pyc"))
    folders = sorted({path.parent.as_posix() for path in shipped if "__pycache__" not in path.parts})
    if not folders:
        return
    ignore = repository / ".gitignore"
    text = ignore.read_text() if ignore.exists() else ""
    lines = [
        "# The release's compiled code (the reference, the inspector): part of the release, not a cache.",
        *(f"!/{folder}/*.pyc" for folder in folders),
    ]
    ignore.write_text(text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(lines) + "\n")


def export_student(course: Path, destination: Path, reference: Reference | None = None) -> list[Path]:
    """Write a student release of ``course`` into ``destination`` (missing or empty); the files written.

    ``reference`` says how the reference ships (compiled to bytecode by default).
    Its ``.gitignore`` keeps the compiled files it ships in git, so that a release
    pushed to a repository and cloned again still has its reference.
    Raises ``ExportError`` when ``destination`` is not empty, and ``UnsoundRelease``
    when the release points at something a student does not have (it is left in
    place for a look).
    """
    reference = reference or Reference()
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise ExportError(f"{destination} exists and is not an empty folder")
    files = list(course_files(course, RELEASE_PARTS, RELEASE_LEFT_OUT))
    destination.mkdir(parents=True, exist_ok=True)
    for relative in files:
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(course / relative, destination / relative)
    regions = describe(reference, reference_days(course))
    for relative in files:
        if relative.suffix == ".md":
            page = destination / relative
            text = fill_regions(INSTRUCTORS_ONLY.sub("", page.read_text(encoding="utf-8")), regions)
            if reference.inspector() == "none" and relative == Path("README.md"):
                text = without_inspector(text)
            page.write_text(rewrite_left_out_links(text, page, destination, course))
    ship_inspector(destination, reference)
    if reference.compiled(reference_days(course)):
        pin_python(destination / "pyproject.toml")
    files = [path for path in files if (destination / path).exists()]
    files += write_reference(course, destination, reference)
    for part in RELEASE_PARTS:  # a part that is an empty folder (notebooks/, at first) is still there
        if (course / part).is_dir():
            (destination / part).mkdir(exist_ok=True)
    problems = release_problems(destination, course)
    if problems:
        raise UnsoundRelease("the release points at what a student does not have:\n  " + "\n  ".join(problems))
    keep_compiled_files(destination)  # after the check, which would take its solutions/dayN for a pointer
    return files


def export_classroom(course: Path, destination: Path, reference: Reference | None = None) -> list[Path]:
    """Write the GitHub Classroom template of ``course`` into ``destination`` (missing or empty); the files written.

    The template is the student release plus the autograding workflow; raises what ``export_student`` raises.
    A compiled reference runs on this Python's version only: the workflow sets it up.
    """
    reference = reference or Reference()
    files = export_student(course, destination, reference)
    python = PYTHON if reference.compiled(reference_days(course)) else None
    return [*files, write_workflow(course, destination, python).relative_to(destination)]


# ----------------------------------------------------------------------------
# The autograder bundle
# ----------------------------------------------------------------------------


def export_autograder(course: Path, bundle: Path) -> int:
    """Write the Gradescope autograder zip ``bundle`` for ``course``; the number of course files in it."""
    files = list(course_files(course, AUTOGRADER_PARTS))
    bundle.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, script in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o100755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, script)
        for relative in files:
            archive.write(course / relative, relative.as_posix())
    return len(files)


def find_days_folder(upload: Path) -> Path:
    """The ``days/`` folder of an uploaded submission.

    The upload may be the repository, its ``days/`` folder (``day1/``, ``day2/``, ...
    at the top), or either of them inside one top folder (a zip of the folder).
    Raises ``ValueError`` when there is none.
    """
    folders = [p for p in upload.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    candidates = [upload, *(folders if len(folders) == 1 else [])]
    for candidate in candidates:
        if (candidate / "days").is_dir():
            return candidate / "days"
        if any((candidate / f"day{day}").is_dir() for day in range(1, 8)):
            return candidate
    raise ValueError(
        "the submission has neither a days/ folder nor day1/ ... day7/ folders: "
        "submit the course repository (or its days/ folder)"
    )


def stage_submission(upload: Path, destination: Path) -> Path:
    """Copy the Python files of ``upload``'s days folder to ``destination/days``; the folder found.

    Which of them are graded (the student's own modules) is decided by
    ``checker --submission``, as for any other submission.
    """
    days = find_days_folder(upload)

    def not_code(folder: str, names: list[str]) -> list[str]:
        """Everything but folders and ``.py`` files; and links, which could point at the reference."""
        paths = [Path(folder) / name for name in names]
        return [p.name for p in paths if p.is_symlink() or not (p.is_dir() or p.suffix == ".py")]

    shutil.copytree(days, destination / "days", ignore=not_code)
    return days


def stage_main(argv: list[str]) -> int:
    """``run_autograder``'s first step: ``stage_main([UPLOAD, DESTINATION])``; 0, or 1 with the reason."""
    upload, destination = (Path(arg) for arg in argv)
    try:
        days = stage_submission(upload, destination)
    except (ValueError, OSError) as error:
        print(f"autograder: {error}", file=sys.stderr)
        return EXIT_FAILED
    where = days.relative_to(upload).as_posix()
    print(f"Taking the code in {'the top folder' if where == '.' else where + '/'} of the submission.")
    return EXIT_OK


# ----------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checker export",
        description="Write a student release, a GitHub Classroom template or a Gradescope autograder (instructors).",
    )
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="the course repository to export")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    student = kinds.add_parser(
        "student", help="a student release: the reference compiled, no hidden tests, instructor commands or pages"
    )
    classroom = kinds.add_parser("classroom", help="a GitHub Classroom template: the release and its grading workflow")
    for release in (student, classroom):
        release.add_argument("destination", metavar="DIR", help="where to write it (missing or empty)")
        release.add_argument(
            "--reference",
            choices=KINDS,
            default="bytecode",
            help="how the reference ships: compiled for this Python version only (bytecode, the default), "
            "as source, or not at all (none: every day is the student's)",
        )
        release.add_argument(
            "--reveal", metavar="DAYS", help="ship the source of these days' reference, e.g. 1-3 or 1,2 (past deadline)"
        )
    autograder = kinds.add_parser("autograder", help="a Gradescope autograder zip (setup.sh, run_autograder, course)")
    autograder.add_argument("destination", metavar="FILE.zip", help="the zip to write")
    return parser


def _reference(args: argparse.Namespace) -> Reference:
    """The reference choice of the command line; ``ExportError`` for days that cannot be read."""
    if not args.reveal:
        return Reference(args.reference)
    try:
        days = parse_days(args.reveal)
    except ValueError as error:
        raise ExportError(f"--reveal: {error}") from None
    return Reference(args.reference, frozenset(days))


def main(argv: list[str]) -> int:
    """Run ``python -m checker export``; 0 when written, 1 when the release is not sound, 2 for usage."""
    args = parse_arguments(_parser(), argv)
    if isinstance(args, int):
        return args
    course = Path(args.root).resolve()
    refusal = instructor_only(course, "export")
    if refusal:
        print(f"checker: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    destination = Path(args.destination)
    try:
        if args.kind in ("student", "classroom"):
            reference = _reference(args)
        if args.kind == "student":
            files = export_student(course, destination, reference)
            print(f"wrote a student release of {len(files)} files to {destination}")
            if reference.compiled(reference_days(course)):
                print(f"its compiled reference runs on Python {PYTHON} only (the release's README says so)")
            print(
                f"try it: cd {destination} && python3 -m venv .venv && . .venv/bin/activate "
                "&& pip install -e '.[dev]' && python -m checker"
            )
            return EXIT_OK
        if args.kind == "classroom":
            files = export_classroom(course, destination, reference)
            print(f"wrote a GitHub Classroom template of {len(files)} files to {destination}")
            print("push it to a repository of your organisation, mark it as a template, and use it as starter code")
            return EXIT_OK
        count = export_autograder(course, destination)
    except (ExportError, OSError) as error:
        print(f"export: {error}", file=sys.stderr)
        return EXIT_USAGE
    except UnsoundRelease as error:
        print(f"export: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote {destination}: setup.sh, run_autograder and {count} files of the course")
    print("upload it as the autograder of a Gradescope assignment (base image with Python 3.11 or newer)")
    return EXIT_OK
