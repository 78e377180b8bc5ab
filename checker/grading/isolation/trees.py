"""The two copies of the course a graded run is made of: the tests' and the engine's.

* The **test tree** holds what the test process needs: the provided core, the
  checker, ``conftest.py`` and the graded day's test files (visible and hidden). No
  module of any day: those are proxies of the engine process.
* The **engine tree** holds what the engine process needs and nothing more: the
  provided core and one folder of modules per day, the graded day's from the
  student (only files that can be task modules) and every other day's from the
  reference. No test, no hidden test, no checker, no mutant catalogue, no report.
  A reference compiled to bytecode (a student release's ``module.pyc``) is taken
  for the reference days only, and no reference folder gives a module under the
  name of a graded day's module: the engine of day N never holds day N's
  reference, as source or compiled, wherever a release's owner put it.

Both live in folders only the grader can reach, except ``scratch``, the engine
process's one writable folder (the tests' ``tmp_path`` folders live there too).
"""

from __future__ import annotations

import compileall
import os
import re
import shutil
import site
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from checker.grading.isolation.client import WorkerSettings
from checker.grading.isolation.contract import course_contract
from tinylsm._composition import Composition

ENGINE_PACKAGE = "_engine_worker"
"""The engine process's own copy of the wire and the worker (the checker itself stays out of its tree)."""

WORKER_FILES = ("protocol.py", "worker.py", "limits.py", "code_guard.py")
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.py$")
COMPILED_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.pyc$")
NEVER_TAKEN = {"conftest.py", "sitecustomize.py", "usercustomize.py", "setup.py", "__init__.py", "__main__.py"}
MAX_MODULE_BYTES = 1 << 20
DAYS_THAT_WRITE_FILES = frozenset({2, 6})
"""The days whose tests read back what the day's code wrote (an SST; a WAL, a MANIFEST, a database) in another
engine process than the one that wrote it: no memory of that process can stand in for the format."""
TESTS_KEEP_LOCAL = frozenset(
    {"options", "errors", "state", "lookup", "storage_iterator", "testkit", "_composition", "durability", "files"}
)
"""Modules of the provided core the test process keeps: value types, protocols, test helpers, file names,
and the plain durability layer that tests extend to record what the engine asks of it.

Every other module of ``tinylsm`` (the days', and the core's that the engine reads at
run time, such as ``extensions`` and ``durability``) is the engine process's, so that a
test that patches one patches what the engine uses."""


def is_task_module(path: Path) -> bool:
    """Whether a file of a day folder is code the engine may import (never a test, hook or plugin)."""
    name = path.name
    return (
        bool(MODULE_NAME.match(name))
        and name not in NEVER_TAKEN
        and not name.startswith("test_")
        and not name.endswith("_test.py")
        and path.is_file()
        and not path.is_symlink()
        and path.stat().st_size <= MAX_MODULE_BYTES
    )


def compiled_modules(folder: Path, refused: set[str]) -> list[Path]:
    """The compiled modules (``module.pyc``, no source) of a reference day folder, but for names in ``refused``."""
    return [
        path
        for path in (sorted(folder.iterdir()) if folder.is_dir() else [])
        if COMPILED_MODULE_NAME.match(path.name)
        and path.stem not in refused
        and f"{path.stem}.py" not in NEVER_TAKEN
        and not path.stem.startswith("test_")
        and path.is_file()
        and not path.is_symlink()
        and path.stat().st_size <= MAX_MODULE_BYTES
    ]


def day_modules(folder: Path) -> tuple[list[Path], list[str]]:
    """The task modules of a day folder, and the names of everything else in it (left out)."""
    taken, ignored = [], []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name in ("__pycache__", "hidden", "README.md") or path.name.startswith("."):
            continue
        if is_task_module(path):
            taken.append(path)
        elif not (path.name.startswith("test_") and path.suffix == ".py" and path.parent.name.startswith("day")):
            ignored.append(path.name)
    return taken, ignored


@dataclass
class GradingTrees:
    """Where one graded run's trees are, and what was left out of the student's folder."""

    tests: Path
    engine: Path
    scratch: Path
    settings: WorkerSettings
    ignored: list[str] = field(default_factory=list)


def _reserved_names(root: Path, day: int) -> set[str]:
    """Module names a graded day's folder may not use: the provided core's, and every other day's task modules."""
    names = {path.stem for path in (root / "tinylsm").iterdir()}
    for folder in (*(root / "days").glob("day[1-7]"), *(root / "solutions").glob("day[1-7]")):
        if folder.name != f"day{day}":
            names.update(path.name.split(".")[0] for path in folder.iterdir() if path.suffix in (".py", ".pyc"))
    return names


def _copy_core(root: Path, destination: Path) -> None:
    shutil.copytree(root / "tinylsm", destination / "tinylsm", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def build_trees(root: Path, composition: Composition, graded_days: set[int], day: int, private: Path) -> GradingTrees:
    """Lay out the test tree and the engine tree of one graded run of ``day`` under ``private``.

    ``composition`` says which folder backs each day; the days in ``graded_days``
    are the student's (or a mutant's): their folders give task modules only, and
    their frames are the ones shown in feedback.
    """
    tests, engine, scratch = private / "tests", private / "engine", private / "scratch"
    for folder in (tests, engine, scratch):
        folder.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    _copy_core(root, tests)
    shutil.copytree(root / "checker", tests / "checker", ignore=ignore)
    for name in ("conftest.py", "pyproject.toml"):
        if (root / name).exists():
            shutil.copy2(root / name, tests / name)
    day_tests = root / "days" / f"day{day}"
    (tests / "days" / f"day{day}").mkdir(parents=True)
    for path in sorted(day_tests.iterdir()):
        if path.name == "hidden" and path.is_dir():
            shutil.copytree(path, tests / "days" / f"day{day}" / "hidden", ignore=ignore)
        elif path.name.startswith("test_") and path.suffix == ".py" and path.is_file() and not path.is_symlink():
            shutil.copy2(path, tests / "days" / f"day{day}" / path.name)

    _copy_core(root, engine)
    module_names: set[str] = {
        path.stem for path in (root / "tinylsm").glob("*.py") if path.stem not in TESTS_KEEP_LOCAL | {"__init__"}
    }
    worker_source = Path(__file__).resolve().parent
    (engine / ENGINE_PACKAGE).mkdir()
    (engine / ENGINE_PACKAGE / "__init__.py").write_text('"""The engine process of a graded run."""\n')
    for name in WORKER_FILES:
        shutil.copy2(worker_source / name, engine / ENGINE_PACKAGE / name)
    student_dirs: list[str] = []
    ignored: list[str] = []
    student_days = sorted(d for d in composition.day_dirs if d in graded_days)
    graded_names = {  # a graded day's module names: never taken from a reference folder
        path.name.split(".")[0]
        for number in student_days
        for folder in (composition.day_dirs[number], root / "solutions" / f"day{number}")
        for path in (folder.iterdir() if folder.is_dir() else [])
    }
    for number, folder in sorted(composition.day_dirs.items()):
        graded = number in graded_days
        destination = engine / ("days" if graded else "solutions") / f"day{number}"
        destination.mkdir(parents=True)
        taken, left_out = day_modules(folder)
        if graded:  # a helper module may not take the name of the core's modules or another day's
            reserved = _reserved_names(root, number)
            left_out += [path.name for path in taken if path.stem in reserved]
            taken = [path for path in taken if path.stem not in reserved]
        if not graded:
            taken = [path for path in taken if path.stem not in graded_names]
            taken += compiled_modules(folder, graded_names)
        for path in taken:
            shutil.copy2(path, destination / path.name)
            module_names.add(path.stem)
        if graded:
            student_dirs.append(str(destination))
            ignored += [f"days/day{number}/{name}" for name in left_out]
    # Every engine process (a crash test starts dozens) would otherwise compile the same
    # sources again, since it may not write bytecode into this tree: the trusted code is
    # compiled here, once. The graded days' code is only ever compiled in the engine process.
    compileall.compile_dir(engine, quiet=2, rx=re.compile(re.escape(str(engine / "days"))))
    reference_days = sorted(set(composition.day_dirs) - set(student_days))
    if not reference_days:
        spec = "student"
    elif not student_days:
        spec = "solutions"
    else:
        spec = "student:" + ",".join(map(str, student_days))
    settings = WorkerSettings(
        tree=str(engine),
        scratch=str(scratch),
        environment={
            "TINYLSM_IMPL": spec,
            "PYTHONDONTWRITEBYTECODE": "1",
            "TMPDIR": str(scratch),
            "HOME": str(scratch),
        },
        student_dirs=student_dirs,
        module_names=sorted(module_names),
        read_paths=[str(engine), *python_paths(), *system_paths()],
        write_paths=[str(scratch), os.devnull],
        threads_only=True,
        reads_elsewhere=day in DAYS_THAT_WRITE_FILES,
        code_roots=[str(engine), *python_paths()],
        contract=course_contract(root).as_json(),
    )
    return GradingTrees(tests=tests, engine=engine, scratch=scratch, settings=settings, ignored=ignored)


def python_paths() -> list[str]:
    """Folders the engine process's Python needs to read: its installation and site-packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_path(name))
    paths.update(site.getsitepackages())
    return sorted(p for p in paths if p and os.path.exists(p))


def system_paths() -> list[str]:
    """Shared libraries, the dynamic loader's cache, and the few devices a Python process opens."""
    candidates = ["/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/etc/ld.so.cache", "/etc/localtime"]
    candidates += [
        "/dev/null",
        "/dev/urandom",
        "/dev/zero",
        "/usr/bin",
        "/bin",
        "/usr/local/bin",
        "/usr/share/zoneinfo",
    ]
    return [p for p in candidates if os.path.exists(p)]
