"""The power cut that day 6's crash tests run in the test process (``tinylsm.testkit.power_cut``)."""

from __future__ import annotations

import os
from pathlib import Path

from tinylsm.testkit.power_cut import PowerCut


def fsync(power: PowerCut, path: Path) -> None:
    """What the engine process reports when it fsyncs ``path``."""
    power.fsync(path.stat().st_ino)


def test_each_file_keeps_what_its_last_fsync_made_durable(tmp_path: Path) -> None:
    before = tmp_path / "MANIFEST"
    before.write_bytes(b"m" * 10)
    power = PowerCut(tmp_path, 0, kill=lambda: None)
    before.write_bytes(b"m" * 15)  # appended, never fsynced
    synced = tmp_path / "00001.wal"
    synced.write_bytes(b"w" * 100)
    fsync(power, synced)
    with synced.open("ab") as file:
        file.write(b"x" * 50)
    cut_back = tmp_path / "00002.wal"
    cut_back.write_bytes(b"c" * 80)
    fsync(power, cut_back)
    os.truncate(cut_back, 30)  # a torn tail cut off, not yet fsynced
    never = tmp_path / "00003.sst"
    never.write_bytes(b"s" * 40)
    power.cut_now()
    sizes = {path.name: path.stat().st_size for path in (before, synced, cut_back, never)}
    assert sizes == {"MANIFEST": 10, "00001.wal": 100, "00002.wal": 30, "00003.sst": 0}, sizes
    assert power.was_cut()


def test_a_file_that_took_a_deleted_files_inode_or_was_written_over_holds_nothing_durable(tmp_path: Path) -> None:
    power = PowerCut(tmp_path, 0, kill=lambda: None)
    old = tmp_path / "00001.wal"
    old.write_bytes(b"w" * 4096)
    fsync(power, old)
    inode = old.stat().st_ino
    old.unlink()
    new = tmp_path / "00002.sst"
    new.write_bytes(b"s" * 3000)  # never fsynced; may take the deleted file's inode
    recycled = tmp_path / "00003.wal"
    recycled.write_bytes(b"a" * 100)
    fsync(power, recycled)
    with recycled.open("r+b") as file:
        file.write(b"b" * 100)  # written over in place after its fsync
    power.cut_now()
    assert new.stat().st_size == 0, f"a never-fsynced file kept {new.stat().st_size} bytes (inode reused: {inode})"
    assert recycled.stat().st_size == 0, "a file written over in place kept bytes that were never made durable"


def test_the_cut_comes_at_the_fsync_it_was_set_for_and_kills_first(tmp_path: Path) -> None:
    events: list[str] = []
    data = tmp_path / "00001.wal"
    power = PowerCut(tmp_path, 2, kill=lambda: events.append(f"kill at {data.stat().st_size} bytes"))
    data.write_bytes(b"1" * 10)
    fsync(power, data)
    data.write_bytes(b"1" * 10 + b"2" * 10)
    assert not power.was_cut()
    fsync(power, data)  # the second fsync: the power goes before it makes anything durable
    assert power.was_cut() and events == ["kill at 20 bytes"], events
    assert data.stat().st_size == 10
    fsync(power, data)  # a report after the cut changes nothing
    assert data.stat().st_size == 10
