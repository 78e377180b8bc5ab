"""Day 6 visible tests for the torn-tail rule (task 3): only the newest log can end in a torn write.

Run with ``pytest days/day6``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tinylsm.engine import LsmStorage
from tinylsm.errors import CorruptionError
from tinylsm.files import wal_path
from tinylsm.options import NoCompaction
from tinylsm.testkit import options_for_day, show

OpenDb = Callable[[Path], LsmStorage]


@pytest.fixture
def open_db() -> Iterator[OpenDb]:
    opened: list[LsmStorage] = []

    def open_(path: Path) -> LsmStorage:
        options = options_for_day(6, target_sst_size=300, num_memtable_limit=50, compaction=NoCompaction())
        db = LsmStorage.open(path, options)
        opened.append(db)
        return db

    yield open_
    for db in reversed(opened):
        with contextlib.suppress(Exception):
            db.close()


def logs_of_a_session(open_db: OpenDb, directory: Path) -> tuple[dict[bytes, bytes], list[Path]]:
    """40 writes over several memtables, none flushed, a clean close: the last write's key, and the WALs."""
    db = open_db(directory)
    for n in range(40):
        db.put(b"key%02d" % n, b"value %d " % n + b"p" * 30)
    db.close()
    wals = sorted((p for p in directory.iterdir() if p.suffix == ".wal"), key=lambda p: int(p.stem))
    assert len(wals) >= 3, f"test setup: expected several WALs, got {[p.name for p in wals]}"
    return {b"key%02d" % n: b"value %d " % n + b"p" * 30 for n in range(40)}, wals


@pytest.mark.day6_task3
def test_torn_last_record_of_the_newest_wal_loses_only_that_write(open_db: OpenDb, tmp_path: Path) -> None:
    """When the newest WAL ends in a torn record, LsmStorage.open recovers every write but that last one."""
    directory = tmp_path / "db"
    written, wals = logs_of_a_session(open_db, directory)
    newest = wals[-1]
    assert newest == wal_path(directory, int(newest.stem))
    newest.write_bytes(newest.read_bytes()[:-5])  # the last append cut short, as a crash leaves it
    db = open_db(directory)
    got = dict(db.scan())
    want = {key: value for key, value in written.items() if key != b"key39"}
    assert got == want, (
        f"the newest WAL ends in a torn write: recovery should keep every write but the last one, got {show(got)}"
    )


@pytest.mark.day6_task3
def test_torn_last_record_of_an_older_wal_is_corruption(open_db: OpenDb, tmp_path: Path) -> None:
    """A torn end of an older WAL makes LsmStorage.open raise CorruptionError naming it, and changes no file."""
    directory = tmp_path / "db"
    _, wals = logs_of_a_session(open_db, directory)
    older = wals[-2]
    older.write_bytes(older.read_bytes()[:-5])
    before = sorted(os.listdir(directory))
    with pytest.raises(CorruptionError) as raised:
        db = open_db(directory)
        raise AssertionError(
            f"{older.name} was fsynced and closed before the next WAL took writes, so its end cannot be torn by a "
            f"crash: recovery must raise CorruptionError, but it opened with {show(sorted(dict(db.scan())))}"
        )
    assert older.name in str(raised.value), f"the error should name {older.name}: {raised.value}"
    assert sorted(os.listdir(directory)) == before, "a refused open must delete no file"
