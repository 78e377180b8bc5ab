"""``python -m checker bench``: how fast the composed engine is, next to baselines measured in the same run.

::

    python -m checker bench                      # a full run: N = 1,000,000, and 1 GiB for the memory check
                                                 # (about 25 minutes on 2 cores, half of it the memory check)
    python -m checker bench --quick              # N = 20,000, about a minute
    python -m checker bench --only fillrandom readrandom --baselines sqlite3
    python -m checker bench --quick --json bench.json

The workloads (see ``checker.benchmarks.workloads``) run on TinyLSM, composed as
``TINYLSM_IMPL`` says, and on each baseline: a ``SortedDict`` in memory, SQLite,
and, when installed (``pip install -e '.[bench]'``), LevelDB through plyvel and
RocksDB through rocksdict. Every engine runs in a subprocess of its own, in a
fresh temporary directory that is removed afterwards. The table gives TinyLSM's
ops/s and MB/s and its ratio to each baseline: the ratios, measured in the same
run, survive a noisy machine better than absolute numbers. Nothing is asserted.

Exit status: 0 when every workload ran, 1 when one failed or gave a wrong answer
(or TinyLSM could not run), 2 on a bad command line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from checker.benchmarks.baselines import BASELINES, missing_reason
from checker.benchmarks.report import header_lines, machine, ratios, report_lines
from checker.benchmarks.workloads import FULL_N, QUICK_N, WORKLOADS, Plan, progress_text
from checker.common import DEFAULT_ROOT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, parse_arguments


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checker bench",
        description="Benchmark the composed TinyLSM engine against baselines measured in the same run.",
        epilog="workloads: " + "; ".join(f"{name}: {text}" for name, text in WORKLOADS.items()),
    )
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_N:,} and short scans (about a minute)")
    parser.add_argument("--n", type=_positive, metavar="N", help=f"operations per workload (default {FULL_N:,})")
    parser.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    parser.add_argument("--only", nargs="+", choices=list(WORKLOADS), metavar="NAME", help="run only these workloads")
    parser.add_argument(
        "--baselines",
        nargs="*",
        choices=list(BASELINES),
        default=list(BASELINES),
        metavar="NAME",
        help=f"baselines to measure (default: all of {', '.join(BASELINES)}; none when given no name)",
    )
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"N must be at least 1, got {value}")
    return value


def _tinylsm_setup() -> dict[str, Any]:
    from checker.benchmarks.engines import tinylsm_setup

    setup = tinylsm_setup()
    return {
        "composition": setup.composition,
        "last_day": setup.last_day,
        "options": setup.describe_options(),
        "features_off": list(setup.features_off),
    }


def _run_worker(mode: str, engine: str, plan: Plan, scratch: Path) -> dict[str, Any]:
    """Run ``checker.benchmarks.worker MODE`` for one engine, relaying its progress lines; its result."""
    root = scratch / f"{engine}-{mode}"
    root.mkdir()
    config_file, result_file, errors_file = (scratch / f"{engine}-{mode}.{s}" for s in ("json", "result", "stderr"))
    config = {"engine": engine, "plan": plan.describe(), "root": str(root), "result": str(result_file)}
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "checker.benchmarks.worker", mode, str(config_file)]
    hide = str(root)  # no absolute path reaches the report: the temporary directory is shown as <tmp>
    try:
        with errors_file.open("w") as errors:
            worker = subprocess.Popen(command, cwd=DEFAULT_ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
            assert worker.stdout is not None
            for line in worker.stdout:
                print(line.rstrip("\n").replace(hide, "<tmp>"), flush=True)
            status = worker.wait()
        stderr = errors_file.read_text().replace(hide, "<tmp>")
        if stderr.strip():
            print(stderr.rstrip(), file=sys.stderr, flush=True)
        if not result_file.exists():
            return {"status": "error", "error": f"the worker exited with status {status}: {stderr.strip()[-600:]}"}
        return json.loads(result_file.read_text().replace(hide, "<tmp>"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(engine: str, plan: Plan, scratch: Path) -> dict[str, Any]:
    """Every workload of ``plan`` on ``engine``: the main worker, then the memory check in a fresh process."""
    result = _run_worker("run", engine, plan, scratch)
    if result.get("status") == "measured" and "rss" in plan.workloads:
        rss = _run_worker("rss", engine, plan, scratch)
        result["workloads"]["rss"] = rss
        print(f"{engine:<10} {'rss':<21} {progress_text(rss)}", flush=True)
        if rss.get("status") == "ok":
            verdict = {True: "flat", False: "grows", None: "n/a"}[rss["flat"]]
            quarter, half, end = rss["rss_at_quarter"], rss["rss_at_half"], rss["rss_at_end"]
            print(
                f"{engine:<10} {'':<21} RSS {_mib(quarter)} at 1/4, {_mib(half)} at 1/2, {_mib(end)} at the end: "
                f"{verdict}",
                flush=True,
            )
    return result


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / (1 << 20):.1f} MiB"


def _failed(report: dict[str, Any]) -> list[str]:
    """``engine workload`` for every workload that failed or answered wrong (and engines that could not run)."""
    failures = []
    for name, engine in {"tinylsm": report["tinylsm"], **report["baselines"]}.items():
        if engine["status"] == "not installed":
            continue
        if engine["status"] != "measured":
            failures.append(f"{name}: {engine.get('reason') or engine.get('error')}")
            continue
        for workload, result in engine["workloads"].items():
            if result.get("status") in ("error", "wrong"):
                failures.append(f"{name} {workload}: {result.get('error') or 'wrong answers'}")
    return failures


def _unfinished_engine() -> str:
    """Why the composed engine cannot open, put and get (a task still a stub), or ``""``."""
    from checker.benchmarks.engines import tinylsm_setup

    setup = tinylsm_setup()
    if setup.options is None:
        return ""
    folder = Path(tempfile.mkdtemp(prefix="tinylsm-bench-check-"))
    try:
        from tinylsm.engine import LsmStorage

        db = LsmStorage.open(folder / "db", setup.options)
        try:
            db.put(b"key", b"value")
            db.get(b"key")
        finally:
            db.close()
    except NotImplementedError as error:
        day = str(error)[3:4] if str(error).startswith("day") else ""
        hint = ""
        if day.isdigit() and (DEFAULT_ROOT / "solutions").is_dir():
            impl = "solutions" if day == "1" else f"student:1-{int(day) - 1}" if day != "2" else "student:1"
            hint = f" (to use the reference from day {day} on: TINYLSM_IMPL={impl} python -m checker bench --quick)"
        return f"unfinished task {error}{hint}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ""


def main(argv: list[str]) -> int:
    """Run the benchmark; see the module's docstring for the exit status."""
    args = parse_arguments(_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        import tinylsm  # noqa: F401 - chooses the composition from TINYLSM_IMPL
    except ValueError as error:
        print(f"bench: {error}", file=sys.stderr)
        return EXIT_USAGE
    unfinished = _unfinished_engine()
    if unfinished:
        print(f"bench: the engine cannot run yet: {unfinished}", file=sys.stderr)
        return EXIT_FAILED
    started = time.monotonic()
    n = args.n or (QUICK_N if args.quick else FULL_N)
    plan = Plan(n=n, quick=args.quick, workloads=tuple(w for w in WORKLOADS if not args.only or w in args.only))
    report: dict[str, Any] = {
        "schema": "tinylsm-bench/1",
        "machine": machine(),
        "plan": plan.describe(),
        "workloads": {name: text for name, text in WORKLOADS.items() if name in plan.workloads},
        "tinylsm": {"setup": _tinylsm_setup()},
        "baselines": {},
    }
    for name in args.baselines:
        reason = missing_reason(name)
        report["baselines"][name] = (
            {"status": "not installed", "reason": reason} if reason else {"settings": BASELINES[name].settings()}
        )
    for line in header_lines(report):
        print(line, flush=True)
    print(flush=True)

    with tempfile.TemporaryDirectory(prefix="tinylsm-bench-") as scratch:
        report["tinylsm"].update(measure("tinylsm", plan, Path(scratch)))
        for name, entry in report["baselines"].items():
            if entry.get("status") != "not installed":
                entry.update(measure(name, plan, Path(scratch)))

    report["ratios"] = ratios(report)
    report["elapsed_seconds"] = time.monotonic() - started
    for line in report_lines(report):
        print(line)
    failures = _failed(report)
    for failure in failures:
        print(f"FAILED: {failure}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return EXIT_FAILED if failures else EXIT_OK
