"""Day 4 hidden tests: arguments that open cannot use, and a scan that outlives its engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinylsm.engine import LsmStorage
from tinylsm.errors import LsmError
from tinylsm.testkit import options_for_day


def options():
    return options_for_day(4, target_sst_size=256, block_size=64, num_memtable_limit=1000)


@pytest.mark.day4_task1
def test_open_on_a_regular_file_raises_lsm_error_and_leaves_it_alone(tmp_path: Path) -> None:
    """LsmStorage.open on a path that is a regular file did not raise LsmError, or changed the file."""
    path = tmp_path / "not-a-database"
    path.write_bytes(b"someone's notes")
    with pytest.raises(LsmError):
        LsmStorage.open(path, options())
        pytest.fail("open on a regular file should raise LsmError: a database is a directory")
    assert path.read_bytes() == b"someone's notes", "a refused open must leave the file as it was"


@pytest.mark.day4_task1
@pytest.mark.parametrize("bad", ["x", 4096, {"block_size": 64}], ids=["str", "int", "dict"])
def test_open_with_options_of_the_wrong_type_raises_type_error(tmp_path: Path, bad: object) -> None:
    """LsmStorage.open with options that are not an LsmStorageOptions did not raise TypeError."""
    with pytest.raises(TypeError):
        LsmStorage.open(tmp_path / "db", bad)
        pytest.fail(f"open(path, {bad!r}) should raise TypeError")
    assert not (tmp_path / "db").exists(), "a refused open must not create the directory"


@pytest.mark.day4_task3
@pytest.mark.parametrize("started", [False, True], ids=["unstarted", "half-read"])
def test_scan_iterated_after_close_raises_lsm_error(tmp_path: Path, started: bool) -> None:
    """A scan created before close() still yielded entries after close() instead of raising LsmError."""
    db = LsmStorage.open(tmp_path, options())
    for n in range(40):
        db.put(b"key%03d" % n, b"value%03d" % n)
    db.force_flush()
    db.put(b"key999", b"in the memtable")
    entries = db.scan()
    if started:
        next(entries)
    db.close()
    with pytest.raises(LsmError):
        got = next(entries)
        pytest.fail(f"a scan iterated after close() should raise LsmError, but it yielded {got!r}")


class _CompactorThatCannotStart:
    """A compactor whose thread cannot be started (as when the process may start no more threads)."""

    def start(self) -> None:
        raise OSError("can't start a new thread")

    def stop(self) -> None:
        pass


def _refused_durability(*args: object) -> None:
    raise OSError("the disk is gone")


@pytest.mark.day4_task1
@pytest.mark.parametrize("broken", ["durability", "compactor"])
def test_an_open_that_fails_gives_the_directory_back(broken: str, tmp_path: Path, monkeypatch) -> None:
    """An open that failed (its durability layer or compactor could not start) kept the directory locked."""
    import tinylsm.extensions
    from tinylsm.options import SimpleLeveledCompactionOptions

    chosen = options_for_day(4, target_sst_size=256, block_size=64, compaction=SimpleLeveledCompactionOptions())
    replacement = _refused_durability if broken == "durability" else (lambda engine: _CompactorThatCannotStart())
    monkeypatch.setattr(tinylsm.extensions, broken, replacement)
    with pytest.raises(OSError):
        LsmStorage.open(tmp_path, chosen)
    monkeypatch.undo()
    db = LsmStorage.open(tmp_path, chosen)  # not "already open": the failed open gave the directory back
    db.put(b"k", b"v")
    got = db.get(b"k")
    assert got == b"v", f"after a failed open, a second open must work: get(b'k') gave {got!r}, expected b'v'"
    db.close()
