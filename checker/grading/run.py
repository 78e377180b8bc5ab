"""Run a day's tests in a fresh, limited interpreter and turn what they report into a ``DayReport``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from checker.common import Day, Grading, UsageError
from checker.grading.isolation.containment import protect
from checker.grading.isolation.trees import GradingTrees, build_trees
from checker.grading.reach import reaching_code
from checker.grading.report import DayReport, TestResult
from tinylsm._composition import CompositionError, compose

DAY_TIME_LIMIT = 900
"""Seconds a whole day's test run may take before its remaining tests time out."""

MEMORY_LIMIT_MB = 4096
"""Address space a day's test run may use; beyond it allocations raise ``MemoryError``."""

Progress = Callable[[int, int], None]
"""Called with (tests done, tests collected) while a day's tests run."""

IMPORT_TIME_LIMIT = 30.0
"""Seconds importing one module of the student's may take before it is reported as hanging."""

DISK_LIMIT_MB = 2048
"""Disk a day's graded run may fill in its scratch folder before the run is stopped."""

DISK_POLL_SECONDS = 0.5
"""How often the scratch folder of a running day is measured."""

MAX_SCRATCH_ENTRIES = 200_000
"""Files and folders a scratch folder may hold (a flood of empty files fills a disk's inodes)."""

GRADE_REACHING_CODE = "TINYLSM_GRADE_REACHING_CODE"
"""Set (by the course's own tests of the engine process's defences), a day is graded even if its code reaches into
the process that runs it (see ``checker.grading.reach``)."""

MAX_REPLAY_BYTES = 64 << 20
"""The largest operation log of a failing test copied out of a graded run's scratch folder."""


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
    disk_exceeded: bool = False
    protections: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def run_pytest(
    root: Path,
    day: int,
    env_changes: dict[str, str],
    *,
    test_timeout: int,
    time_limit: float = DAY_TIME_LIMIT,
    memory_limit_mb: int = MEMORY_LIMIT_MB,
    import_time_limit: float = IMPORT_TIME_LIMIT,
    disk_limit_mb: int = DISK_LIMIT_MB,
    stop_at_first_failure: bool = False,
    trusted_code: bool = False,
    tests: str | None = None,
    progress: Progress | None = None,
) -> TestRun:
    """Run day ``day``'s visible and hidden tests, isolated from the code they grade.

    The tests run in a fresh interpreter of their own (the test process) on a
    private copy of the course; the composed engine (``TINYLSM_IMPL`` and
    ``TINYLSM_DAY_DIRS`` in ``env_changes`` say whose code) runs in an engine
    process that the tests reach through proxies (``checker.grading.isolation``).
    Results come back through a pipe that only the test process holds. Whatever
    happens to the run, the tests it collected are returned, with the results of
    those that reported.

    ``tests`` (a path in the course) runs those tests instead of the day's.
    ``progress`` is called with (tests done, tests collected) as they report.

    ``trusted_code`` is for the instructors' own code (the mutants of the
    reference): the tests run in the course itself, in one process, and hidden
    tests are reported by name.
    """
    private = Path(tempfile.mkdtemp(prefix="tinylsm-grade-"))
    try:
        arguments = [tests or f"days/day{day}", f"--timeout={test_timeout}"]
        env = {**os.environ, **env_changes, "PYTHONDONTWRITEBYTECODE": "1"}
        # failing model tests' logs are kept where TINYLSM_REPLAY_DIR says, as under pytest, else in
        # the course (read before an isolated run points the variable at its scratch folder)
        keep = Path(env.get("TINYLSM_REPLAY_DIR") or root)
        protections: list[str] = []
        ignored: list[str] = []
        if trusted_code:
            arguments.append("--checker-reveal-names")
            cwd = root
        else:
            trees = _isolated_trees(root, day, env_changes, private, memory_limit_mb, import_time_limit)
            settings_file = private / "settings.json"
            trees.settings.save(str(settings_file))
            arguments += [
                "-p",
                "checker.grading.isolation.plugin",
                f"--checker-worker={settings_file}",
                f"--basetemp={trees.scratch / 'tests'}",
            ]
            test_temp, replays = trees.scratch / "tmp", trees.scratch / "replays"
            test_temp.mkdir()
            replays.mkdir()
            # the tests' own temporary folders (and the logs of failing model tests) must be
            # where the test process may still write once it has given up the course
            env.update({"TINYLSM_IMPL": "student", "TMPDIR": str(test_temp), "TINYLSM_REPLAY_DIR": str(replays)})
            env.pop("TINYLSM_DAY_DIRS", None)
            cwd, protections, ignored = trees.tests, trees.settings.protections, trees.ignored
        if stop_at_first_failure:
            arguments.append("-x")
        limits = _RunLimits(time_limit, memory_limit_mb, None if trusted_code else (private / "scratch", disk_limit_mb))
        run = _run_test_process(cwd, arguments, env, private / "output.txt", limits, progress)
        run.protections, run.ignored = protections, ignored
        if not trusted_code:
            replays = private / "scratch" / "replays"
            logs = _regular_files(replays, "tinylsm-replay-*.json")
            if logs:
                keep.mkdir(parents=True, exist_ok=True)
            for log in logs:
                shutil.copy2(log, keep / _replay_name(log.name, run.collected))  # for `python -m checker replay FILE`
            for result in run.results.values():  # the messages name the copies, not the scratch folder's files
                result["message"] = result["message"].replace(str(replays), str(keep))
        return run
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _regular_files(folder: Path, pattern: str) -> list[Path]:
    """The files of ``folder`` (a folder the code graded could write) matching ``pattern``, links and devices left out.

    The engine process may have replaced a log by a link (to ``/dev/zero``, to a file
    it may not read), or the folder itself: only regular files of the real folder,
    no larger than ``MAX_REPLAY_BYTES``, are taken.
    """
    if folder.is_symlink() or not folder.is_dir():
        return []
    return [
        path
        for path in sorted(folder.glob(pattern))
        if stat.S_ISREG(path.lstat().st_mode) and path.lstat().st_size <= MAX_REPLAY_BYTES
    ]


def _replay_name(name: str, collected: list[dict]) -> str:
    """The name of a failing test's operation log: a hidden test's is named after its alias, as its message says."""
    for test in collected:
        if test["visibility"] == "hidden" and test.get("function"):
            function = re.escape(test["function"].split("[", 1)[0])
            name = re.sub(rf"(?<=tinylsm-replay-){function}(?![A-Za-z0-9_])", test["nodeid"], name)
    return name


def _isolated_trees(
    root: Path, day: int, env_changes: dict[str, str], private: Path, memory_limit_mb: int, import_time_limit: float
) -> GradingTrees:
    """The test tree and the engine tree of one graded run, with the protections this machine allows."""
    try:
        composition = compose(env_changes.get("TINYLSM_IMPL", "student"), root, env_changes.get("TINYLSM_DAY_DIRS", ""))
    except CompositionError as error:  # e.g. a release's compiled reference and another Python
        raise UsageError(str(error)) from None
    graded_days = {number for number, source in composition.sources.items() if source != "solutions"}
    trees = build_trees(root, composition, graded_days, day, private)
    trees.settings.memory_limit_mb = memory_limit_mb
    trees.settings.import_time_limit = import_time_limit
    protect(trees.settings)
    private.chmod(0o711)  # the engine's user may reach its own tree, and list nothing here
    trees.tests.chmod(0o700)
    return trees


@dataclass
class _RunLimits:
    """The bounds of one test process: its time, its address space, and the disk its scratch folder may fill."""

    time_limit: float
    memory_limit_mb: int
    disk: tuple[Path, int] | None
    """The scratch folder and its limit in MiB (an isolated run's), or ``None``."""


def scratch_usage(folder: Path) -> tuple[int, int]:
    """(bytes the files below ``folder`` take on disk, how many files and folders it holds)."""
    used = entries = 0
    pending = [str(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as found:
                for entry in found:
                    entries += 1
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(entry.path)
                        else:
                            used += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue  # removed while being measured
        except OSError:
            continue
        if entries > MAX_SCRATCH_ENTRIES:
            break
    return used, entries


def _over_disk_limit(disk: tuple[Path, int] | None) -> bool:
    if disk is None:
        return False
    used, entries = scratch_usage(disk[0])
    return used > disk[1] * 1024 * 1024 or entries > MAX_SCRATCH_ENTRIES


def _run_test_process(
    cwd: Path,
    arguments: list[str],
    env: dict[str, str],
    output_file: Path,
    limits: _RunLimits,
    progress: Progress | None,
) -> TestRun:
    """Run pytest with the grading plugin in a fresh, limited interpreter; what it reported."""
    for name in ("PYTEST_ADDOPTS", "PYTHONPATH", "PYTEST_PLUGINS"):
        env.pop(name, None)
    read_end, write_end = os.pipe()
    command = [
        sys.executable,
        "-m",
        "checker.grading.sandbox",
        str(limits.memory_limit_mb),
        "pytest",
        *arguments,
        "--hidden",
        "-p",
        "checker.grading.pytest_plugin",
        f"--checker-results-fd={write_end}",
        "-q",
        "--no-header",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=--import-mode=importlib --strict-markers",
    ]
    started = time.monotonic()
    timed_out = disk_exceeded = False
    returncode: int | None = None
    records: list[bytes] = []
    with output_file.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        reader = threading.Thread(target=_drain, args=(read_end, records, _Tally(progress)), daemon=True)
        reader.start()
        deadline = started + limits.time_limit
        try:
            while True:
                try:
                    returncode = process.wait(timeout=max(0.0, min(DISK_POLL_SECONDS, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= deadline:
                        timed_out = True
                        break
                    if _over_disk_limit(limits.disk):
                        disk_exceeded = True
                        break
        finally:
            _kill_group(process)
            reader.join(timeout=10)
    duration = time.monotonic() - started
    collected, results, collect_errors = _read_results(b"".join(records))
    run = TestRun(collected, results, collect_errors, returncode, _tail(output_file), timed_out, duration)
    run.disk_exceeded = disk_exceeded
    return run


def _drain(fd: int, records: list[bytes], tally: _Tally) -> None:
    """Read the test process's results pipe to its end (a full pipe would stall the tests)."""
    try:
        while chunk := os.read(fd, 65536):
            records.append(chunk)
            tally.feed(chunk)
    finally:
        os.close(fd)


class _Tally:
    """Counts the tests that have reported, from the results as they arrive, for a progress display."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._partial = b""
        self._total = 0
        self._done: set[str] = set()

    def feed(self, chunk: bytes) -> None:
        if self._progress is None:
            return
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                record = json.loads(line)
                if record["event"] == "collected":
                    self._total = len(record["tests"])
                elif record["event"] == "result":
                    self._done.add(record["nodeid"])
        if lines:
            self._progress(len(self._done), self._total)


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


def _read_results(data: bytes) -> tuple[list[dict], dict[str, dict], list[str]]:
    collected: list[dict] = []
    results: dict[str, dict] = {}
    collect_errors: list[str] = []
    if data:
        for line in data.decode("utf-8", errors="replace").splitlines():
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
    root: Path,
    day: Day,
    impl: str,
    grading: Grading,
    env_changes: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> DayReport:
    """Run day ``day``'s visible and hidden tests under composition ``impl`` and grade them.

    ``progress`` is called with (tests done, tests collected) as the tests report.
    """
    report = DayReport(day=day.number, title=day.title, available=day.is_available(root), impl=impl)
    if not report.available:
        return report
    graded_as_written = "student" in impl and not os.environ.get(GRADE_REACHING_CODE)
    reaching = reaching_code(root / "days" / f"day{day.number}") if graded_as_written else []
    if reaching:
        report.error = (
            "the day's code reaches into the process that runs it, where the tests' answers are made, so it is "
            'not graded (an LSM engine needs none of this; see the grading page, "Code that is not graded"):\n'
            + "\n".join(f"  days/day{day.number}/{where}" for where in reaching)
        )
        report.max_score = grading.points_per_day
        return report
    run = run_pytest(
        root,
        day.number,
        {"TINYLSM_IMPL": impl, **(env_changes or {})},
        test_timeout=grading.test_timeout,
        time_limit=grading.day_time_limit,
        memory_limit_mb=grading.memory_limit_mb,
        import_time_limit=grading.import_time_limit,
        disk_limit_mb=grading.disk_limit_mb,
        progress=progress,
    )
    report.duration = run.duration
    report.protections = run.protections
    report.ignored = run.ignored
    disk_full = (
        f"the code graded filled more than {grading.disk_limit_mb} MiB of disk (or more than "
        f"{MAX_SCRATCH_ENTRIES:,} files), so the day's run was stopped"
    )
    if run.disk_exceeded and not run.collected:
        report.error = disk_full
    elif run.collect_errors or not run.collected:
        report.error = (
            "the tests could not be collected: " + "\n".join(run.collect_errors)
            if run.collect_errors
            else "no test ran:\n" + run.output[-3000:]
        )
    weights = grading.test_weights(run.collected)
    total_weight = sum(weights) or 1.0
    for test, weight in zip(run.collected, weights, strict=True):
        max_score = grading.points_per_day * weight / total_weight
        result = run.results.get(test["nodeid"])
        if result is None:
            outcome = "timeout" if run.timed_out else "error"
            if run.timed_out:
                message = "the day's tests ran out of time before this test finished"
            elif run.disk_exceeded:
                message = disk_full + " before this test finished"
            else:
                message = (
                    "the test process ended before this test reported (a crash or an exit from the code under test?)"
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
                # six decimals: a day of 200 tests then still sums to its points to the cent
                score=round(max_score if outcome == "passed" else 0.0, 6),
                max_score=round(max_score, 6),
                message=message,
                property=test["property"],
                nodeid=test["nodeid"],
                duration=result["duration"] if result else 0.0,
                engine_raised=bool(result and result.get("engine_raised")),
                invariant=bool(test.get("invariant")),
            )
        )
    share_refusals(report.tests)
    report.max_score = grading.points_per_day
    report.score = round(sum(t.score for t in report.tests), 2) if not report.error else 0.0
    return report


def share_refusals(tests: list[TestResult]) -> None:
    """A test passed on a refusal, or passed as code that does nothing would, earns its points in the share of its
    task's other tests that pass.

    A test that expects an error (bad input refused, damage detected) passes as well on
    code that refuses everything, and an invariant (``@pytest.mark.invariant``: an empty
    iterator is invalid, an idle compactor leaves no stray file) on code that does
    nothing. So such a test earns its points times the share, by points, of the other
    tests of its task (or, for a task made of such tests only, of the day) that pass:
    all of them for a finished task, none for code that only refuses or does nothing.
    """

    def conditional(test: TestResult) -> bool:
        return test.outcome == "passed" and (test.engine_raised or test.invariant)

    def share(group: list[TestResult]) -> float | None:
        others = [t for t in group if not conditional(t)]
        total = sum(t.max_score for t in others)
        return sum(t.max_score for t in others if t.outcome == "passed") / total if total else None

    day_share = share(tests) or 0.0
    tasks: dict[str, list[TestResult]] = {}
    for test in tests:
        tasks.setdefault(test.task, []).append(test)
    for group in tasks.values():
        task_share = share(group)
        earned = day_share if task_share is None else task_share
        for test in group:
            if conditional(test) and earned < 1:
                test.score = round(test.max_score * earned, 6)
                why = "on a refusal" if test.engine_raised else "as code that does nothing would"
                test.message = (
                    f"passed {why}: it earns {earned:.0%} of its points, the share of the other tests of its task "
                    "that pass (it counts once the task's own work does)"
                )
