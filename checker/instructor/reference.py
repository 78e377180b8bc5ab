"""The reference of a student release: compiled to bytecode (the default), as source, or left out.

``python -m checker export student DIR --reference bytecode|source|none --reveal 1-3``

* ``bytecode``: each module of ``solutions/dayN`` becomes ``solutions/dayN/module.pyc``
  and no ``.py``: Python imports such a sourceless module as it imports any other,
  so ``student:N`` works in the release as in the course, and there is no source to
  read. The files are compiled by this interpreter and run on its minor version
  only (``solutions/reference.toml`` names it; ``tinylsm._composition`` refuses the
  reference plainly on another version). They hold no path of this machine: each
  code object names its file ``solutions/dayN/module.py``, as the course does.
  Bytecode can be decompiled: this keeps the reference from being read at a
  glance, not from a determined reader.
* ``source``: the reference as it is, ``.py`` files.
* ``none``: no ``solutions/`` at all; every day is the student's and
  ``student:N`` is refused.

``--reveal`` ships the source of the days it names whatever the choice (days past
their deadline, say). A day the release has no reference for is the student's in
every composition.

The inspector (``checker inspect``) decodes the formats that days 1, 2, 6 and 7
ask students to write, so its source is a ready-made reader for those days. It
follows the reference: compiled with ``bytecode``, source with ``source`` (or
once days 1, 2, 6 and 7 are all revealed), left out with ``none``.
"""

from __future__ import annotations

import py_compile
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("bytecode", "source", "none")
INSPECTOR = Path("checker") / "tools" / "inspect"
USES_INSPECTOR = (Path("notebooks") / "04-sst-anatomy.ipynb",)
"""What leaves the release with the inspector: it would stop at its first import."""
INSPECTOR_DAYS = frozenset({1, 2, 6, 7})
"""The days whose file formats the inspector decodes."""
REFERENCE_FILE = Path("solutions") / "reference.toml"
"""The release's description of its reference (``tinylsm._composition`` reads its ``python``)."""
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
"""The Python version this interpreter compiles for."""

REGION = re.compile(r"^<!-- release: (?P<name>[a-z-]+) -->\n.*?^<!-- end release -->\n", re.MULTILINE | re.DOTALL)
"""A region of a Markdown page that a release replaces with what is true of its reference."""


@dataclass(frozen=True)
class Reference:
    """What a release does with the reference: ``kind`` for every day, but the source of ``revealed`` days."""

    kind: str = "bytecode"
    revealed: frozenset[int] = field(default_factory=frozenset)

    def form(self, day: int) -> str:
        """``source``, ``bytecode`` or ``none``: how the release ships day ``day``'s reference."""
        return "source" if self.kind == "source" or day in self.revealed else self.kind

    def inspector(self) -> str:
        """How the release ships the inspector: ``source``, ``bytecode`` or ``none``."""
        if self.kind == "source" or self.revealed >= INSPECTOR_DAYS:
            return "source"
        return self.kind

    def compiled(self, days: list[int]) -> bool:
        """Whether a release of ``days`` holds compiled code (and so runs on one Python version only)."""
        return any(self.form(day) == "bytecode" for day in days) or self.inspector() == "bytecode"


def parse_days(text: str) -> frozenset[int]:
    """``"1-3"``, ``"2"`` or ``"1,2,6-7"`` as a set of days; ``ValueError`` for anything else."""
    days: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"cannot read days {text!r}: expected e.g. 1-3, 2 or 1,2")
        low, high = int(first), int(last) if dash else int(first)
        if not 1 <= low <= high <= 7:
            raise ValueError(f"days {text!r} are not within 1-7")
        days.update(range(low, high + 1))
    return frozenset(days)


def reference_days(course: Path) -> list[int]:
    """The days that ``course`` has a reference for."""
    return sorted(int(path.name[3:]) for path in course.glob("solutions/day[1-7]") if path.is_dir())


def compile_module(source: Path, target: Path, shown_as: str) -> None:
    """Compile ``source`` into the sourceless module ``target``; tracebacks name it ``shown_as``.

    Unchecked-hash bytecode holds no time stamp (the same source gives the same
    file) and is never compared with a source file, which the release does not have.
    """
    py_compile.compile(
        str(source),
        cfile=str(target),
        dfile=shown_as,
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


def write_reference(course: Path, release: Path, reference: Reference) -> list[Path]:
    """Ship ``course``'s reference into ``release`` as ``reference`` says; the files written, relative."""
    written: list[Path] = []
    days = reference_days(course)
    for day in days:
        form = reference.form(day)
        if form == "none":
            continue
        folder = Path("solutions") / f"day{day}"
        (release / folder).mkdir(parents=True, exist_ok=True)
        for module in sorted((course / folder).glob("*.py")):
            if form == "source":
                shutil.copy2(module, release / folder / module.name)
                written.append(folder / module.name)
            else:
                target = folder / f"{module.stem}.pyc"
                compile_module(module, release / target, (folder / module.name).as_posix())
                written.append(target)
    if written:
        forms = "\n".join(f'{day} = "{reference.form(day)}"' for day in days)
        (release / REFERENCE_FILE).write_text(
            "# The reference of this release: each day's as source, compiled (bytecode) or absent (none).\n"
            f"# Compiled modules run on Python {PYTHON} only.\n"
            f'python = "{PYTHON}"\n\n[days]\n{forms}\n'
        )
        written.append(REFERENCE_FILE)
    return written


def ship_inspector(release: Path, reference: Reference) -> None:
    """Compile the release's copy of the inspector, or take it out, as ``reference`` says."""
    folder = release / INSPECTOR
    form = reference.inspector()
    if form == "none":
        shutil.rmtree(folder, ignore_errors=True)
        for path in USES_INSPECTOR:
            (release / path).unlink(missing_ok=True)
    elif form == "bytecode":
        for module in sorted(folder.rglob("*.py")):
            shown_as = module.relative_to(release).as_posix()
            compile_module(module, module.with_suffix(".pyc"), shown_as)
            module.unlink()


def describe(reference: Reference, days: list[int]) -> dict[str, str]:
    """The text of each ``<!-- release: NAME -->`` region of the release's README, for ``reference``."""
    revealed = [day for day in days if reference.form(day) == "source"]
    compiled = [day for day in days if reference.form(day) == "bytecode"]
    if compiled:
        python = (
            f"Supported: Linux and macOS (Windows through WSL), **CPython {PYTHON} only**: the reference\n"
            f"days in `solutions/` are compiled for it (make your `.venv` with `python{PYTHON} -m venv .venv`).\n"
        )
    else:
        python = "Supported: Linux and macOS (Windows through WSL), CPython 3.11 or newer.\n"
    if not revealed and not compiled:
        stuck = (
            "This release has no reference solutions: every day is yours, and `--impl student:N`\n"
            "is refused. Plain `pytest days/dayN` and `python -m checker` work as described.\n"
        )
    else:
        parts = []
        if compiled:
            parts.append(
                f"The reference for {_days(compiled)} is compiled: `solutions/` holds Python {PYTHON}\n"
                "bytecode (`.pyc`), which runs but has no source to read"
            )
        if revealed:
            parts.append(f"the reference for {_days(revealed)} is given as source in `solutions/`")
        missing = [day for day in range(1, 8) if day not in days or reference.form(day) == "none"]
        text = "; ".join(parts) + "."
        if missing:
            text += f" For {_days(missing)} there is no reference: those days are always yours."
        stuck = text[0].upper() + text[1:] + "\n"
    inspector = {
        "bytecode": "compiled, like the reference",
        "source": "given as source",
        "none": "not part of this release (nor the notebook that uses it, `04-sst-anatomy`)",
    }[reference.inspector()]
    tools = f"The inspector (`python -m checker inspect`) is {inspector}.\n"
    return {"python": python, "reference": stuck, "tools": tools}


def _days(days: list[int]) -> str:
    if len(days) == 1:
        return f"day {days[0]}"
    if days == list(range(days[0], days[-1] + 1)):
        return f"days {days[0]}–{days[-1]}"
    return "days " + ", ".join(map(str, days[:-1])) + f" and {days[-1]}"


def fill_regions(text: str, regions: dict[str, str]) -> str:
    """``text`` with each ``<!-- release: NAME -->`` region replaced by ``regions[NAME]`` (markers dropped)."""
    return REGION.sub(lambda match: regions.get(match["name"], ""), text)


def without_inspector(text: str) -> str:
    """``text`` without the table rows that offer ``python -m checker inspect`` (a release without the inspector)."""
    return re.sub(r"^\| `python -m checker inspect\b.*\n", "", text, flags=re.MULTILINE)


def pin_python(pyproject: Path) -> None:
    """Make ``pip install`` refuse any Python but this one's minor version (the compiled code's)."""
    text = pyproject.read_text()
    pinned = re.sub(r'^requires-python = ".*"$', f'requires-python = "=={PYTHON}.*"', text, flags=re.MULTILINE)
    pyproject.write_text(pinned)
