"""``python -m checker replay``: operation logs re-run on the composed engine and a dict; the first divergence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT, checker
from tinylsm.testkit import OpLog, options_for_day, replay_on_failure, save_replay

OPTIONS = {
    "block_size": 64,
    "target_sst_size": 256,
    "num_memtable_limit": 2,
    "background_work": False,
    "enable_wal": False,
    "enable_manifest": False,
    "bloom_bits_per_key": 0,
    "prefix_compression": False,
    "checksums": False,
    "group_commit": False,
    "compaction": {"class": "NoCompaction"},
}
LOG = {
    "seed": 7,
    "options": OPTIONS,
    "ops": [
        ["put", b"k1".hex(), b"v1".hex()],
        ["put", b"k2".hex(), b"v2".hex()],
        ["get", b"k1".hex()],  # op 2: the first read of a key that is there
        ["delete", b"k2".hex()],
        ["get", b"k2".hex()],
        ["flush"],
        ["batch", [[b"k3".hex(), b"v3".hex()], [b"k1".hex(), None]]],
        ["scan", None, None, True, False],
        ["reopen"],
        ["compact"],
        ["get", b"k3".hex()],
        ["scan", b"k2".hex(), b"k3".hex(), False, True],
    ],
}


def write_log(tmp_path: Path, log: dict) -> Path:
    path = tmp_path / "log.json"
    path.write_text(json.dumps(log))
    return path


def broken_day4(tmp_path: Path, find: str, replace: str) -> Path:
    """A copy of the reference day 4 with ``find`` (which must occur once) replaced, as a mutant would be."""
    folder = tmp_path / "day4"
    shutil.copytree(ROOT / "solutions" / "day4", folder, ignore=shutil.ignore_patterns("__pycache__"))
    source = (folder / "engine.py").read_text()
    assert source.count(find) == 1, f"{find!r} is not in solutions/day4/engine.py exactly once"
    (folder / "engine.py").write_text(source.replace(find, replace))
    return folder


GET_DOCSTRING = '        """The value of ``key``, or ``None`` if it is absent or deleted."""\n'
GET_FINDS_NOTHING = (GET_DOCSTRING, GET_DOCSTRING + "        return None\n")
SCAN_RETURN = "        return _live_entries(self, merged, start, include_start, stop, include_stop)\n"
SCAN_SKIPS_FIRST_ENTRY = (
    SCAN_RETURN,
    SCAN_RETURN.replace("return", "entries =") + "        next(entries, None)\n        return entries\n",
)


def test_a_log_replays_on_the_reference_without_divergence(tmp_path: Path) -> None:
    completed = checker("replay", str(write_log(tmp_path, LOG)), env={"TINYLSM_IMPL": "solutions"})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "seed 7" in completed.stdout and "day4=solutions" in completed.stdout
    assert completed.stdout.splitlines()[-1] == "no divergence: the engine agreed with the model on all 12 operations"


def test_a_broken_get_is_reported_at_its_first_read_with_both_values(tmp_path: Path) -> None:
    broken = broken_day4(tmp_path, *GET_FINDS_NOTHING)
    env = {"TINYLSM_IMPL": "solutions", "TINYLSM_DAY_DIRS": f"4={broken}"}
    completed = checker("replay", str(write_log(tmp_path, LOG)), env=env)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert completed.stdout.splitlines()[1:] == [
        'divergence at op 2: ["get", "6b31"]  (get(b\'k1\'))',
        "    engine: None",
        "    model:  b'v1'",
    ]


def test_a_wrong_scan_names_its_first_differing_entry(tmp_path: Path) -> None:
    log = {**LOG, "ops": [["put", "61", "31"], ["put", "62", "32"], ["scan", None, None, True, False]]}
    folder = broken_day4(tmp_path, *SCAN_SKIPS_FIRST_ENTRY)
    env = {"TINYLSM_IMPL": "solutions", "TINYLSM_DAY_DIRS": f"4={folder}"}
    completed = checker("replay", str(write_log(tmp_path, log)), env=env)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "divergence at op 2" in completed.stdout
    assert "first difference at entry 0: engine (b'b', b'2'), model (b'a', b'1')" in completed.stdout


def test_an_unfinished_engine_diverges_with_the_task_to_finish(tmp_path: Path) -> None:
    completed = checker("replay", str(write_log(tmp_path, LOG)), env={"TINYLSM_IMPL": "student"})
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "engine: raised NotImplementedError: unfinished task day" in completed.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ops": [["put", "6b"]]}, "op 0: put takes 2 argument(s), got 1"),
        ({"ops": [["fly"]]}, "op 0: expected [NAME, ...]"),
        ({"ops": [["get", "not hex"]]}, "op 0: 'not hex' is not hex"),
        ({"options": {"block_size": 0}}, "options: LsmStorageOptions.block_size must be"),
        ({"options": {"compaction": {"class": "Mystery"}}}, "options: compaction must be"),
        ({"options": {"colour": "blue"}}, "options: LsmStorageOptions has no field 'colour'"),
    ],
    ids=["arity", "unknown-op", "bad-hex", "bad-option", "unknown-compaction", "unknown-option"],
)
def test_a_log_that_cannot_be_read_is_a_usage_error(tmp_path: Path, change: dict, message: str) -> None:
    completed = checker("replay", str(write_log(tmp_path, {**LOG, **change})), env={"TINYLSM_IMPL": "solutions"})
    assert completed.returncode == 2 and message in completed.stderr, completed.stderr


def test_a_log_written_by_the_testkit_replays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    log = OpLog(options_for_day(4, block_size=64, target_sst_size=256), seed=3)
    log.record("put", b"a", b"1")
    log.record("batch", [(b"b", b"2"), (b"a", None)])
    log.record("flush")
    log.record("reopen")
    log.record("scan", None, b"z", True, False)
    log.record("get", b"b")
    path = save_replay(log, "test_model[leveled-1]")
    assert path == tmp_path / "tinylsm-replay-test_model-leveled-1.json"
    assert str(path) in capsys.readouterr().out
    assert json.loads(path.read_text()) == log.as_json()
    completed = checker("replay", str(path), env={"TINYLSM_IMPL": "solutions"})
    assert completed.returncode == 0 and "no divergence" in completed.stdout, completed.stdout + completed.stderr


def test_a_failing_block_leaves_its_log_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = OpLog(options_for_day(4))
    with pytest.raises(AssertionError) as failure, replay_on_failure(log, "test_x"):
        log.record("get", b"k")
        raise AssertionError("get(b'k') expected b'v', got None")
    saved = tmp_path / "tinylsm-replay-test_x.json"
    assert json.loads(saved.read_text())["ops"] == [["get", "6b"]]
    assert any(str(saved) in note for note in failure.value.__notes__)


@pytest.mark.parametrize(
    ("call", "error"),
    [(("fly",), ValueError), (("put", b"k"), TypeError), (("get", "k"), TypeError)],
    ids=["unknown-op", "arity", "text-key"],
)
def test_the_log_refuses_what_replay_could_not_read(call: tuple, error: type[Exception]) -> None:
    with pytest.raises(error):
        OpLog(options_for_day(4)).record(*call)


def test_a_log_goes_where_tinylsm_replay_dir_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "logs" / "day4"  # not there yet
    monkeypatch.setenv("TINYLSM_REPLAY_DIR", str(logs))
    path = save_replay(OpLog(options_for_day(4)), "test_y")
    assert path == logs / "tinylsm-replay-test_y.json" and path.is_file()


def test_a_task_not_written_yet_leaves_no_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = OpLog(options_for_day(4))
    with pytest.raises(NotImplementedError), replay_on_failure(log, "test_z"):
        log.record("get", b"k")
        raise NotImplementedError("day 7, task 1: see the book")
    assert not list(tmp_path.iterdir())
