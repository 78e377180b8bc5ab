"""``python -m checker bench``: every workload and baseline reaches the JSON and the tables, and nothing is invented.

Numbers are reported, never asserted: these tests check that each workload ran and
gave positive numbers, that the counters behind the explanations (filter
negatives, fsyncs saved, RSS samples) are there, and that a baseline that is not
installed is named as such instead of getting numbers.
"""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from checker.benchmarks.baselines import BASELINES, INSTALL_HINT
from checker.benchmarks.engines import tinylsm_setup
from checker.benchmarks.report import ratios, throughput_lines, times
from checker.benchmarks.workloads import WORKLOADS, Plan
from tests.helpers import ROOT, checker
from tinylsm._composition import Composition

POSITIVE = ("ops", "seconds", "ops_per_sec", "mb_per_sec")


def bench(directory: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict[str, Any]]:
    """Run ``python -m checker bench ARGS --json`` on the reference; (the process, the JSON)."""
    report = directory / "bench.json"
    completed = checker("bench", *args, "--json", str(report), env={"TINYLSM_IMPL": "solutions"})
    assert report.exists(), f"no JSON was written:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    return completed, json.loads(report.read_text())


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict[str, Any]]:
    """One small run (``--quick --n 3000``) shared by the tests that only read its output."""
    return bench(tmp_path_factory.mktemp("bench"), "--quick", "--n", "3000")


def engines(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """TinyLSM and every baseline, by name."""
    return {"tinylsm": report["tinylsm"], **report["baselines"]}


def assert_positive(result: dict[str, Any], where: str) -> None:
    for key in POSITIVE:
        assert result.get(key, 0) > 0, f"{where}: {key} is {result.get(key)!r}: {result}"


def assert_complete(report: dict[str, Any]) -> None:
    """Every workload on TinyLSM with positive numbers; every baseline measured (or named as not installed)."""
    tinylsm = report["tinylsm"]
    assert tinylsm["status"] == "measured", tinylsm
    assert set(tinylsm["workloads"]) == set(WORKLOADS)
    for workload, result in tinylsm["workloads"].items():
        assert result["status"] == "ok", f"tinylsm {workload}: {result}"
        assert_positive(result, f"tinylsm {workload}")
    assert set(report["baselines"]) == set(BASELINES)
    for name, baseline in report["baselines"].items():
        if baseline["status"] == "not installed":
            assert INSTALL_HINT in baseline["reason"]
            continue
        assert baseline["status"] == "measured", f"{name}: {baseline}"
        assert set(baseline["workloads"]) == set(WORKLOADS), name
        for workload, result in baseline["workloads"].items():
            assert result["status"] in ("ok", "n/a"), f"{name} {workload}: {result}"
            if result["status"] == "ok":
                assert_positive(result, f"{name} {workload}")


def test_a_small_run_measures_every_workload_on_every_engine(small_run) -> None:
    completed, report = small_run
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert report["plan"]["n"] == 3000
    assert_complete(report)
    for name in ("dict", "sqlite3"):  # the standard library and a dependency of the course: always there
        assert report["baselines"][name]["status"] == "measured"


def test_the_dict_baseline_says_why_it_has_no_durable_workloads(small_run) -> None:
    _, report = small_run
    workloads = report["baselines"]["dict"]["workloads"]
    for workload in ("sync_each", "sync_batch100", "sync_threads", "recovery"):
        assert workloads[workload]["status"] == "n/a"
        assert "memory" in workloads[workload]["reason"] or "nothing to sync" in workloads[workload]["reason"]


def test_ratios_are_tinylsm_over_each_baseline_measured_in_the_same_run(small_run) -> None:
    _, report = small_run
    for workload, by_baseline in report["ratios"].items():
        mine = report["tinylsm"]["workloads"][workload]["ops_per_sec"]
        for name, ratio in by_baseline.items():
            theirs = report["baselines"][name].get("workloads", {}).get(workload, {})
            if theirs.get("status") == "ok":
                assert ratio == pytest.approx(mine / theirs["ops_per_sec"])
            else:
                assert ratio is None, f"{workload} vs {name}: a ratio without a measurement"


def test_counters_explain_the_numbers(small_run) -> None:
    _, report = small_run
    workloads = report["tinylsm"]["workloads"]
    assert workloads["readmissing"]["filter_negatives_per_get"] > 0, "bloom filters answered no missing key"
    assert "blocks_read_per_get" in workloads["readmissing"]
    assert 0 <= workloads["readhot"]["block_cache_hit_rate"] <= 1
    assert workloads["sync_batch100"]["fsyncs_saved"] > 0, workloads["sync_batch100"]
    assert workloads["sync_each"]["fsyncs"] >= 1
    assert workloads["recovery"]["wal_mb"] > 0
    assert workloads["readrandom_compacted"]["compaction_seconds"] >= 0


def test_write_and_space_amplification_and_peak_rss_are_reported(small_run) -> None:
    _, report = small_run
    for name, engine in engines(report).items():
        if engine["status"] != "measured":
            continue
        assert engine["memory"]["peak_rss"] > 0, name
        amplification = engine["amplification"]
        if name == "dict":
            assert amplification["status"] == "n/a"
            continue
        assert amplification["space_amplification"] > 0, name
        assert amplification["disk_bytes"] > 0, name
    assert report["tinylsm"]["amplification"]["write_amplification"] > 0


def test_the_rss_check_samples_a_quarter_and_the_end_of_the_load(small_run) -> None:
    _, report = small_run
    for name, engine in engines(report).items():
        if engine["status"] != "measured":
            continue
        rss = engine["workloads"]["rss"]
        assert rss["rss_at_quarter"] > 0 and rss["rss_at_end"] > 0, (name, rss)
        assert isinstance(rss["flat"], bool), (name, rss)
        assert "flat when" in rss["criterion"]
    completed, _ = small_run
    assert "RSS at 1/4 of 30,000" in completed.stdout


def test_the_output_has_the_tables_and_a_header_without_private_details(small_run) -> None:
    completed, report = small_run
    out = completed.stdout
    assert "| workload " in out and "| tinylsm ops/s |" in out
    for name in BASELINES:
        assert f"vs {name}" in out
    assert "machine: " in out and "date: " in out and "packages: " in out
    assert "tinylsm: day1=solutions" in out and "every day's features on" in out
    assert f"one transaction per {1000:,} writes" in out, "the SQLite transaction size must be printed"
    private_texts = {str(Path.home()), str(ROOT), f"{tempfile.gettempdir()}/tinylsm-bench-"}
    if len(socket.gethostname()) >= 4:
        private_texts.add(socket.gethostname())
    for private in private_texts:
        assert private not in out, f"the output shows {private!r}"
        assert private not in json.dumps(report), f"the JSON shows {private!r}"
    for workload in WORKLOADS:
        assert f" {workload} " in out, f"no progress line for {workload}"


def test_a_missing_baseline_is_named_not_given_numbers() -> None:
    plan = Plan(n=10, quick=True, workloads=("fillrandom",)).describe()
    report = {
        "plan": plan,
        "tinylsm": {
            "status": "measured",
            "workloads": {"fillrandom": {"status": "ok", "ops_per_sec": 100.0, "mb_per_sec": 0.1}},
        },
        "baselines": {
            "sqlite3": {"status": "measured", "workloads": {"fillrandom": {"status": "ok", "ops_per_sec": 50.0}}},
            "plyvel": {"status": "not installed", "reason": f"not installed: {INSTALL_HINT}"},
        },
    }
    report["ratios"] = ratios(report)
    assert report["ratios"]["fillrandom"] == {"sqlite3": 2.0, "plyvel": None}
    text = "\n".join(throughput_lines(report))
    row = next(line for line in text.splitlines() if line.startswith("| fillrandom"))
    assert "2.0x" in row and "not installed" in row
    assert f"plyvel: not installed: {INSTALL_HINT}" in text


@pytest.mark.parametrize(("ratio", "text"), [(0.04213, "0.042x"), (0.35, "0.35x"), (3.46, "3.5x"), (123.4, "123x")])
def test_ratios_read_with_two_significant_digits(ratio: float, text: str) -> None:
    assert times(ratio) == text


def test_the_plan_scales_with_n() -> None:
    quick, full = Plan(n=20_000, quick=True), Plan(n=1_000_000, quick=False)
    assert (quick.scan_length, full.scan_length) == (5_000, 100_000)
    assert (quick.reads, full.reads) == (20_000, 1_000_000)
    assert full.sync_ops >= quick.sync_ops > 0
    assert quick.rss_entries > quick.n
    assert full.rss_entries * 116 >= 1 << 30 > (full.rss_entries - 1) * 116, (
        "a full run loads 1 GiB for the memory check"
    )
    assert Plan(n=50_000, quick=False).rss_entries == 50_000, "a scaled-down full run loads N"


def composition_of(days: range) -> Composition:
    return Composition(
        "test", {day: ROOT / "solutions" / f"day{day}" for day in days}, dict.fromkeys(days, "solutions")
    )


def test_the_features_of_days_not_written_yet_are_switched_off_and_named() -> None:
    full = tinylsm_setup(composition_of(range(1, 8)))
    assert full.features_off == () and full.options is not None and full.options.background_work
    before_day6 = tinylsm_setup(composition_of(range(1, 6)))
    assert set(before_day6.features_off) == {
        "enable_wal=False",
        "enable_manifest=False",
        "bloom_bits_per_key=0",
        "prefix_compression=False",
        "checksums=False",
        "group_commit=False",
    }
    before_day5 = tinylsm_setup(composition_of(range(1, 5)))
    assert "compaction=NoCompaction()" in before_day5.features_off
    assert "background_work=False" in before_day5.features_off
    no_engine = tinylsm_setup(composition_of(range(1, 4)))
    assert no_engine.options is None and "day 4" in no_engine.describe_options()


@pytest.mark.parametrize("args", [["--only", "nosuch"], ["--n", "0"], ["--baselines", "mysql"]])
def test_a_bad_command_line_is_a_usage_error(args: list[str]) -> None:
    completed = checker("bench", *args, env={"TINYLSM_IMPL": "solutions"})
    assert completed.returncode == 2, completed.stdout + completed.stderr


def test_the_real_quick_run(tmp_path: Path) -> None:
    """``--quick`` as a student runs it (its time is reported by the run, not checked here)."""
    completed, report = bench(tmp_path, "--quick")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert report["plan"]["quick"] and report["plan"]["n"] == 20_000
    assert_complete(report)
    assert report["elapsed_seconds"] > 0


def test_bench_on_the_untouched_course_stops_with_one_sentence() -> None:
    """On the stubs, bench --quick names the unfinished task and exits 1, without a traceback."""
    from tests.helpers import checker

    completed = checker("bench", "--quick", env={"TINYLSM_IMPL": "student"})
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr, completed.stderr[-2000:]
    assert "the engine cannot run yet: unfinished task" in completed.stderr, completed.stderr
