"""Run a day's tests in a fresh, limited interpreter and turn what they report into a ``DayReport``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from checker.common import Day, Grading
from checker.grading.report import DayReport, TestResult

DAY_TIME_LIMIT = 900
"""Seconds a whole day's test run may take before its remaining tests time out."""

MEMORY_LIMIT_MB = 4096
"""Address space a day's test run may use; beyond it allocations raise ``MemoryError``."""


@dataclass
class TestRun:
    """What one pytest subprocess reported."""

    collected: list[dict]
    results: dict[str, dict]
    collect_errors: list[str]
    returncode: int | None
    output: str
    timed_out: bool
    duration: float


def run_pytest(
    root: Path,
    targets: list[str],
    env_changes: dict[str, str],
    *,
    test_timeout: int,
    time_limit: float = DAY_TIME_LIMIT,
    memory_limit_mb: int = MEMORY_LIMIT_MB,
    stop_at_first_failure: bool = False,
) -> TestRun:
    """Run pytest on ``targets`` (paths relative to ``root``) in a fresh, limited interpreter.

    The run gets its own process group (so that a timeout kills everything it
    started), a memory cap, and its output goes to a file of which only the end
    is kept. Whatever happens to it, the tests it collected are returned, with
    the results of those that reported.
    """
    with tempfile.TemporaryDirectory(prefix="tinylsm-grade-") as scratch:
        results_file = Path(scratch) / "results.jsonl"
        output_file = Path(scratch) / "output.txt"
        command = [
            sys.executable,
            "-m",
            "checker.grading.sandbox",
            str(memory_limit_mb),
            "pytest",
            *targets,
            "--hidden",
            "-p",
            "checker.grading.pytest_plugin",
            f"--checker-results={results_file}",
            f"--timeout={test_timeout}",
            "-q",
            "--no-header",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=--import-mode=importlib --strict-markers",
        ]
        if stop_at_first_failure:
            command.append("-x")
        env = {**os.environ, **env_changes, "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("PYTEST_ADDOPTS", None)
        started = time.monotonic()
        timed_out = False
        with output_file.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                returncode: int | None = process.wait(timeout=time_limit)
            except subprocess.TimeoutExpired:
                timed_out, returncode = True, None
            finally:
                _kill_group(process)
        duration = time.monotonic() - started
        collected, results, collect_errors = _read_results(results_file)
        return TestRun(collected, results, collect_errors, returncode, _tail(output_file), timed_out, duration)


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the run and anything it started (a child left behind could hold files or CPU)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _tail(path: Path, limit: int = 20_000) -> str:
    """The last ``limit`` bytes of a file, decoded (a submission may print without end)."""
    with path.open("rb") as file:
        file.seek(max(path.stat().st_size - limit, 0))
        return file.read().decode(errors="replace")


def _read_results(path: Path) -> tuple[list[dict], dict[str, dict], list[str]]:
    collected: list[dict] = []
    results: dict[str, dict] = {}
    collect_errors: list[str] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short when the process died
            if record["event"] == "collected":
                collected = record["tests"]
            elif record["event"] == "collect_error":
                collect_errors.append(record["message"])
            elif record["nodeid"] not in results or results[record["nodeid"]]["outcome"] == "passed":
                results[record["nodeid"]] = record
    return collected, results, collect_errors


def grade_day(
    root: Path, day: Day, impl: str, grading: Grading, env_changes: dict[str, str] | None = None
) -> DayReport:
    """Run day ``day``'s visible and hidden tests under composition ``impl`` and grade them."""
    report = DayReport(day=day.number, title=day.title, available=day.is_available(root), impl=impl)
    if not report.available:
        return report
    run = run_pytest(
        root,
        [f"days/day{day.number}"],
        {"TINYLSM_IMPL": impl, **(env_changes or {})},
        test_timeout=grading.test_timeout,
        time_limit=grading.day_time_limit,
        memory_limit_mb=grading.memory_limit_mb,
    )
    report.duration = run.duration
    if run.collect_errors or not run.collected:
        report.error = (
            "the tests could not be collected: " + "\n".join(run.collect_errors)
            if run.collect_errors
            else "no test ran:\n" + run.output[-3000:]
        )
    weights = [grading.weight(t["name"], t["visibility"]) for t in run.collected]
    total_weight = sum(weights) or 1.0
    for test, weight in zip(run.collected, weights, strict=True):
        max_score = grading.points_per_day * weight / total_weight
        result = run.results.get(test["nodeid"])
        if result is None:
            outcome = "timeout" if run.timed_out else "error"
            message = (
                "the day's tests ran out of time before this test finished"
                if run.timed_out
                else "the test process ended before this test reported (a crash or an exit from the code under test?)"
            )
        else:
            outcome, message = result["outcome"], result["message"]
            if outcome == "failed" and result["when"] != "call":
                outcome = "error"
        report.tests.append(
            TestResult(
                name=test["name"],
                task=test["task"],
                visibility=test["visibility"],
                outcome=outcome,
                score=round(max_score if outcome == "passed" else 0.0, 4),
                max_score=round(max_score, 4),
                message=message,
                property=test["property"],
                nodeid=test["nodeid"],
                duration=result["duration"] if result else 0.0,
            )
        )
    report.max_score = grading.points_per_day
    report.score = round(sum(t.score for t in report.tests), 2) if not report.error else 0.0
    return report
