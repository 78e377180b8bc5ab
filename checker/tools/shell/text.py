"""How the shell reads and shows the engine's things: bytes, sizes, messages about errors, the tree in a line."""

from __future__ import annotations

import cmd
import re
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from checker.common import DEFAULT_ROOT, load_days

if TYPE_CHECKING:
    from tinylsm.state import LsmStorageState


SHOW_LIMIT = 60
"""Characters of a key or value shown before it is shortened."""

_TASK_MESSAGE = re.compile(r"(day(\d+)\.task(\d+))\s*:?\s*(.*)", re.DOTALL)


class ShellError(Exception):
    """A command the shell cannot carry out as typed (wrong arguments, bad hex, ...)."""


def parse_bytes(word: str) -> bytes:
    """The bytes a typed word stands for: ``0x00ff`` is hex, anything else UTF-8 text.

    >>> parse_bytes("0x00ff"), parse_bytes("héllo")
    (b'\\x00\\xff', b'h\\xc3\\xa9llo')
    """
    if word.startswith("0x"):
        try:
            return bytes.fromhex(word[2:])
        except ValueError:
            raise ShellError(f"{word!r} is not hex: after 0x come pairs of hex digits, e.g. 0x00ff") from None
    return word.encode("utf-8")


def show(data: bytes, limit: int = SHOW_LIMIT) -> str:
    """``data`` as the shell prints it: text if printable (quoted if needed), else ``0x`` hex.

    What is shown can be typed back to mean the same bytes, unless it is longer
    than ``limit`` characters: then it is cut and ends with ``... (N bytes)``.

    >>> show(b"alice"), show(b"two words"), show(b"\\x00\\xff"), show(b"")
    ('alice', "'two words'", '0x00ff', "''")
    """
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    shown = _quoted(text) if text is not None and text.isprintable() and not text.startswith("0x") else None
    if shown is None:
        shown = "0x" + data.hex()
    if len(shown) > limit:
        shown = f"{shown[:limit]}... ({len(data):,} bytes)"
    return shown


def _quoted(text: str) -> str | None:
    """``text`` as it can be typed back to the shell, or ``None`` if quotes cannot hold it."""
    if text and not any(char.isspace() or char in "'\"\\;#" for char in text):
        return text
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text and "\\" not in text:
        return f'"{text}"'
    return None


def human_size(size: int) -> str:
    """A byte count for people: ``512 B``, ``4.0 KiB``, ``2.0 MiB``."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def split_commands(line: str) -> list[str]:
    """Split a line at the semicolons that are not inside quotes.

    >>> split_commands("put a 1; put b 'x;y' ;get a")
    ['put a 1', " put b 'x;y' ", 'get a']
    """
    commands: list[str] = []
    current: list[str] = []
    quote = ""
    escaped = False
    for char in line:
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == ";":
            commands.append("".join(current))
            current = []
            continue
        current.append(char)
    commands.append("".join(current))
    return commands


def where(error: BaseException) -> str:
    """Where ``error`` was raised: ``days/day4/engine.py:120, in get``."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "an unknown place"
    frame = frames[-1]
    path = Path(frame.filename)
    try:
        name = str(path.resolve().relative_to(DEFAULT_ROOT))
    except ValueError:
        name = path.name
    return f"{name}:{frame.lineno}, in {frame.name}"


def _task_title(day: int, task: int) -> str:
    """The title ``course.toml`` gives task ``task`` of day ``day`` ("" if none)."""
    for course_day in load_days():
        if course_day.number == day and 1 <= task <= len(course_day.tasks):
            return course_day.tasks[task - 1]
    return ""


def unfinished_message(error: NotImplementedError) -> str:
    """One line naming the unfinished task that raised ``error``.

    The stubs raise e.g. ``NotImplementedError("day4.task2: LsmStorage.get — see
    book: Day 4, Task 2")``, which becomes ``unfinished task day4.task2 (Point
    reads): LsmStorage.get — see book: Day 4, Task 2``.
    """
    text = str(error).strip()
    match = _TASK_MESSAGE.fullmatch(text)
    if match is None:
        return f"unfinished: {text or 'NotImplementedError'} (raised at {where(error)})"
    task, day, number, rest = match.groups()
    title = _task_title(int(day), int(number))
    name = f"{task} ({title})" if title else task
    return f"unfinished task {name}: {rest}" if rest else f"unfinished task {name}"


def reference_hint(error: NotImplementedError) -> str:
    """How to try the shell with the reference for the unfinished day ("" if not possible)."""
    match = _TASK_MESSAGE.fullmatch(str(error).strip())
    if match is None or not (DEFAULT_ROOT / "solutions").is_dir():
        return ""
    day = int(match.group(2))
    if day == 1:
        impl = "solutions"
    elif day == 2:
        impl = "student:1"
    else:
        impl = f"student:1-{day - 1}"
    return f" (to use the reference from day {day} on: TINYLSM_IMPL={impl} python -m checker shell)"


def traceback_text(error: BaseException) -> str:
    """The traceback of ``error`` without the shell's own frames."""
    skipped = {str(path.resolve()) for path in Path(__file__).parent.glob("*.py")} | {str(Path(cmd.__file__).resolve())}
    tb = error.__traceback__
    while tb is not None and str(Path(tb.tb_frame.f_code.co_filename).resolve()) in skipped:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb)).rstrip()


def count(number: int, noun: str, plural: str = "") -> str:
    """``1 SST``, ``2 SSTs``; ``plural`` for nouns that do not just take an s."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {plural or noun + 's'}"


def ids(ids: Sequence[int]) -> str:
    return ("SST " if len(ids) == 1 else "SSTs ") + ", ".join(str(i) for i in ids)


def run_name(index: int, tiered: bool) -> str:
    """``L0`` for the first sorted run; then ``L1``, ``L2``, ... or ``tier 1``, ``tier 2``, ..."""
    if index == 0:
        return "L0"
    return f"tier {index}" if tiered else f"L{index}"


def tree_line(state: LsmStorageState, tiered: bool) -> str:
    """The number of SSTs in L0 and in each level (or tier): ``L0: 2 SSTs, L1: 1 SST``."""
    runs = [state.l0_sstables, *state.levels]
    return ", ".join(f"{run_name(i, tiered)}: {count(len(run), 'SST')}" for i, run in enumerate(runs))


def tree_change(before: LsmStorageState, after: LsmStorageState) -> tuple[list[int], list[int]]:
    """The SST ids that ``after`` has and ``before`` had not, and the reverse."""
    old, new = set(before.sstables), set(after.sstables)
    return sorted(new - old), sorted(old - new)
