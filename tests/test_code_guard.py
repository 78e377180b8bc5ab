"""The engine process's guard against code smuggled in as data: the compiled reference carried as bytes."""

from __future__ import annotations

import importlib.util
import json
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from checker.grading.isolation.trees import python_paths
from tests.helpers import ROOT, compiled_reference_cheat

ROUTES = ("_by_marshal", "_by_the_import_system_with_a_false_path", "_by_a_file_written_first", "_by_ctypes")

RUN_THE_CHEAT = """
import json, sys
sys.path.insert(0, {isolation!r})
from code_guard import guard_code
if {guarded!r}:
    guard_code({read_only!r}, {writable!r})
import trusted_compiled           # a compiled module of a read-only folder: still loads
import colorsys                   # so does the standard library
namespace = {{"__file__": {cheat!r}, "__name__": "block"}}
exec(compile(open({cheat!r}).read(), {cheat!r}, "exec"), namespace)
print(json.dumps({{"reference": "BlockBuilder" in namespace, "trusted": trusted_compiled.VALUE}}))
"""


def run_cheat(tmp_path: Path, guarded: bool) -> tuple[dict, str]:
    trusted, scratch = tmp_path / "trusted", tmp_path / "scratch"
    trusted.mkdir()
    scratch.mkdir()
    (trusted / "trusted_compiled.py").write_text("VALUE = 42\n")
    py_compile.compile(str(trusted / "trusted_compiled.py"), cfile=str(trusted / "trusted_compiled.pyc"))
    (trusted / "trusted_compiled.py").unlink()  # sourceless, as a release's compiled reference is
    script = RUN_THE_CHEAT.format(
        isolation=str(ROOT / "checker" / "grading" / "isolation"),
        guarded=guarded,
        read_only=[str(trusted), *python_paths()],
        writable=[str(scratch)],
        cheat=str(compiled_reference_cheat(tmp_path)),
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(trusted), "TMPDIR": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout), completed.stderr


def test_without_the_guard_the_compiled_reference_runs(tmp_path: Path) -> None:
    """The control: the cheat works where nothing stops it, so the next test can fail."""
    outcome, _ = run_cheat(tmp_path, guarded=False)
    assert outcome == {"reference": True, "trusted": 42}


def test_the_guard_refuses_every_way_to_run_bytecode_given_as_data(tmp_path: Path) -> None:
    outcome, stderr = run_cheat(tmp_path, guarded=True)
    assert outcome == {"reference": False, "trusted": 42}, stderr
    for route in ROUTES:
        assert f"route refused: {route}: PermissionError" in stderr, f"{route} was not refused:\n{stderr}"


@pytest.mark.parametrize(
    "statement",
    [
        "(lambda: 0).__code__.replace(co_name='x')",
        "import sys; sys.settrace(lambda *a: None)",
        "import sys; sys.setprofile(lambda *a: None)",
        "import marshal, io; marshal.load(io.BytesIO(marshal.dumps(1)))",
        "import ctypes; ctypes.string_at(id(1), 8)",
        "import numpy",
        "import _testcapi",
    ],
)
def test_the_guard_refuses_what_could_switch_it_off_or_build_code(statement: str, tmp_path: Path) -> None:
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'checker' / 'grading' / 'isolation')!r})\n"
        "import ctypes\n"  # loaded before the guard, as the engine process's limits load it
        "from code_guard import guard_code\n"
        f"guard_code({python_paths()!r}, [])\n"
        f"try:\n    {statement}\nexcept PermissionError as error:\n    print('refused', error)\n"
    )
    module = statement.removeprefix("import ")
    if module.isidentifier() and importlib.util.find_spec(module) is None:
        pytest.skip(f"this Python has no module {module}")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert completed.stdout.startswith("refused"), completed.stdout + completed.stderr


def test_the_standard_library_may_still_change_the_flags_of_a_functions_code() -> None:
    """``import asyncio`` runs ``types.coroutine``, which replaces a code object's flags: honest code uses it."""
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'checker' / 'grading' / 'isolation')!r})\n"
        "from code_guard import guard_code\n"
        f"guard_code({python_paths()!r}, [])\n"
        "import asyncio, types\n"
        "types.coroutine(lambda: (yield))\n"
        "print('imported')\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert completed.stdout.strip() == "imported", completed.stdout + completed.stderr
