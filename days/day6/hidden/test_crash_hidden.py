"""Day 6 hidden crash tests: real processes killed with SIGKILL, and power cuts at every fsync.

The trials (in ``crash_child.py``, next to this file, which also holds the checks
made after each crash) drive the engine in processes of its own and kill them;
``scripts/crash_soak.py`` repeats these trials with many more seeds.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_crash_child():
    name = "tinylsm_day6_crash_child"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("crash_child.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


crash_child = _load_crash_child()


@pytest.mark.day6_task3
@pytest.mark.parametrize("seed", [3, 14, 25, 36])
def test_sigkill_at_a_random_point_keeps_a_prefix_with_every_synced_write(tmp_path: Path, seed: int) -> None:
    """After a writer was killed (SIGKILL) at a random point, a synced write was lost or the data was no prefix."""
    problems = crash_child.kill_trial(tmp_path / "db", seed)
    assert not problems, " | ".join(problems[:3])


@pytest.mark.day6_task3
@pytest.mark.parametrize(
    "spec",
    [{"strategy": "leveled", "wal": True}, {"strategy": "tiered", "wal": False}],
    ids=["leveled-wal-on", "tiered-wal-off"],
)
def test_power_cut_at_each_fsync_of_flush_and_compaction_loses_no_synced_write(tmp_path: Path, spec: dict) -> None:
    """A power cut at some fsync (of a write, freeze, flush, compaction or recovery) lost synced data or left a mess."""
    seed = 5
    crashes, problems = crash_child.trap_trials(tmp_path, spec, seed)
    assert not problems, " | ".join(problems[:3])
    assert crashes >= 10, f"seed {seed}: only {crashes} fsyncs could be interrupted; the scenario should make more"


@pytest.mark.day6_task3
def test_power_cut_while_a_new_database_is_created_leaves_one_that_opens(tmp_path: Path) -> None:
    """A power cut while a new database wrote its first files left a directory the next open refused or got wrong."""
    crashes, problems = crash_child.new_database_trials(tmp_path, {"strategy": "leveled", "wal": True})
    assert not problems, " | ".join(problems[:3])
    assert crashes >= 3, f"only {crashes} fsyncs could be interrupted in creating, writing and syncing a database"


@pytest.mark.day6_task3
def test_power_cut_while_recovery_cuts_a_torn_tail_leaves_a_database_that_opens(tmp_path: Path) -> None:
    """A power cut while recovery cut the newest WAL's torn tail and started a new WAL left a database that the next
    open refused (the torn log now looked older than the newest) or got wrong."""
    crashes, problems = crash_child.torn_tail_trials(tmp_path, {"strategy": "leveled", "wal": True})
    assert not problems, " | ".join(problems[:3])
    assert crashes >= 3, f"only {crashes} fsyncs could be interrupted in recovering, writing and syncing"
