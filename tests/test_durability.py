"""The provided durability layers: plain SSTables that never guess their order, and the stop after a failed write."""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.helpers import run
from tinylsm.durability import StopAfterFailure
from tinylsm.errors import LsmError

SOLUTIONS = {"TINYLSM_IMPL": "solutions"}

# The reference engine with neither WAL nor manifest: a key written, flushed, written again into the active
# memtable, then a full compaction that gives the old value a newer id than the memtable that holds the new one.
REOPEN = """
import sys
from pathlib import Path

from tinylsm.engine import LsmStorage
from tinylsm.errors import LsmError
from tinylsm.options import NoCompaction, SimpleLeveledCompactionOptions
from tinylsm.testkit import options_for_day

path, strategy, overwrite, reopen_day = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
compaction = SimpleLeveledCompactionOptions() if strategy == "simple" else NoCompaction()
with LsmStorage.open(path, options_for_day(5, compaction=compaction)) as db:
    db.put(b"a", b"old")
    db.put(b"b", b"kept")
    db.force_flush()
    if overwrite:
        db.put(b"a", b"new")
    db.force_full_compaction()
try:
    db = LsmStorage.open(path, options_for_day(reopen_day, compaction=compaction))
except LsmError as error:
    print("refused:", error)
else:
    print("a =", db.get(b"a"), "b =", db.get(b"b"))
    db.close()
"""


def reopen(tmp_path: Path, strategy: str, overwrite: bool, reopen_day: int = 5) -> str:
    completed = run(
        [sys.executable, "-c", REOPEN, str(tmp_path / "db"), strategy, str(int(overwrite)), str(reopen_day)],
        env=SOLUTIONS,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout.strip()


@pytest.mark.parametrize("strategy", ["simple", "none"])
@pytest.mark.parametrize("reopen_day", [5, 6], ids=["plain", "with-manifest"])
def test_overlapping_ssts_compacted_without_a_manifest_are_refused_not_guessed(
    tmp_path: Path, strategy: str, reopen_day: int
) -> None:
    out = reopen(tmp_path, strategy, overwrite=True, reopen_day=reopen_day)
    assert out.startswith("refused:"), f"the reopen returned the old value instead of refusing: {out}"
    assert "00002.sst" in out and "enable_manifest" in out, f"the refusal must name the files and the option: {out}"


def test_ssts_compacted_without_a_manifest_reopen_when_they_do_not_overlap(tmp_path: Path) -> None:
    assert reopen(tmp_path, "none", overwrite=False) == "a = b'old' b = b'kept'"


OPEN = """
import sys
from tinylsm.engine import LsmStorage
from tinylsm.errors import LsmError
try:
    LsmStorage.open(sys.argv[1]).close()
except LsmError as error:
    print("refused:", error)
"""


@pytest.mark.parametrize("obstacle", ["lock-is-a-folder", "parent-is-a-file"])
def test_a_directory_that_cannot_be_a_database_is_refused_with_lsm_error(tmp_path: Path, obstacle: str) -> None:
    if obstacle == "lock-is-a-folder":
        (tmp_path / "db" / "LOCK").mkdir(parents=True)
        path = tmp_path / "db"
    else:
        (tmp_path / "file").write_text("not a folder")
        path = tmp_path / "file" / "db"
    completed = run([sys.executable, "-c", OPEN, str(path)], env=SOLUTIONS)
    assert completed.returncode == 0 and completed.stdout.startswith("refused:"), completed.stdout + completed.stderr


class FlakyDisk:
    """A durability layer whose disk fills up at its ``failing``-th call."""

    def __init__(self, failing: int) -> None:
        self.calls: list[str] = []
        self.failing = failing
        self.closed = False

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if len(self.calls) == self.failing:
            raise OSError(errno.ENOSPC, "No space left on device")

    def log(self, memtable_id: int, ops: Sequence[tuple[bytes, bytes | None]]) -> None:
        self._step("log")

    def sync(self) -> None:
        self._step("sync")

    def memtable_frozen(self, frozen_id: int, new_id: int) -> None:
        self._step("frozen")

    def memtable_flushed(self, memtable_id: int, sst_id: int) -> None:
        self._step("flushed")

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("failing", ["log", "frozen"])
def test_after_a_failed_write_every_write_is_refused_until_the_database_is_reopened(failing: str) -> None:
    disk = FlakyDisk(failing=2)
    durability = StopAfterFailure(disk)  # type: ignore[arg-type]
    durability.log(1, [(b"k", b"v")])
    with pytest.raises(OSError) as failed:
        if failing == "log":
            durability.log(1, [(b"k", b"v")])
        else:
            durability.memtable_frozen(1, 2)
    for step in (lambda: durability.log(2, [(b"k", b"v")]), durability.sync, lambda: durability.memtable_flushed(1, 1)):
        with pytest.raises(LsmError, match="takes no more writes") as refused:
            step()
        assert refused.value.__cause__ is failed.value, "the refusal must carry the failure that caused it"
    assert disk.calls == ["log", failing], f"no call may reach the disk after the failure: {disk.calls}"
    durability.close()
    assert disk.closed, "close must still release the files"


class DiskFailingMeanwhile(FlakyDisk):
    """A disk whose every call succeeds, while another thread's write fails during it (``wrapper`` learns so)."""

    def __init__(self) -> None:
        super().__init__(failing=0)
        self.wrapper: StopAfterFailure | None = None

    def _step(self, name: str) -> None:
        self.calls.append(name)
        assert self.wrapper is not None
        self.wrapper.failure = OSError(errno.EIO, "Input/output error (another thread's fsync)")


@pytest.mark.parametrize("step", ["log", "sync", "frozen", "flushed"])
def test_a_write_during_which_another_failed_is_refused_though_its_own_call_returned(step: str) -> None:
    """A sync that waited behind a failed fsync and then ran its own: the disk may say done without writing."""
    disk = DiskFailingMeanwhile()
    durability = StopAfterFailure(disk)  # type: ignore[arg-type]
    disk.wrapper = durability
    calls = {
        "log": lambda: durability.log(1, [(b"k", b"v")]),
        "sync": durability.sync,
        "frozen": lambda: durability.memtable_frozen(1, 2),
        "flushed": lambda: durability.memtable_flushed(1, 1),
    }
    with pytest.raises(LsmError, match="takes no more writes"):
        calls[step]()
    assert disk.calls == [step], f"the step itself must have reached the disk once: {disk.calls}"
