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

This module is the command line and the history file; ``commands`` is the shell
and its commands, ``options`` builds the engine's options from the arguments,
``text`` reads and shows bytes, sizes, errors and the tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from checker.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, parse_arguments
from checker.tools.shell.commands import LsmShell
from checker.tools.shell.options import COMPACTIONS, describe_options, open_engine, shell_options, size_argument
from checker.tools.shell.text import ShellError, reference_hint, unfinished_message

if TYPE_CHECKING:
    from tinylsm.options import LsmStorageOptions


HISTORY_FILE_NAME = ".tinylsm_history"
HISTORY_LENGTH = 1000


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
    parser.add_argument("--target-sst-size", type=size_argument, metavar="BYTES", help="SST and memtable size")
    parser.add_argument("--block-size", type=size_argument, metavar="BYTES", help="block size inside an SST")
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
        print(f"shell: cannot open the database: {unfinished_message(error)}{reference_hint(error)}", file=sys.stderr)
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
