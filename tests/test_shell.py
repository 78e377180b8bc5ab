"""``python -m checker shell``: piped sessions, ``-c``, persistence, errors and the stubs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from checker.tools.shell.text import parse_bytes, show, split_commands
from tests.helpers import ROOT


def shell(*args: str, stdin: str = "", impl: str = "solutions", env: dict[str, str] | None = None):
    """Run ``python -m checker shell ARGS`` with ``stdin`` piped in (so: no banner, no prompt)."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("TINYLSM_")}
    full_env.update({"TINYLSM_IMPL": impl, **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "checker", "shell", *args],
        input=stdin,
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_a_piped_session_reads_writes_and_shows_the_tree() -> None:
    session = "\n".join(
        [
            "put a 1",
            'put b "two words"',
            "get a",
            "get b",
            "delete a",
            "get a",
            "scan",
            "flush",
            "put c 3",
            "flush",
            "compact",
            "dump",
            "stats",
            "reopen",
            "get b",
            "get c",
            "scan",
        ]
    )
    completed = shell(stdin=session + "\n")
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    out = lines(completed.stdout)
    assert out[:4] == ["1", "'two words'", "(not found)", "b  'two words'"]
    assert re.fullmatch(r"flushed: new SST \d+; L0: 1 SST.*", out[4])
    assert re.fullmatch(r"flushed: new SST \d+; L0: 2 SSTs.*", out[5])
    assert re.fullmatch(r"compacted: SSTs \d+, \d+ -> SST \d+; L0: 0 SSTs, .*L\d: 1 SST", out[6])
    assert any(re.fullmatch(r"  SST +\d+ +\d+ B  b \.\. c", line) for line in out), out
    assert any(re.fullmatch(r"user_bytes_written +\d+", line) for line in out), out
    assert any(line.startswith("reopened: L0: 0 SSTs") for line in out), out
    assert out[-4:] == ["'two words'", "3", "b  'two words'", "c  3"]


def test_hex_keys_and_values_and_how_bytes_are_shown() -> None:
    completed = shell("-c", "put 0x00ff 0xdeadbeef; put k 0x; put 0x3078 héllo; get 0x00ff; get k; scan")
    assert completed.returncode == 0, completed.stderr
    # b"0x" is shown in hex, so that typing it back gives the same bytes.
    assert lines(completed.stdout) == ["0xdeadbeef", "''", "0x00ff  0xdeadbeef", "0x3078  héllo", "k       ''"]


def test_errors_print_one_line_and_the_session_goes_on() -> None:
    completed = shell(stdin="gte a\nput a\nput 0xzz 1\nscan a b c\nbatch put a\nput a 1\nget a\n")
    assert completed.stdout == "1\n"
    errors = lines(completed.stderr)
    assert len(errors) == 5, errors
    assert errors[0] == "error: unknown command 'gte' (did you mean get?); type help for the list"
    assert errors[1] == "error: usage: put KEY VALUE"
    assert "not hex" in errors[2]
    assert errors[3].startswith("error: usage: scan")
    assert "missing" in errors[4]
    assert completed.returncode == 1  # piped: a failed command makes the exit status 1


def test_engine_errors_are_reported_not_raised() -> None:
    completed = shell("-c", "put '' 1; get a; reopen; get a")
    assert lines(completed.stdout)[0] == "(not found)"
    assert lines(completed.stderr)[0].startswith("error: key must be 1 to")


def test_c_runs_commands_separated_by_semicolons_and_exits() -> None:
    completed = shell("-c", "put a 1; get a; put 'x;y' 2;get 'x;y'; PUT b 3; get b")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "1\n2\n3\n"


def test_scan_bounds_and_limit() -> None:
    commands = [
        "fill 0 60",
        "scan key00000001 key00000003 --include-stop",
        "scan key00000001 key00000003 --exclude-start",
        "scan key00000058",
        "scan",
        "scan --limit 0",
    ]
    completed = shell("-c", "; ".join(commands))
    assert completed.returncode == 0, completed.stderr
    out = lines(completed.stdout)
    assert out[0] == "put 60 keys: key00000000 .. key00000059 (" + out[0].split("(")[1]
    assert out[1:5] == [
        "key00000001  value00000001",
        "key00000002  value00000002",
        "key00000003  value00000003",
        "key00000002  value00000002",
    ]
    assert out[5:7] == ["key00000058  value00000058", "key00000059  value00000059"]
    assert out[7 + 49] == "key00000049  value00000049"
    assert out[7 + 50] == "... 10 more (scan --limit N shows more)"
    assert len(out) == 7 + 51 + 60


def test_batch_applies_puts_and_deletes() -> None:
    completed = shell("-c", "put b 2; batch put a 1 del b put c 3; scan")
    assert completed.returncode == 0, completed.stderr
    assert lines(completed.stdout) == ["a  1", "c  3"]


def test_a_directory_keeps_its_data_across_runs(tmp_path: Path) -> None:
    directory = str(tmp_path / "db")
    first = shell(directory, "-c", "put k v; fill 0 3; delete key00000001")
    assert first.returncode == 0, first.stderr
    second = shell(directory, "-c", "get k; get key00000001; get key00000002")
    assert second.returncode == 0, second.stderr
    assert lines(second.stdout) == ["v", "(not found)", "value00000002"]


def test_the_temporary_directory_is_removed(tmp_path: Path) -> None:
    completed = shell("-c", "fill 0 10; flush", env={"TMPDIR": str(tmp_path)})
    assert completed.returncode == 0, completed.stderr
    assert list(tmp_path.iterdir()) == []


def test_flags_choose_the_options() -> None:
    plain = shell("--compaction", "none", "--no-wal", "--target-sst-size", "1k", "-c", "fill 0 100; sync; dump")
    assert plain.returncode == 0, plain.stderr
    assert "synced: no write-ahead log" in plain.stdout
    l0 = re.search(r"^L0: (\d+) SSTs", plain.stdout, re.MULTILINE)
    assert l0 is not None and int(l0.group(1)) >= 2, plain.stdout
    tiered = shell("--compaction", "tiered", "-c", "fill 0 10; flush; dump")
    assert tiered.returncode == 0, tiered.stderr
    assert "tier 1: 1 SST" in tiered.stdout
    bad = shell("--block-size", "100000", "-c", "get a")
    assert bad.returncode == 2 and "block_size" in bad.stderr


def test_help_lists_every_command_and_explains_each_with_an_example() -> None:
    listing = shell("-c", "help")
    names = re.findall(r"^  (\w+)", listing.stdout, re.MULTILINE)
    assert {"put", "get", "delete", "scan", "fill", "batch", "flush", "compact"} <= set(names)
    assert {"sync", "dump", "stats", "reopen", "quit"} <= set(names)
    explained = shell("-c", "; ".join(f"help {name}" for name in names))
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.count("    example: ") == len(names)


def test_the_stubs_name_the_unfinished_task() -> None:
    completed = shell("-c", "put a 1; get a", impl="student")
    assert completed.returncode == 1
    assert completed.stdout == ""
    # Either opening fails (one line, then exit) or each command names its unfinished task.
    errors = lines(completed.stderr)
    assert errors and all(re.search(r"unfinished task day\d+\.task\d+ \(.+\): ", line) for line in errors), errors


@pytest.mark.parametrize(
    "data", [b"alice", b"two words", b"it's", b"", b"\x00\xff", b"0x12", b"caf\xc3\xa9", b"a;b", b"#1", b"tab\there"]
)
def test_what_is_shown_can_be_typed_back(data: bytes) -> None:
    (word,) = split_commands(show(data))
    (typed,) = shlex.split(word)
    assert parse_bytes(typed) == data


def test_long_values_are_shortened() -> None:
    shown = show(b"x" * 1000)
    assert shown == "x" * 60 + "... (1,000 bytes)"
