"""The notebooks run top to bottom on the reference, in QUICK mode, and are committed cleared and anonymous."""

from __future__ import annotations

import ast
import getpass
import json
import os
import re
import socket
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import ROOT, run

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = {"01-levels.ipynb", "02-amplification.ipynb", "03-bloom-filters.ipynb", "04-sst-anatomy.ipynb"}
CELL_TIMEOUT = 120
"""Seconds one cell may take: a guard against a hang (a whole notebook aims at well under a minute)."""

CLEAR_HINT = "clear it with: python scripts/make_figures.py --clear-notebooks"
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:home|Users|root|work|tmp|var|private|opt|mnt)/|\b[A-Za-z]:\\\\")
COMMON_WORDS = {"root", "user", "users", "runner", "admin", "jovyan", "ubuntu", "localhost"}
"""Host and user names that are also ordinary words of the notebooks' text: not searched for."""


def ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def test_the_four_notebooks_are_there() -> None:
    assert {path.name for path in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        assert not cell.outputs, f"{path.name} cell {number} has outputs; {CLEAR_HINT}"
        assert cell.execution_count is None, f"{path.name} cell {number} has an execution count; {CLEAR_HINT}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_names_no_absolute_path_host_or_user(path: Path) -> None:
    text = path.read_text()
    found = ABSOLUTE_PATH.search(text)
    assert not found, f"{path.name} holds an absolute path: {text[max(0, found.start() - 40) : found.end() + 40]!r}"
    for name in {socket.gethostname(), getpass.getuser()} - COMMON_WORDS:
        if len(name) >= 3:
            assert not re.search(rf"\b{re.escape(name)}\b", text), f"{path.name} names this machine or user {name!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_starts_with_quick_parameters(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", []), f"{path.name}: the first code cell is not tagged parameters"
    assert re.search(r"^QUICK = True$", first.source, re.M), f"{path.name}: the parameters must say QUICK = True"
    assert re.search(r"^SEED = \d+", first.source, re.M), f"{path.name}: the parameters must set a SEED"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom_on_the_reference(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TINYLSM_")}
    environment["TINYLSM_IMPL"] = "solutions"
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    start = time.perf_counter()
    client.execute(env=environment)  # a cell that raises fails the test with its traceback
    elapsed = time.perf_counter() - start
    print(f"{path.name}: {elapsed:.1f} s")
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    images = sum(1 for output in outputs if "image/png" in output.get("data", {}))
    plots = sum(1 for cell in notebook.cells if cell.cell_type == "code" and re.search(r"\w\.plot_\w+\(", cell.source))
    assert images == plots, f"{path.name}: {plots} cells draw a figure, but {images} images came out"
    text = json.dumps([output.get("text", "") for output in outputs])
    assert "Traceback" not in text and "Warning" not in text, f"{path.name} printed a warning or an error: {text}"


def test_notebook_04_runs_on_the_untouched_course_with_the_reference_for_unfinished_days(tmp_path: Path) -> None:
    """On the stubs, the notebook says which days it needs and runs them on the reference."""
    path = ROOT / "notebooks" / "04-sst-anatomy.ipynb"
    notebook = nbformat.read(path, as_version=4)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TINYLSM_")}
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=environment)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    first = outputs[0].get("text", "")
    assert first.startswith("This notebook needs days 1, 2, 3, 4, 5, 6, 7."), first
    assert "the reference runs" in first, first


def test_a_course_without_a_reference_stops_the_notebook_with_one_sentence(tmp_path: Path) -> None:
    """With an unfinished day and no solutions/, use_days raises an error IPython shows as one sentence."""
    stub = tmp_path / "days" / "day2"
    stub.mkdir(parents=True)
    (stub / "sstable.py").write_text('raise NotImplementedError("day2.task1: SsTableBuilder")\n')
    code = (
        "import sys\nfrom pathlib import Path\nfrom checker.figures.needs import NotebookStop, use_days\n"
        "try:\n    use_days(1, 2, root=Path(sys.argv[1]))\n"
        "except NotebookStop as stop:\n    print(stop._render_traceback_())\n"
    )
    completed = run([sys.executable, "-c", code, str(tmp_path)])
    assert completed.returncode == 0, completed.stderr
    lines = ast.literal_eval(completed.stdout.strip())
    assert len(lines) == 1 and "Day 2 still has stubs" in lines[0] and "no reference" in lines[0], lines
