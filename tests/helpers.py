"""Shared helpers of the course's own test suite."""

from __future__ import annotations

import ast
import base64
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from checker.common import Day, load_days

ROOT = Path(__file__).resolve().parent.parent
REPLAY_DIR = tempfile.mkdtemp(prefix="tinylsm-replays-")


def available_days() -> list[Day]:
    """The days of the course that have been written (their tests exist)."""
    return [day for day in load_days() if day.is_available(ROOT)]


def run(args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 900):
    """Run a command with this interpreter's environment plus ``env``; never raises on failure."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("TINYLSM_")}
    full_env["TINYLSM_REPLAY_DIR"] = REPLAY_DIR  # failing runs of the stubs must not litter the course
    full_env.update(env or {})
    return subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def checker(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT):
    """Run ``python -m checker ARGS``."""
    return run([sys.executable, "-m", "checker", *args], env=env, cwd=cwd)


def checker_json(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    """Run the checker with ``--json`` and return (exit status, report)."""
    report = tmp_path / "report.json"
    completed = checker(*args, "--json", str(report), env=env)
    assert report.exists(), f"the checker wrote no report:\n{completed.stdout}\n{completed.stderr}"
    return completed.returncode, json.loads(report.read_text())


def assert_book_builds(book: Path, out: Path) -> None:
    """Build the mdBook in ``book`` into ``out`` and fail on any error or warning."""
    mdbook = shutil.which("mdbook") or shutil.which("mdbook", path=str(Path(sys.executable).parent))
    assert mdbook, "mdbook is not installed: pip install -e '.[dev]' provides it"
    completed = run([mdbook, "build", str(book), "-d", str(out)], timeout=120)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "WARN" not in output and "ERROR" not in output, output
    assert (out / "index.html").exists()


def submission(cheat: Path, destination: Path) -> Path:
    """The starter stubs with the cheat of folder ``cheat`` laid over them (see ``tests/test_cheats.py``)."""
    for day in sorted((ROOT / "days").glob("day[1-7]")):
        target = destination / "days" / day.name
        target.mkdir(parents=True)
        for module in day.glob("*.py"):
            if not module.name.startswith("test_"):
                shutil.copy2(module, target / module.name)
    for path in sorted(cheat.rglob("*.py")):
        target = destination / path.relative_to(cheat)
        if target.exists():
            target.write_text(target.read_text() + "\n\n" + path.read_text())
        else:
            target.write_text(path.read_text())
    return destination


def compiled_reference_cheat(destination: Path) -> Path:
    """The cheat's module with day 1's reference compiled (as a release ships it) in place of its marker."""
    compiled = Path(py_compile.compile(str(ROOT / "solutions" / "day1" / "block.py"), cfile=str(destination / "c.pyc")))
    module = destination / "block.py"
    module.write_text(
        (ROOT / "tests" / "cheats" / "compiled_reference" / "days" / "day1" / "block.py")
        .read_text()
        .replace("@COMPILED_REFERENCE@", base64.b64encode(compiled.read_bytes()).decode())
    )
    return module


_TRIVIAL = {"bool": "False", "int": "0", "float": "0.0", "bytes": 'b""', "str": '""', "list": "[]", "dict": "{}"}
"""What code that does nothing returns, by the annotation of a stub's function."""


def null_submission(destination: Path) -> Path:
    """The starter stubs with every ``raise NotImplementedError`` replaced by a return of a trivial value.

    The value follows the function's annotation (``False``, ``0``, ``b""``, ``[]``, an
    empty iterator, else ``None``). Such a submission does nothing, and must earn nothing.
    """
    for day in sorted((ROOT / "days").glob("day[1-7]")):
        target = destination / "days" / day.name
        target.mkdir(parents=True)
        for module in day.glob("*.py"):
            if not module.name.startswith("test_"):
                (target / module.name).write_text(_doing_nothing(module.read_text()))
    return destination


def _doing_nothing(source: str) -> str:
    lines = source.splitlines(keepends=True)
    raises = []
    for function in ast.walk(ast.parse(source)):
        if isinstance(function, ast.FunctionDef):
            returns = ast.unparse(function.returns).strip("'\"") if function.returns else "None"
            kind = returns.split("[", 1)[0].split("|", 1)[0].strip()
            value = "iter(())" if kind in ("Iterator", "Iterable", "Generator") else _TRIVIAL.get(kind, "None")
            raises += [
                (statement, value)
                for statement in function.body
                if isinstance(statement, ast.Raise) and "NotImplementedError" in ast.unparse(statement)
            ]
    for statement, value in sorted(raises, key=lambda pair: -pair[0].lineno):
        lines[statement.lineno - 1 : statement.end_lineno] = [" " * statement.col_offset + f"return {value}\n"]
    return "".join(lines)
