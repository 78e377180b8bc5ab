"""Which days a notebook needs, and whose code runs them: a notebook's first output.

A notebook calls ``use_days(...)`` before it imports ``tinylsm``. Each needed day
runs the student's code when ``days/dayN/`` has no stub left, and otherwise the
reference (``TINYLSM_IMPL=student:...``), when the course has one. A course with
no reference and an unfinished day stops the notebook with one sentence.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
COURSE_DAYS = range(1, 8)
_STUB = re.compile(r'raise NotImplementedError\("day(\d)\.task\d+')


class NotebookStop(Exception):
    """A notebook that cannot run on this course; shown as its message alone, without a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        return [str(self)]


def unfinished_days(root: Path = ROOT) -> list[int]:
    """The days whose modules in ``days/`` still hold a stub."""
    found = set()
    for day in COURSE_DAYS:
        for module in (root / "days" / f"day{day}").glob("*.py"):
            if not module.name.startswith("test_") and _STUB.search(module.read_text()):
                found.add(day)
    return sorted(found)


def _span(days: list[int]) -> str:
    return ", ".join(str(d) for d in days)


def use_days(*needed: int, root: Path = ROOT) -> str:
    """Choose the composition for a notebook that needs ``needed`` days; print and return what was chosen."""
    missing = [day for day in unfinished_days(root) if day in needed]
    line = f"This notebook needs days {_span(sorted(needed))}."
    if "tinylsm" in sys.modules or os.environ.get("TINYLSM_IMPL"):
        line += f" TINYLSM_IMPL={os.environ.get('TINYLSM_IMPL', 'student')} as set."
    elif not missing:
        line += " Every one of them is yours."
    elif (root / "solutions").is_dir():
        yours = [day for day in COURSE_DAYS if day not in unfinished_days(root)]
        os.environ["TINYLSM_IMPL"] = f"student:{_span(yours).replace(' ', '')}" if yours else "solutions"
        line += (
            f" Day{'s' if len(missing) > 1 else ''} {_span(missing)} still "
            f"{'have' if len(missing) > 1 else 'has'} stubs, so the reference runs "
            f"{'them' if len(missing) > 1 else 'it'}: TINYLSM_IMPL={os.environ['TINYLSM_IMPL']}."
        )
    else:
        raise NotebookStop(
            f"{line} Day{'s' if len(missing) > 1 else ''} {_span(missing)} still "
            f"{'have' if len(missing) > 1 else 'has'} stubs and this copy of the course has no reference: "
            "finish them, then run the notebook again."
        )
    print(line)
    return line
