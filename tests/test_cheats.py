"""The catalogue of cheating submissions: each must score 0, in every report, also after the checker has exited.

Each folder of ``tests/cheats`` is laid over a copy of the starter stubs: a file
named like a stub module is appended to it (the cheat runs when the module is
imported), any other file is added as it is. The submission is then graded the way
an instructor grades one (``--submission``, ``--json``, ``--gradescope``).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from checker.grading.reach import reaching_code
from checker.grading.run import GRADE_REACHING_CODE, run_pytest
from tests.helpers import ROOT, checker, checker_json, compiled_reference_cheat, null_submission, submission

CHEATS = ROOT / "tests" / "cheats"
SETTLE_SECONDS = 10
"""How long after the checker exits the reports are read again (a process left behind could still write)."""


def grade(
    cheat: str | Path, tmp_path: Path, *days: int, options: tuple[str, ...] = ()
) -> tuple[dict, dict, str, float]:
    """Grade a cheat (a folder of ``tests/cheats``, or one made by the test); its reports, read after a pause.

    The JSON report and results.json are read ``SETTLE_SECONDS`` after the checker exited.
    Many cheats name what ``checker.grading.reach`` refuses before a test runs
    (``gc``, ``exec``, ``sys.modules``): here they are graded all the same, so that
    each defence of the engine process is shown to hold on its own.
    """
    folder = submission(cheat if isinstance(cheat, Path) else CHEATS / cheat, tmp_path / "submission")
    report, results = tmp_path / "report.json", tmp_path / "results.json"
    started = time.monotonic()
    day_args = [arg for day in days for arg in ("--day", str(day))]
    # tight limits: a cheat that makes tests loop (an always-true is_valid) costs minutes, not an hour
    limits = ["--test-timeout", "15", "--day-time-limit", "300"]
    completed = checker(
        "--submission",
        str(folder),
        *day_args,
        *limits,
        *options,
        "--no-compose",
        "--json",
        str(report),
        "--gradescope",
        str(results),
        env={GRADE_REACHING_CODE: "1"},
    )
    elapsed = time.monotonic() - started
    time.sleep(SETTLE_SECONDS)
    assert report.exists() and results.exists(), f"no report was written:\n{completed.stdout}\n{completed.stderr}"
    return json.loads(report.read_text()), json.loads(results.read_text()), completed.stdout, elapsed


def assert_no_points(report: dict, results: dict) -> None:
    assert report["score"] == 0, f"the cheat scored {report['score']} in the JSON report"
    assert results["score"] == 0, f"the cheat scored {results['score']} in results.json"
    assert all(test["score"] == 0 for test in results["tests"]), "some test of results.json gave the cheat points"


@pytest.mark.parametrize(
    "cheat",
    [
        "exec_reference",
        "pytest_hook_via_gc",
        "forge_results",
        "patch_pytest",
        "background_rewriter",
        "many_trivial_tests",
        "always_equal",
        "raw_bytes_on_the_wire",
        "deputy_test_process",
        "refuse_everything",
        "borrowed_errors",
    ],
)
def test_a_cheat_scores_nothing(cheat: str, tmp_path: Path) -> None:
    report, results, _, _ = grade(cheat, tmp_path, 1)
    assert_no_points(report, results)


def test_the_compiled_reference_carried_as_bytes_scores_nothing(tmp_path: Path) -> None:
    """A release ships the reference compiled: a submission that carries its own day's, as bytes, runs none of it."""
    cheat = tmp_path / "cheat"
    (cheat / "days" / "day1").mkdir(parents=True)
    compiled_reference_cheat(cheat / "days" / "day1")
    report, results, _, _ = grade(cheat, tmp_path, 1)
    assert_no_points(report, results)
    assert "own code only" in " ".join(report["days"][0]["protections"])


def test_an_encoding_that_is_an_object_of_the_engine_scores_no_more_than_no_encoding(tmp_path: Path) -> None:
    """``encode()`` must return bytes: an object that only knows its length and slices earns nothing for it."""
    cheat = CHEATS / "opaque_handle"
    twin = tmp_path / "twin"
    module = Path("days") / "day1" / "block.py"
    (twin / module).parent.mkdir(parents=True)
    lines = (cheat / module).read_text().splitlines()
    (twin / module).write_text("\n".join(re.sub(r"^( *).*# TWIN: (.*)$", r"\1\2", line) for line in lines) + "\n")
    report, results, _, _ = grade("opaque_handle", tmp_path / "cheat", 1)
    twin_report, _, _, _ = grade(twin, tmp_path / "honest", 1)
    assert 0 < twin_report["score"] < 100, "the twin should earn the points of what it does honestly"
    assert report["score"] <= twin_report["score"], (
        f"the cheat scored {report['score']}, its twin {twin_report['score']}"
    )
    assert results["score"] <= twin_report["score"]
    assert "where the contract asks for a plain value" in json.dumps(report), "the failures should say why"


def test_a_conftest_written_into_other_days_scores_nothing(tmp_path: Path) -> None:
    report, results, _, _ = grade("conftest_into_other_days", tmp_path, 1, 2)
    assert_no_points(report, results)


def test_trivial_tests_of_a_submission_are_ignored_and_listed(tmp_path: Path) -> None:
    report, _, _, _ = grade("many_trivial_tests", tmp_path, 1)
    day = report["days"][0]
    assert "days/day1/block_test.py" in day["ignored"], f"ignored files: {day['ignored']}"
    assert len(day["tests"]) < 100, f"{len(day['tests'])} tests were graded: the submission's own were collected"


def test_a_module_named_like_the_core_is_ignored_and_listed(tmp_path: Path) -> None:
    """The tests' value types stay the test process's: a submission's ``state.py`` never replaces them."""
    report, results, _, _ = grade("core_module_name", tmp_path, 1)
    assert_no_points(report, results)
    assert "days/day1/state.py" in report["days"][0]["ignored"], report["days"][0]["ignored"]


def test_a_class_of_the_day_that_crosses_by_copy_scores_nothing(tmp_path: Path) -> None:
    """A day's class rebound to a class of the core would run in the test process, its errors never counted."""
    report, results, _, _ = grade("value_class_stand_in", tmp_path, 2)
    assert_no_points(report, results)


def test_hidden_tests_never_reach_the_feedback(tmp_path: Path) -> None:
    """Neither their source (day 1's cheat reads it) nor their names (day 2's lists the folders the tests made)."""
    report, results, stdout, _ = grade("leak_hidden_tests", tmp_path, 1, 2)
    assert_no_points(report, results)
    everything = json.dumps(report) + json.dumps(results) + stdout
    assert "LEAKED:nothing found" in everything, "the cheat's own message should show, with nothing in it"
    leaked = []
    visible = _test_names(path for day in (1, 2) for path in (ROOT / "days" / f"day{day}").glob("test_*.py"))
    for day in (1, 2):
        for name in _test_names((ROOT / "days" / f"day{day}" / "hidden").glob("*.py")):
            prefix = name[:30]  # pytest names a test's folder after the first 30 characters of its name
            if not any(other.startswith(prefix) for other in visible) and prefix in everything:
                leaked.append(name)
    assert not leaked, f"hidden test names reached the feedback: {leaked[:3]}"
    assert " t0 " in everything, "day 2's cheat should have listed the tests' folders, named by number"
    assert "reproduce_failure" not in everything


def _test_names(files: Iterable[Path]) -> list[str]:
    return [
        line.split("(")[0][4:]
        for path in files
        for line in path.read_text().splitlines()
        if line.startswith("def test_")
    ]


def test_the_code_graded_starts_no_process(tmp_path: Path) -> None:
    """A fork bomb (or any process left behind) is refused at its first fork: the grader and its neighbours go on."""
    report, results, _, elapsed = grade("fork_bomb", tmp_path, 1)
    assert_no_points(report, results)
    forked = set(re.findall(r"FORKED:(\d+)", json.dumps(report)))
    assert forked == {"0"}, f"the engine process forked {forked or 'an unknown number of'} processes"
    assert elapsed < 120, f"grading a fork bomb took {elapsed:.0f} s"


def test_the_code_graded_opens_no_network_socket(tmp_path: Path) -> None:
    """Graded code reaches no network: no solution fetched at grading time, nothing sent away."""
    report, results, _, _ = grade("network", tmp_path, 1)
    assert_no_points(report, results)
    states = set(re.findall(r"NETWORK:(\w+)", json.dumps(report)))
    assert states == {"refused"}, f"the engine process could open a network socket: {states}"


def test_the_code_graded_changes_no_file_mode_owner_or_time(tmp_path: Path) -> None:
    """Graded code runs as root without root's powers, yet owns root's files: changing their modes is refused."""
    report, results, _, _ = grade("file_modes", tmp_path, 1)
    assert_no_points(report, results)
    states = set(re.findall(r"METADATA:([\w+]+)", json.dumps(report)))
    assert states == {"refused"}, f"the engine process could change files' metadata: {states}"


def test_the_code_graded_cannot_fill_the_disk(tmp_path: Path) -> None:
    """A submission that writes gigabytes is stopped once its scratch folder passes the disk limit."""
    report, results, _, elapsed = grade("fill_disk", tmp_path, 1, options=("--disk-limit-mb", "256"))
    assert_no_points(report, results)
    assert "filled more than 256 MiB of disk" in json.dumps(report), "the report should say why the run was stopped"
    assert elapsed < 120, f"grading a submission that fills the disk took {elapsed:.0f} s"


def test_a_module_that_hangs_at_import_is_reported_within_a_minute(tmp_path: Path) -> None:
    report, results, _, elapsed = grade("hang_at_import", tmp_path, 1)
    assert_no_points(report, results)
    assert elapsed < 60, f"grading a module that hangs at import took {elapsed:.0f} s"
    assert "hangs while being imported" in json.dumps(report), "the report should say the module hangs at import"


def test_protections_in_force_are_reported(tmp_path: Path) -> None:
    report, _, _, _ = grade("exec_reference", tmp_path, 1)
    protections = " ".join(report["days"][0]["protections"])
    assert "process boundary" in protections


def test_code_that_reaches_into_the_server_of_the_tests_is_not_graded(tmp_path: Path) -> None:
    """``patch_the_server`` replaces, from ``sys.modules``, how the engine process describes its objects to the
    tests: graded, it made every record equal. It is refused before a test runs, naming the line."""
    folder = submission(CHEATS / "patch_the_server", tmp_path / "submission")
    _, report = checker_json(tmp_path, "--submission", str(folder), "--day", "6", "--no-compose")
    (day,) = report["days"]
    assert day["score"] == 0 and report["score"] == 0, f"the cheat scored {day['score']}"
    assert "reaches into the process that runs it" in day["error"], day["error"]
    assert "days/day6/manifest.py" in day["error"] and ": .modules" in day["error"], day["error"]


@pytest.mark.parametrize(
    "source",
    [
        "import gc",
        "from importlib import import_module",
        "import checker.grading.isolation.worker",
        "f = lambda: 0\nf.__globals__",
        "import sys\nsys.modules",
        "from sys import modules",
        "getattr(object, 'mod' + 'ules')",
        "getattr(object, '__globals__')",
        "look = getattr",
        "exec('x = 1')",
        "vars()",
        "try:\n    1 / 0\nexcept ZeroDivisionError as error:\n    error.__traceback__.tb_frame.f_back",
        "from operator import attrgetter\nattrgetter('__code__')",
        "import _engine_worker.worker",
        "from operator import attrgetter as get",
        "import operator\nget = operator.attrgetter",
        "import traceback\ntraceback.walk_stack(None)",
        "import pkgutil",
        "from logging import config",
        "import typing\ntyping.get_type_hints(object)",
        "import threading\nthreading.enumerate()[0]._target.__reduce__()",
        "from threading import enumerate as threads",
        "f = lambda: 0\nf.__reduce_ex__(2)",
    ],
)
def test_reaching_code_is_found_in_the_source(tmp_path: Path, source: str) -> None:
    (tmp_path / "block.py").write_text(source + "\n")
    assert reaching_code(tmp_path), f"not refused: {source!r}"


def test_what_an_engine_writes_is_not_taken_for_reaching_code(tmp_path: Path) -> None:
    source = (
        "import os, struct, sys, threading, bisect, zlib\n"
        "from dataclasses import dataclass, replace\n"
        "limit = sys.maxsize\n"
        "name = getattr(os, 'fsync')\n"
        "text = type(limit).__name__\n"
    )
    (tmp_path / "block.py").write_text(source)
    (tmp_path / "test_block.py").write_text("import gc\n")  # the student's own tests are not graded code
    assert reaching_code(tmp_path) == []
    for day in range(1, 8):
        assert reaching_code(ROOT / "solutions" / f"day{day}") == [], f"the reference of day {day} reaches"


def test_a_submission_is_not_graded_where_no_file_guard_holds(tmp_path: Path) -> None:
    """Without Landlock the code graded could run the reference or rewrite the tests: no grade, not a forged one."""
    folder = submission(CHEATS / "exec_reference", tmp_path / "submission")
    report, results = tmp_path / "report.json", tmp_path / "results.json"
    arguments = ["--submission", str(folder), "--day", "1", "--json", str(report), "--gradescope", str(results)]
    completed = checker(*arguments, env={"TINYLSM_PRETEND_NO_LANDLOCK": "1"})
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "grading refused: this machine has no Landlock" in completed.stderr, completed.stderr
    assert "--without-landlock" in completed.stderr, "the refusal should say how to grade anyway"
    assert not report.exists() and not results.exists(), "a report was written for a submission that was not graded"


def test_code_that_does_nothing_earns_nothing(tmp_path: Path) -> None:
    """Every stub answering a trivial value (no entry, an invalid iterator, an empty table): 0 on every day.

    A test that such code passes is an invariant: it must carry ``@pytest.mark.invariant``
    (it then earns its points once its task's other tests pass), or check that the
    code did something before it checks what should not have happened.
    """
    folder = null_submission(tmp_path / "submission")
    report = tmp_path / "report.json"
    days = [arg for day in range(1, 8) for arg in ("--day", str(day))]
    limits = ["--test-timeout", "15", "--day-time-limit", "300"]
    completed = checker("--submission", str(folder), *days, *limits, "--no-compose", "--json", str(report))
    assert report.exists(), f"no report was written:\n{completed.stdout}\n{completed.stderr}"
    earned = [
        f"day {day['day']}: {test['name']} ({test['score']} points)"
        for day in json.loads(report.read_text())["days"]
        for test in day["tests"]
        if test["score"] > 0
    ]
    assert not earned, "code that does nothing earned points; mark these tests invariant or make them check work:\n" + (
        "\n".join(earned)
    )


@pytest.mark.parametrize(
    ("dodge", "expected"),
    [("ends_first", "ended"), ("real_fsync", "power cut after close()")],
)
def test_a_power_cut_cannot_be_dodged(dodge: str, expected: str, tmp_path: Path) -> None:
    """The reference with a dodge of ``power_cut_dodge`` added: ending its process before the cut, or hiding its fsyncs.

    The test process cuts the power itself, at the engine's k-th reported fsync or
    after ``close()``: an engine that ends first was not cut, and an fsync it does
    not report makes nothing durable.
    """
    day_dir = tmp_path / "day6"
    shutil.copytree(ROOT / "solutions" / "day6", day_dir, ignore=shutil.ignore_patterns("__pycache__"))
    recovery = day_dir / "recovery.py"
    recovery.write_text(recovery.read_text() + "\n\n" + (CHEATS / "power_cut_dodge" / f"{dodge}.py").read_text())
    run = run_pytest(
        ROOT,
        6,
        {"TINYLSM_IMPL": "student:6", "TINYLSM_DAY_DIRS": f"6={day_dir}"},
        test_timeout=120,
        tests="days/day6/hidden/test_crash_hidden.py::test_power_cut_at_each_fsync_of_flush_and_compaction_loses_no_synced_write",
    )
    assert len(run.results) == 2, run.output[-2000:]
    for nodeid, result in run.results.items():
        assert result["outcome"] == "failed", f"{nodeid} passed an engine that dodges the power cut"
        assert expected in result["message"], result["message"]


@pytest.mark.parametrize(
    "test",
    [
        "days/day6/hidden/test_crash_hidden.py::test_power_cut_while_a_new_database_is_created_leaves_one_that_opens",
        "days/day6/hidden/test_torn_tail_hidden.py::test_cut_torn_tail_fsyncs_the_log_after_cutting_it",
    ],
)
def test_fsyncs_done_only_while_a_test_looks_are_caught(test: str, tmp_path: Path) -> None:
    """The reference, changed to skip every fsync unless ``os.fsync`` looks replaced by a test.

    The engine process's ``os.fsync`` is the same hook from its start, whether a test
    watches it, cuts the power at it, or neither: code cannot tell when it is observed.
    """
    day_dir = tmp_path / "day6"
    shutil.copytree(ROOT / "solutions" / "day6", day_dir, ignore=shutil.ignore_patterns("__pycache__"))
    cheat = (CHEATS / "observed_only" / "skip_unwatched_fsyncs.py").read_text()
    for module in ("wal.py", "manifest.py", "recovery.py"):
        path = day_dir / module
        path.write_text(path.read_text() + "\n\n" + cheat)
    run = run_pytest(
        ROOT, 6, {"TINYLSM_IMPL": "student:6", "TINYLSM_DAY_DIRS": f"6={day_dir}"}, test_timeout=120, tests=test
    )
    assert run.results, run.output[-2000:]
    for nodeid, result in run.results.items():
        assert result["outcome"] == "failed", f"{nodeid} passed an engine that fsyncs only while it is watched"


def test_an_encoding_remembered_instead_of_written_fails_its_round_trips(tmp_path: Path) -> None:
    """The reference's block with ``encode`` giving a token and ``decode`` looking it up in the process's memory.

    Every round trip decodes in an engine process of the test's own, which has only the bytes: an
    encoder's memory cannot stand in for a format.
    """
    day_dir = tmp_path / "day1"
    shutil.copytree(ROOT / "solutions" / "day1", day_dir, ignore=shutil.ignore_patterns("__pycache__"))
    block = day_dir / "block.py"
    block.write_text(block.read_text() + "\n\n" + (CHEATS / "remembered_encoding" / "block_memory.py").read_text())
    run = run_pytest(
        ROOT,
        1,
        {"TINYLSM_IMPL": "student:1", "TINYLSM_DAY_DIRS": f"1={day_dir}"},
        test_timeout=120,
        tests="days/day1",
    )
    for name in (
        "test_encode_then_decode_keeps_every_entry_in_order",
        "test_tombstone_and_empty_value_stay_distinct",
        "test_a_verified_decode_gives_the_same_entries_and_still_checks_the_count",
    ):
        result = run.results.get(f"days/day1/test_block.py::{name}")
        assert result is not None, run.output[-2000:]
        assert result["outcome"] == "failed", f"{name} passed a block whose encoding is only remembered"


def test_records_that_say_they_have_no_fields_are_not_equal_to_every_record_of_their_kind(tmp_path: Path) -> None:
    """The reference's manifest with record classes that empty their ``__dataclass_fields__``.

    Its decoder keeps a record's kind and loses its values. Two records are compared by the
    fields the course's contract names, and a record a test made by the values the test gave,
    so the round trips fail.
    """
    day_dir = tmp_path / "day6"
    shutil.copytree(ROOT / "solutions" / "day6", day_dir, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = day_dir / "manifest.py"
    cheat = (CHEATS / "self_describing_records" / "empty_records.py").read_text()
    manifest.write_text(manifest.read_text() + "\n\n" + cheat)
    run = run_pytest(
        ROOT,
        6,
        {"TINYLSM_IMPL": "student:6", "TINYLSM_DAY_DIRS": f"6={day_dir}"},
        test_timeout=120,
        tests="days/day6/test_manifest.py",
    )
    for kind in ("snapshot", "new-memtable", "flush", "empty-snapshot"):  # the records of the manifest's own classes
        result = run.results.get(f"days/day6/test_manifest.py::test_manifest_record_round_trips[{kind}]")
        assert result is not None, run.output[-2000:]
        assert result["outcome"] == "failed", f"the {kind} round trip passed a decoder that forgets every field"


@pytest.mark.parametrize(
    ("day", "modules", "tests", "caught"),
    [
        (
            6,
            ["wal", "manifest"],
            "days/day6/test_wal.py",
            ["test_records_frame_payloads_and_ops_round_trip", "test_wal_replay_gives_back_every_write_in_order"],
        ),
        (6, ["wal", "manifest"], "days/day6/test_manifest.py", ["test_manifest_create_append_read_keeps_every_record"]),
        (
            6,
            ["wal", "manifest"],
            "days/day6/test_recovery.py",
            [
                "test_reopen_after_close_keeps_data_and_tree_shape[tiered]",
                "test_ids_continue_after_the_highest_id_seen",
            ],
        ),
        (
            2,
            ["sstable"],
            "days/day2/test_sstable.py",
            [
                "test_open_reads_back_the_block_index_the_builder_wrote",
                "test_read_block_returns_the_entries_of_that_block",
            ],
        ),
    ],
)
def test_formats_remembered_in_the_process_instead_of_written_fail_their_reads(
    day: int, modules: list[str], tests: str, caught: list[str], tmp_path: Path
) -> None:
    """The reference's SST, WAL and manifest formats, replaced by tokens and kept in the process's memory.

    On the days that write files, a database is never reopened in the process that opened it
    last, each SST opened is opened again in the test's own engine process, and block indexes,
    WALs and MANIFESTs are read back there: what was written reaches them through the files alone.
    """
    day_dir = tmp_path / f"day{day}"
    shutil.copytree(ROOT / "solutions" / f"day{day}", day_dir, ignore=shutil.ignore_patterns("__pycache__"))
    for module in modules:
        path = day_dir / f"{module}.py"
        cheat = (CHEATS / "remembered_formats" / f"{module}_memory.py").read_text()
        path.write_text(path.read_text() + "\n\n" + cheat)
    run = run_pytest(
        ROOT,
        day,
        {"TINYLSM_IMPL": f"student:{day}", "TINYLSM_DAY_DIRS": f"{day}={day_dir}"},
        test_timeout=120,
        tests=tests,
    )
    for name in caught:
        result = run.results.get(f"{tests}::{name}")
        assert result is not None, f"{name} did not run:\n{run.output[-2000:]}"
        assert result["outcome"] == "failed", f"{name} passed an engine whose formats are only remembered"
