"""The shell itself: one ``do_*`` method per command, each with its help."""

from __future__ import annotations

import cmd
import difflib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from checker.tools.shell.options import compaction_name, open_engine
from checker.tools.shell.text import (
    ShellError,
    count,
    human_size,
    ids,
    parse_bytes,
    run_name,
    show,
    split_commands,
    traceback_text,
    tree_change,
    tree_line,
    unfinished_message,
    where,
)

if TYPE_CHECKING:
    from tinylsm.engine import LsmStorage
    from tinylsm.options import LsmStorageOptions


SCAN_LIMIT = 50
"""Entries ``scan`` shows unless ``--limit`` says otherwise."""

HELP_COLUMN = 24
"""Width of the usage column in ``help``; a longer usage gets a line of its own."""
DUMP_LIMIT = 20
"""SSTs ``dump`` lists per level unless ``--all`` is given."""


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
            self.fail(traceback_text(error), count=False)
            self.fail(f"error: {type(error).__name__}: {error} (at {where(error)})")
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
                self.say(f"interrupted: put {count(i - first, 'key')}, key{first:08d} .. key{i - 1:08d}")
                return
        elapsed = time.perf_counter() - began
        if end == first:
            self.say("put 0 keys")
        else:
            self.say(f"put {count(end - first, 'key')}: key{first:08d} .. key{end - 1:08d} ({elapsed:.2f} s)")

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
        change = f"new {ids(added)}" + (f", removed {ids(removed)}" if removed else "")
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
        new = ids(added) if added else "nothing (every entry was deleted)"
        self.say(f"compacted: {ids(removed)} -> {new}; {tree_line(after, self.tiered)}")

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
            self.say(f"synced: no write-ahead log, so the memtables were flushed (new {ids(added)})")
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
            f"memtable {memtable.id}: {count(len(memtable), 'entry', 'entries')}, "
            f"{human_size(memtable.approximate_size())}"
        )
        for frozen in state.imm_memtables:
            entries = count(len(frozen), "entry", "entries")
            self.say(f"immutable memtable {frozen.id}: {entries}, {human_size(frozen.approximate_size())}")
        tables = state.sstables
        for index, run in enumerate([state.l0_sstables, *state.levels]):
            size = sum(tables[sst_id].size for sst_id in run)
            self.say(f"{run_name(index, self.tiered)}: {count(len(run), 'SST')}, {human_size(size)}")
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
        self.say(f"reopened: {tree_line(state, self.tiered)}; {count(entries, 'entry', 'entries')} in the memtables")

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
            self.fail(f"error: closing the database failed: {type(error).__name__}: {error} (at {where(error)})")


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
            parts.append(f"{run_name(index, tiered)}: {count(level['ssts'], 'SST')}, {human_size(level['bytes'])}")
        else:
            parts.append(f"{run_name(index, tiered)}: {level}")
    return "; ".join(parts)
