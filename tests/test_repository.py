"""The repository's own promises: CI runs the README's command; nothing private is committed."""

from __future__ import annotations

import re
import subprocess

from tests.helpers import ROOT

SELF_TEST = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && pytest tests -n auto'
GRADE = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && python -m checker'


def test_readme_shows_both_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert SELF_TEST in readme and GRADE in readme


def test_ci_runs_exactly_the_readme_test_command() -> None:
    assert SELF_TEST in (ROOT / ".ci" / "run").read_text().splitlines()


def tracked_files() -> list[str]:
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return listing.splitlines()


def test_no_absolute_paths_or_home_directories_are_committed() -> None:
    offenders = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file() or path.suffix not in {".py", ".md", ".toml", ".ipynb", ".txt", ".json", ""}:
            continue
        text = path.read_text(errors="replace")
        if re.search(r"/(home|Users|root)/\w+|/work/\w+|/tmp/tmp\w+", text):
            offenders.append(name)
    assert not offenders, f"absolute paths in {offenders}"


def test_no_generated_files_are_committed() -> None:
    generated = [n for n in tracked_files() if re.search(r"__pycache__|\.pyc$|\.sst$|\.wal$|^book/book/|\.venv", n)]
    assert not generated, generated
