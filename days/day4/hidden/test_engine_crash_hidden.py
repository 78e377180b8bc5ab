"""Day 4 hidden tests: a real process, killed with SIGKILL after sync(), and what survives it."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.grading.isolation.engine import engine_process
from tinylsm.engine import LsmStorage
from tinylsm.testkit import options_for_day, show

SIZES = {"target_sst_size": 512, "block_size": 128, "num_memtable_limit": 2}


def synced_content() -> dict[bytes, bytes]:
    content = {b"key%04d" % n: b"first-%d" % n for n in range(300)}
    content.update({b"key%04d" % n: b"second-%d" % n for n in range(0, 300, 7)})
    for n in range(0, 300, 5):
        del content[b"key%04d" % n]
    content[b"empty"] = b""
    return content


@pytest.mark.day4_task4
def test_writes_before_sync_survive_a_sigkill(tmp_path: Path) -> None:
    """After a process was killed (SIGKILL) right after sync() with enable_wal=False, a synced write was missing."""
    # The engine process writes enough to freeze and flush several memtables on its own,
    # overwrites and deletes some keys, syncs, writes a little more (too little to freeze a
    # memtable, so nothing is being flushed) and is killed: no close(), no interpreter
    # shutdown, exactly as if the power had gone.
    with engine_process() as engine:
        db = engine.module("tinylsm.engine").LsmStorage.open(tmp_path, options_for_day(4, **SIZES))
        for n in range(300):
            db.put(b"key%04d" % n, b"first-%d" % n)
        for n in range(0, 300, 7):
            db.put(b"key%04d" % n, b"second-%d" % n)
        for n in range(0, 300, 5):
            db.delete(b"key%04d" % n)
        db.put(b"empty", b"")
        db.sync()
        for n in range(3):
            db.put(b"unsynced%d" % n, b"x")
        engine.kill()
    db = LsmStorage.open(tmp_path, options_for_day(4, **SIZES))
    try:
        want = synced_content()
        got = {key: value for key, value in db.scan() if not key.startswith(b"unsynced")}
        lost = sorted(key for key in want if got.get(key) != want[key])
        assert not lost, f"{len(lost)} writes made before sync() did not survive the kill, e.g. {show(lost[:4])}"
        back = sorted(set(got) - set(want))
        assert not back, f"keys deleted before sync() came back after the kill: {show(back)}"
        assert db.get(b"key0005") is None and db.get(b"key0007") == b"second-7", (
            "after the kill, a deleted key must stay deleted and an overwritten key keep its newer value"
        )
    finally:
        db.close()
