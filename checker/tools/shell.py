"""``python -m checker shell [DIR]``: an interactive shell on the composed engine.

The shell opens an ``LsmStorage`` in ``DIR`` (or in a temporary directory that is
removed at exit) and lets you type operations and look at the tree they build::

    $ python -m checker shell --target-sst-size 4k
    tinylsm> fill 0 500
    put 500 keys: key00000000 .. key00000499 (0.02 s)
    tinylsm> get key00000042
    value00000042
    tinylsm> flush
    flushed: new SSTs 1, 2, 3; L0: 3 SSTs
    tinylsm> dump
    memtable 4: 0 entries, 0 B
    L0: 3 SSTs, 17.5 KiB
      SST 3    5.5 KiB  key00000342 .. key00000499
      SST 2    6.0 KiB  key00000171 .. key00000341
      SST 1    6.0 KiB  key00000000 .. key00000170

Keys and values are typed as text (UTF-8), as hex bytes with a ``0x`` prefix
(``0x00ff``), or quoted when they hold spaces (``"two words"``). Output shows
bytes as text when they are printable and as ``0x`` hex otherwise.

The engine is composed as ``TINYLSM_IMPL`` says (your days by default). The
features of days this copy of the course does not have yet are switched off, and
flushes and compactions run inside the command that triggers them (no background
thread), so that ``dump`` always shows the effect of the last command.

Commands can also be piped in (``printf 'put a 1\\nget a\\n' | python -m checker
shell``) or given with ``-c "put a 1; get a"``; then there is no banner and no
prompt, and the exit status is 1 if any command failed.
"""

from __future__ import annotations

import argparse
import cmd
import difflib
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from checker.common import DEFAULT_ROOT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, load_days, parse_arguments

if TYPE_CHECKING:
    from tinylsm.engine import LsmStorage
    from tinylsm.options import LsmStorageOptions
    from tinylsm.state import LsmStorageState

HISTORY_FILE_NAME = ".tinylsm_history"
HISTORY_LENGTH = 1000
SCAN_LIMIT = 50
"""Entries ``scan`` shows unless ``--limit`` says otherwise."""
SHOW_LIMIT = 60
"""Characters of a key or value shown before it is shortened."""
HELP_COLUMN = 24
"""Width of the usage column in ``help``; a longer usage gets a line of its own."""
DUMP_LIMIT = 20
"""SSTs ``dump`` lists per level unless ``--all`` is given."""
COMPACTIONS = ("none", "simple", "tiered", "leveled")

_TASK_MESSAGE = re.compile(r"(day(\d+)\.task(\d+))\s*:?\s*(.*)", re.DOTALL)
_SIZE = re.compile(r"(\d+)\s*([kKmM]?)(i?[bB])?")


class ShellError(Exception):
    """A command the shell cannot carry out as typed (wrong arguments, bad hex, ...)."""


# ----------------------------------------------------------------------------
# Bytes as the user types them and as the shell shows them
# ----------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------
# Messages about the engine's errors
# ----------------------------------------------------------------------------


def _where(error: BaseException) -> str:
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
        return f"unfinished: {text or 'NotImplementedError'} (raised at {_where(error)})"
    task, day, number, rest = match.groups()
    title = _task_title(int(day), int(number))
    name = f"{task} ({title})" if title else task
    return f"unfinished task {name}: {rest}" if rest else f"unfinished task {name}"


def _reference_hint(error: NotImplementedError) -> str:
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


def _traceback_text(error: BaseException) -> str:
    """The traceback of ``error`` without the shell's own frames."""
    skipped = {str(Path(__file__).resolve()), str(Path(cmd.__file__).resolve())}
    tb = error.__traceback__
    while tb is not None and str(Path(tb.tb_frame.f_code.co_filename).resolve()) in skipped:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb)).rstrip()


# ----------------------------------------------------------------------------
# Options and opening the engine
# ----------------------------------------------------------------------------


def _size_argument(text: str) -> int:
    """A size in bytes, as ``4096``, ``4k``, ``4KiB`` or ``2M``."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: use e.g. 4096, 4k or 2M")
    number, unit = int(match.group(1)), match.group(2).lower()
    return number * {"": 1, "k": 1024, "m": 1024 * 1024}[unit]


def shell_options(args: argparse.Namespace, present_days: set[int]) -> LsmStorageOptions:
    """The engine options for the shell: the course's defaults, then the flags.

    Features of days that this copy of the course does not have are off, and so
    is background work. Raises ``ShellError`` for flags that cannot be honoured.
    """
    from tinylsm.options import (
        LeveledCompactionOptions,
        NoCompaction,
        SimpleLeveledCompactionOptions,
        TieredCompactionOptions,
    )
    from tinylsm.testkit import options_for_day

    last_day = 0
    while last_day + 1 in present_days:
        last_day += 1
    fields: dict[str, object] = {}
    if args.compaction is not None:
        if args.compaction != "none" and 5 not in present_days:
            raise ShellError(f"--compaction {args.compaction} needs day 5, which this copy of the course does not have")
        strategies = {
            "none": NoCompaction,
            "simple": SimpleLeveledCompactionOptions,
            "tiered": TieredCompactionOptions,
            "leveled": LeveledCompactionOptions,
        }
        fields["compaction"] = strategies[args.compaction]()
    if args.no_wal:
        fields["enable_wal"] = False
    if args.no_manifest:
        fields["enable_manifest"] = False
    if args.target_sst_size is not None:
        fields["target_sst_size"] = args.target_sst_size
    if args.block_size is not None:
        fields["block_size"] = args.block_size
    try:
        return options_for_day(last_day, **fields)
    except (TypeError, ValueError) as error:
        raise ShellError(str(error)) from None


def compaction_name(options: LsmStorageOptions) -> str:
    """The ``--compaction`` name of the strategy in ``options``."""
    names = {
        "NoCompaction": "none",
        "SimpleLeveledCompactionOptions": "simple",
        "TieredCompactionOptions": "tiered",
        "LeveledCompactionOptions": "leveled",
    }
    return names.get(type(options.compaction).__name__, type(options.compaction).__name__)


def describe_options(options: LsmStorageOptions) -> str:
    """The options that matter in the shell, on one line."""
    on_off = {True: "on", False: "off"}
    return (
        f"compaction={compaction_name(options)} wal={on_off[options.enable_wal]} "
        f"manifest={on_off[options.enable_manifest]} block_size={human_size(options.block_size)} "
        f"target_sst_size={human_size(options.target_sst_size)} background_work={on_off[options.background_work]}"
    )


def open_engine(path: Path, options: LsmStorageOptions) -> LsmStorage:
    """Open the composed engine's ``LsmStorage`` in ``path``."""
    from tinylsm.engine import LsmStorage

    return LsmStorage.open(path, options)


# ----------------------------------------------------------------------------
# Describing the tree
# ----------------------------------------------------------------------------


def _count(number: int, noun: str, plural: str = "") -> str:
    """``1 SST``, ``2 SSTs``; ``plural`` for nouns that do not just take an s."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {plural or noun + 's'}"


def _ids(ids: Sequence[int]) -> str:
    return ("SST " if len(ids) == 1 else "SSTs ") + ", ".join(str(i) for i in ids)


def run_name(index: int, tiered: bool) -> str:
    """``L0`` for the first sorted run; then ``L1``, ``L2``, ... or ``tier 1``, ``tier 2``, ..."""
    if index == 0:
        return "L0"
    return f"tier {index}" if tiered else f"L{index}"


def tree_line(state: LsmStorageState, tiered: bool) -> str:
    """The number of SSTs in L0 and in each level (or tier): ``L0: 2 SSTs, L1: 1 SST``."""
    runs = [state.l0_sstables, *state.levels]
    return ", ".join(f"{run_name(i, tiered)}: {_count(len(run), 'SST')}" for i, run in enumerate(runs))


def tree_change(before: LsmStorageState, after: LsmStorageState) -> tuple[list[int], list[int]]:
    """The SST ids that ``after`` has and ``before`` had not, and the reverse."""
    old, new = set(before.sstables), set(after.sstables)
    return sorted(new - old), sorted(old - new)


# ----------------------------------------------------------------------------
# The shell
# ----------------------------------------------------------------------------


class LsmShell(cmd.Cmd):
    """A ``cmd.Cmd`` whose commands call an ``LsmStorage``; one ``do_NAME`` per command.

    The docstring of each ``do_NAME`` is its help: a one-line summary, then lines
    ``usage: ...`` and ``example: ...``, then optional notes.
    """

    ORDER = ("put", "get", "delete", "scan", "fill", "batch", "flush", "compact", "sync", "dump", "stats", "reopen")
    """The order in which ``help`` lists the commands (any others come after)."""
    HIDDEN = frozenset({"EOF", "exit"})
    """Commands that work but are not listed by ``help``."""

    def __init__(
        self,
        path: Path,
        options: LsmStorageOptions,
        db: LsmStorage,
        *,
        interactive: bool,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        from tinylsm.errors import CorruptionError, LsmError

        self.path = path
        self.options = options
        self.db: LsmStorage | None = db
        self.interactive = interactive
        self.stderr = stderr if stderr is not None else sys.stderr
        self.use_rawinput = interactive
        self.prompt = "tinylsm> " if interactive else ""
        self.failures = 0
        self._corruption_error = CorruptionError
        self._expected_errors: tuple[type[BaseException], ...] = (ShellError, TypeError, ValueError, LsmError)

    # --- the loop -------------------------------------------------------------

    def run(self, intro: str | None = None) -> None:
        """Read and run commands until ``quit`` or end of input; Ctrl-C only interrupts a command."""
        while True:
            try:
                self.cmdloop(intro)
                return
            except KeyboardInterrupt:
                if not self.interactive:
                    raise
                self.intro = intro = None
                self.say("\n(interrupted: type quit to leave)")

    def preloop(self) -> None:
        """Make Tab complete under macOS's libedit too (GNU readline needs nothing)."""
        if not self.use_rawinput:
            return
        try:
            import readline
        except ImportError:
            return
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")

    def onecmd(self, line: str) -> bool:
        """Run the commands of one line (separated by ``;``); ``True`` means leave the shell."""
        return any(self._run_one(command) for command in split_commands(line))

    def _run_one(self, line: str) -> bool:
        line = line.strip()
        if not line or line.startswith("#"):
            return False
        word, _, rest = line.partition(" ")
        if word.lower() in self.command_names():  # PUT a 1 works too
            line = f"{word.lower()} {rest}"
        try:
            return bool(super().onecmd(line))
        except NotImplementedError as error:
            self.fail(unfinished_message(error))
        except self._expected_errors as error:
            kind = "corrupt data: " if isinstance(error, self._corruption_error) else ""
            self.fail(f"error: {kind}{error}")
        except Exception as error:  # a bug in the engine: show where, and keep the shell alive
            self.fail(_traceback_text(error), count=False)
            self.fail(f"error: {type(error).__name__}: {error} (at {_where(error)})")
        return False

    def emptyline(self) -> bool:
        """An empty line does nothing (``cmd.Cmd`` would repeat the last command)."""
        return False

    def default(self, line: str) -> None:
        """An unknown command: suggest the closest one."""
        word = line.split()[0]
        close = difflib.get_close_matches(word.lower(), self.command_names(), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ShellError(f"unknown command {word!r}{hint}; type help for the list")

    def say(self, text: str) -> None:
        """Print one result line."""
        print(text, file=self.stdout)

    def fail(self, text: str, count: bool = True) -> None:
        """Print an error line (to stderr) and remember that a command failed."""
        self.stdout.flush()
        print(text, file=self.stderr, flush=True)
        if count:
            self.failures += 1

    # --- command names and help ---------------------------------------------------

    def command_names(self) -> list[str]:
        """Every command name, in alphabetical order (``EOF`` is not one: it is the end of input)."""
        return [name[3:] for name in dir(self.__class__) if name.startswith("do_") and name != "do_EOF"]

    def completenames(self, text: str, *ignored: object) -> list[str]:
        """Tab completion of the first word: the command names that start with ``text``."""
        return [name for name in self.command_names() if name.startswith(text.lower())]

    def _help_of(self, name: str) -> tuple[str, str, str, list[str]]:
        """(summary, usage, example, notes) of command ``name``, read from its docstring."""
        doc = getattr(self, f"do_{name}").__doc__ or name
        lines = [line.strip() for line in doc.strip().splitlines()]
        summary, usage, example, notes = lines[0], name, "", []
        for line in lines[1:]:
            if line.startswith("usage:"):
                usage = line.removeprefix("usage:").strip()
            elif line.startswith("example:"):
                example = line.removeprefix("example:").strip()
            elif line:
                notes.append(line)
        return summary, usage, example, notes

    def usage_error(self, name: str) -> ShellError:
        """The error for a command typed with the wrong arguments."""
        return ShellError(f"usage: {self._help_of(name)[1]}")

    def do_help(self, arg: str) -> None:
        """List the commands, or explain one.

        usage: help [COMMAND]
        example: help scan
        """
        name = arg.strip().lower()
        if name:
            if name not in self.command_names():
                self.default(name)  # raises: unknown command, did you mean ...
            summary, usage, example, notes = self._help_of(name)
            self.say(usage)
            for line in [summary, *notes]:
                self.say(f"    {line}")
            if example:
                self.say(f"    example: {example}")
            return
        listed = [name for name in self.command_names() if name not in self.HIDDEN]
        order = {name: i for i, name in enumerate(self.ORDER)}
        listed.sort(key=lambda name: order.get(name, len(order)))
        self.say("Commands (help COMMAND explains one, with an example):")
        for name in listed:
            summary, usage = self._help_of(name)[:2]
            if len(usage) > HELP_COLUMN:
                self.say(f"  {usage}")
                usage = ""
            self.say(f"  {usage:<{HELP_COLUMN}}  {summary}")
        self.say("Keys and values: text is UTF-8; 0x00ff is hex bytes; quote text with spaces: 'two words'.")
        self.say("Several commands on one line: put a 1; get a")

    # --- helpers of the commands ----------------------------------------------------

    @property
    def engine(self) -> LsmStorage:
        """The open engine; a ``ShellError`` if the last ``reopen`` failed."""
        if self.db is None:
            raise ShellError("no database is open (the last reopen failed): type reopen to try again, or quit")
        return self.db

    def words(self, name: str, arg: str, least: int, most: int | None = None) -> list[str]:
        """The words of ``arg`` (shell quoting), checked to number ``least`` to ``most``."""
        words = _shell_words(arg)
        if not least <= len(words) <= (least if most is None else most):
            raise self.usage_error(name)
        return words

    @property
    def tiered(self) -> bool:
        """Whether the levels below L0 are tiers (tiered compaction)."""
        return compaction_name(self.options) == "tiered"

    # --- the commands ---------------------------------------------------------------

    def do_put(self, arg: str) -> None:
        """Set KEY to VALUE.

        usage: put KEY VALUE
        example: put user:1 "Ada Lovelace"
        """
        key, value = self.words("put", arg, 2)
        self.engine.put(parse_bytes(key), parse_bytes(value))

    def do_get(self, arg: str) -> None:
        """Show the value of KEY, or (not found).

        usage: get KEY
        example: get user:1
        """
        (key,) = self.words("get", arg, 1)
        value = self.engine.get(parse_bytes(key))
        self.say("(not found)" if value is None else show(value))

    def do_delete(self, arg: str) -> None:
        """Delete KEY (writes a tombstone).

        usage: delete KEY
        example: delete user:1
        """
        (key,) = self.words("delete", arg, 1)
        self.engine.delete(parse_bytes(key))

    def do_scan(self, arg: str) -> None:
        """Show the entries from START (included) to STOP (excluded).

        usage: scan [START [STOP]] [--include-stop] [--exclude-start] [--limit N]
        example: scan key00000010 key00000020 --include-stop
        No START or STOP leaves that end open; scan '' STOP starts at the first key.
        --limit N shows at most N entries (default 50; 0 shows them all).
        """
        bounds: list[str] = []
        include_start, include_stop, limit = True, False, SCAN_LIMIT
        words = iter(_shell_words(arg))
        for word in words:
            if word == "--include-stop":
                include_stop = True
            elif word == "--exclude-start":
                include_start = False
            elif word == "--limit" or word.startswith("--limit="):
                text = word.partition("=")[2] if "=" in word else next(words, "")
                if not text.isdigit():
                    raise ShellError("--limit takes a number of entries, e.g. --limit 10 (0 for no limit)")
                limit = int(text)
            elif word.startswith("--"):
                raise ShellError(f"scan has no option {word}; usage: {self._help_of('scan')[1]}")
            else:
                bounds.append(word)
        if len(bounds) > 2:
            raise self.usage_error("scan")
        start, stop = [parse_bytes(bound) for bound in bounds] + [None] * (2 - len(bounds))
        entries = self.engine.scan(start, stop, include_start=include_start, include_stop=include_stop)
        shown: list[tuple[str, str]] = []
        more = 0
        for key, value in entries:
            if limit and len(shown) >= limit:
                more += 1
            else:
                shown.append((show(key), show(value)))
        if not shown:
            self.say("(no entries)")
            return
        width = max(len(key) for key, _ in shown)
        for key, value in shown:
            self.say(f"{key:<{width}}  {value}")
        if more:
            self.say(f"... {more:,} more (scan --limit N shows more)")

    def do_fill(self, arg: str) -> None:
        """Put keys key%08d for START <= i < END, for quick experiments.

        usage: fill START END [VALUE]
        example: fill 0 1000
        Values are value%08d, unless VALUE is given (then every key gets it).
        """
        words = self.words("fill", arg, 2, 3)
        if not (words[0].isdigit() and words[1].isdigit()):
            raise ShellError(f"START and END are whole numbers; usage: {self._help_of('fill')[1]}")
        first, end = int(words[0]), int(words[1])
        if end < first:
            raise ShellError(f"END ({end}) is below START ({first})")
        value = parse_bytes(words[2]) if len(words) == 3 else None
        engine = self.engine
        began = time.perf_counter()
        for i in range(first, end):
            try:
                engine.put(b"key%08d" % i, value if value is not None else b"value%08d" % i)
            except KeyboardInterrupt:
                self.say(f"interrupted: put {_count(i - first, 'key')}, key{first:08d} .. key{i - 1:08d}")
                return
        elapsed = time.perf_counter() - began
        if end == first:
            self.say("put 0 keys")
        else:
            self.say(f"put {_count(end - first, 'key')}: key{first:08d} .. key{end - 1:08d} ({elapsed:.2f} s)")

    def do_batch(self, arg: str) -> None:
        """Apply several puts and deletes together (write_batch).

        usage: batch put KEY VALUE | del KEY ...
        example: batch put a 1 del b put c 3
        """
        words = _shell_words(arg)
        ops: list[tuple[bytes, bytes | None]] = []
        position = 0
        while position < len(words):
            op = words[position].lower()
            if op == "put" and position + 2 < len(words):
                ops.append((parse_bytes(words[position + 1]), parse_bytes(words[position + 2])))
                position += 3
            elif op in ("del", "delete") and position + 1 < len(words):
                ops.append((parse_bytes(words[position + 1]), None))
                position += 2
            elif op in ("put", "del", "delete"):
                raise ShellError(f"batch: {op} at the end is missing its {'KEY VALUE' if op == 'put' else 'KEY'}")
            else:
                raise ShellError(f"batch: expected put or del, got {words[position]!r}")
        if not ops:
            raise self.usage_error("batch")
        self.engine.write_batch(ops)

    def do_flush(self, arg: str) -> None:
        """Write the memtables to new L0 SSTs (force_flush).

        usage: flush
        example: flush
        """
        self.words("flush", arg, 0)
        engine = self.engine
        before = engine.state
        engine.force_flush()
        after = engine.state
        added, removed = tree_change(before, after)
        if not added and not removed:
            self.say(f"nothing to flush: the memtables are empty; {tree_line(after, self.tiered)}")
            return
        change = f"new {_ids(added)}" + (f", removed {_ids(removed)}" if removed else "")
        self.say(f"flushed: {change}; {tree_line(after, self.tiered)}")

    def do_compact(self, arg: str) -> None:
        """Compact every SST into the bottom level (force_full_compaction).

        usage: compact
        example: compact
        """
        self.words("compact", arg, 0)
        engine = self.engine
        before = engine.state
        engine.force_full_compaction()
        after = engine.state
        added, removed = tree_change(before, after)
        if not added and not removed:
            self.say(f"nothing to compact; {tree_line(after, self.tiered)}")
            return
        new = _ids(added) if added else "nothing (every entry was deleted)"
        self.say(f"compacted: {_ids(removed)} -> {new}; {tree_line(after, self.tiered)}")

    def do_sync(self, arg: str) -> None:
        """Make every write so far survive a crash (sync).

        usage: sync
        example: sync
        Without a write-ahead log, sync flushes the memtables.
        """
        self.words("sync", arg, 0)
        engine = self.engine
        before = engine.state
        engine.sync()
        added, _ = tree_change(before, engine.state)
        if self.options.enable_wal:
            self.say("synced: the write-ahead log is on disk")
        elif added:
            self.say(f"synced: no write-ahead log, so the memtables were flushed (new {_ids(added)})")
        else:
            self.say("synced: no write-ahead log, and the memtables were empty")

    def do_dump(self, arg: str) -> None:
        """Show the memtables, then each level (or tier) with its SSTs.

        usage: dump [--all]
        example: dump
        Each SST is shown with its id, size and first .. last key; --all lists every SST.
        """
        words = self.words("dump", arg, 0, 1)
        if words and words[0] != "--all":
            raise self.usage_error("dump")
        state = self.engine.state
        memtable = state.memtable
        self.say(
            f"memtable {memtable.id}: {_count(len(memtable), 'entry', 'entries')}, "
            f"{human_size(memtable.approximate_size())}"
        )
        for frozen in state.imm_memtables:
            entries = _count(len(frozen), "entry", "entries")
            self.say(f"immutable memtable {frozen.id}: {entries}, {human_size(frozen.approximate_size())}")
        tables = state.sstables
        for index, run in enumerate([state.l0_sstables, *state.levels]):
            size = sum(tables[sst_id].size for sst_id in run)
            self.say(f"{run_name(index, self.tiered)}: {_count(len(run), 'SST')}, {human_size(size)}")
            listed = run if words else run[:DUMP_LIMIT]
            id_width = max((len(str(sst_id)) for sst_id in listed), default=1)
            for sst_id in listed:
                table = tables[sst_id]
                keys = f"{show(table.first_key, 24)} .. {show(table.last_key, 24)}"
                self.say(f"  SST {sst_id:>{id_width}}  {human_size(table.size):>9}  {keys}")
            if len(run) > len(listed):
                self.say(f"  ... {len(run) - len(listed)} more (dump --all lists them)")

    def do_stats(self, arg: str) -> None:
        """Show the engine's stats(): the tree's shape and its counters.

        usage: stats
        example: stats
        """
        self.words("stats", arg, 0)
        stats = self.engine.stats()
        width = max((len(name) for name in stats), default=0)
        for name, value in stats.items():
            if name == "levels" and isinstance(value, list):
                self.say(f"{name:<{width}}  {_levels_text(value, self.tiered)}")
            elif isinstance(value, float):
                self.say(f"{name:<{width}}  {value:.2f}")
            elif isinstance(value, int) and "bytes" in name and value >= 1024:
                self.say(f"{name:<{width}}  {value:,} ({human_size(value)})")
            elif isinstance(value, int):
                self.say(f"{name:<{width}}  {value:,}")
            else:
                self.say(f"{name:<{width}}  {value}")

    def do_reopen(self, arg: str) -> None:
        """Close and open the directory again, to see what recovery finds.

        usage: reopen
        example: reopen
        """
        self.words("reopen", arg, 0)
        if self.db is not None:
            db, self.db = self.db, None
            db.close()
        self.db = open_engine(self.path, self.options)
        state = self.db.state
        memtables = [state.memtable, *state.imm_memtables]
        entries = sum(len(memtable) for memtable in memtables)
        self.say(f"reopened: {tree_line(state, self.tiered)}; {_count(entries, 'entry', 'entries')} in the memtables")

    def do_quit(self, arg: str) -> bool:
        """Close the database and leave (also: exit, or Ctrl-D).

        usage: quit
        example: quit
        """
        self.close()
        return True

    def do_exit(self, arg: str) -> bool:
        """Close the database and leave (same as quit).

        usage: exit
        example: exit
        """
        return self.do_quit(arg)

    def do_EOF(self, arg: str) -> bool:
        """End of input: close the database and leave."""
        if self.interactive:
            self.say("")
        return self.do_quit(arg)

    def close(self) -> None:
        """Close the database, if it is open (reporting, not raising, a failure)."""
        if self.db is None:
            return
        db, self.db = self.db, None
        try:
            db.close()
        except NotImplementedError as error:
            self.fail(unfinished_message(error))
        except Exception as error:
            self.fail(f"error: closing the database failed: {type(error).__name__}: {error} (at {_where(error)})")


def _shell_words(arg: str) -> list[str]:
    """Split ``arg`` into words as a shell would (quotes keep spaces)."""
    import shlex

    try:
        return shlex.split(arg)
    except ValueError as error:  # an unclosed quote
        raise ShellError(f"cannot read the line: {str(error).lower()}") from None


def _levels_text(levels: list, tiered: bool) -> str:
    """The ``levels`` entry of ``stats()`` on one line: ``L0: 2 SSTs, 8.0 KiB; L1: ...``."""
    parts = []
    for index, level in enumerate(levels):
        if isinstance(level, dict) and {"ssts", "bytes"} <= level.keys():
            parts.append(f"{run_name(index, tiered)}: {_count(level['ssts'], 'SST')}, {human_size(level['bytes'])}")
        else:
            parts.append(f"{run_name(index, tiered)}: {level}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------
# History
# ----------------------------------------------------------------------------


def load_history() -> Path | None:
    """Read the history file from the home directory; its path, or ``None`` for no history.

    Nothing here may stop the shell: without readline, or without a writable home
    directory, there is simply no history.
    """
    try:
        import readline

        home = Path.home()
        if not os.access(home, os.W_OK):
            return None
        path = home / HISTORY_FILE_NAME
        if path.exists():
            readline.read_history_file(path)
        readline.set_history_length(HISTORY_LENGTH)
        return path
    except Exception:
        return None


def save_history(path: Path | None) -> None:
    """Write the history file (silently giving up if it cannot be written)."""
    if path is None:
        return
    try:
        import readline

        readline.write_history_file(path)
    except Exception:
        pass


# ----------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checker shell",
        description="An interactive shell on the engine that TINYLSM_IMPL composes (your days by default).",
        epilog=(
            "examples:\n"
            "  python -m checker shell                      a temporary database, removed at exit\n"
            "  python -m checker shell data --compaction tiered --target-sst-size 4k\n"
            "  python -m checker shell -c 'fill 0 100; flush; dump'\n"
            "  printf 'put a 1\\nget a\\n' | python -m checker shell"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("directory", nargs="?", metavar="DIR", help="the database directory (default: a temporary one)")
    parser.add_argument(
        "--compaction", choices=COMPACTIONS, help="compaction strategy (default: leveled once day 5 exists)"
    )
    parser.add_argument("--no-wal", action="store_true", help="no write-ahead log (sync then flushes the memtables)")
    parser.add_argument(
        "--no-manifest",
        action="store_true",
        help="no manifest (with --no-wal and --compaction none: the engine of days 1-4, before day 6 is written)",
    )
    parser.add_argument("--target-sst-size", type=_size_argument, metavar="BYTES", help="SST and memtable size")
    parser.add_argument("--block-size", type=_size_argument, metavar="BYTES", help="block size inside an SST")
    parser.add_argument("-c", dest="commands", metavar="COMMANDS", help="run these commands (';' between them), exit")
    return parser


def main(argv: list[str]) -> int:
    """Run the shell; the exit status is 0, 1 (open failed, or a command failed) or 2 (usage)."""
    args = parse_arguments(_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        import tinylsm  # chooses the composition, from TINYLSM_IMPL
    except ValueError as error:  # TINYLSM_IMPL names no composition
        print(f"shell: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        options = shell_options(args, set(tinylsm.COMPOSITION.sources))
    except ShellError as error:
        print(f"shell: {error}", file=sys.stderr)
        return EXIT_USAGE

    temporary = args.directory is None
    path = Path(tempfile.mkdtemp(prefix="tinylsm-shell-")) if temporary else Path(args.directory)
    try:
        return _run(args, path, temporary, options, tinylsm.COMPOSITION.describe())
    finally:
        if temporary:
            shutil.rmtree(path, ignore_errors=True)


def _run(args: argparse.Namespace, path: Path, temporary: bool, options: LsmStorageOptions, composition: str) -> int:
    """Open the engine in ``path``, run the commands, close it; the exit status."""
    try:
        db = open_engine(path, options)
    except NotImplementedError as error:
        print(f"shell: cannot open the database: {unfinished_message(error)}{_reference_hint(error)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        print(f"shell: cannot open the database in {path}: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED

    interactive = args.commands is None and sys.stdin.isatty()
    shell = LsmShell(path, options, db, interactive=interactive)
    try:
        if args.commands is not None:
            shell.onecmd(args.commands)
        elif interactive:
            history = load_history()
            where = f"{path} (temporary: removed at exit)" if temporary else str(path)
            banner = (
                f"TinyLSM shell · engine: {composition}\n"
                f"database: {where}\n"
                f"options: {describe_options(options)}\n"
                "Type help for the commands, quit (or Ctrl-D) to leave."
            )
            try:
                shell.run(banner)
            finally:
                save_history(history)
        else:
            shell.run()
    except KeyboardInterrupt:
        shell.fail("interrupted")
    finally:
        shell.close()
    if interactive and temporary:
        print("the temporary database was removed")
    return EXIT_FAILED if shell.failures and not interactive else EXIT_OK
