"""The notebooks run top to bottom on the reference, in QUICK mode, and are committed cleared and anonymous."""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import ROOT

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
