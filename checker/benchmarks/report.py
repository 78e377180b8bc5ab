"""The report: the machine header, the tables, and the ratios against the baselines.

Tables are Markdown (they read as plain text and paste into an issue as tables).
A ratio is TinyLSM's ops/s divided by the baseline's, both measured in the same
run: on a busy machine they drift less than the absolute numbers. Nothing here
prints a host name, a user name or an absolute path.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from checker.benchmarks.baselines import BASELINES, baseline_version
from checker.benchmarks.workloads import MB, RSS_LIMIT, WORKLOADS

Report = dict[str, Any]

TABLE_WORKLOADS = [name for name in WORKLOADS if name != "rss"]
"""The rows of the throughput tables (the memory check has a table of its own)."""


# ----------------------------------------------------------------------------
# The machine
# ----------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name, as the system reports it."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    if sys.platform == "darwin":
        completed = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, check=False
        )
        if completed.returncode == 0 and completed.stdout.strip():
            return completed.stdout.strip()
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict[str, Any]:
    """The machine and the software measured: CPU, cores, Python, OS, package versions, date."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    from checker.benchmarks.engines import TinyLsm

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(terse=True),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "packages": {"tinylsm": f"tinylsm {TinyLsm.version()}", **{n: baseline_version(n) for n in BASELINES}},
    }


# ----------------------------------------------------------------------------
# Numbers as text
# ----------------------------------------------------------------------------


def number(value: float | None, digits: int = 0) -> str:
    """``12,345`` (or ``12.3`` with ``digits``); ``n/a`` for ``None``."""
    return "n/a" if value is None else f"{value:,.{digits}f}"


def times(value: float | None) -> str:
    """A ratio as ``0.042x``, ``3.5x`` or ``120x``: two significant digits, at least one decimal below 10."""
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}x"
    if value >= 1:
        return f"{value:.1f}x"
    return f"{value:.2g}x"


def mebibytes(value: float | None) -> str:
    """Bytes as MiB with one decimal."""
    return "n/a" if value is None else f"{value / (1 << 20):,.1f} MiB"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table, the first column left-aligned and the others right-aligned, padded to line up."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(cells)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return [line(headers), rule, *(line(row) for row in rows)]


# ----------------------------------------------------------------------------
# Ratios and cells
# ----------------------------------------------------------------------------


def workload_result(report: Report, engine: str, workload: str) -> dict[str, Any] | None:
    """The result of ``workload`` on ``engine`` (``tinylsm`` or a baseline), or ``None``."""
    entry = report["tinylsm"] if engine == "tinylsm" else report["baselines"].get(engine, {})
    return entry.get("workloads", {}).get(workload)


def _ops(result: dict[str, Any] | None) -> float | None:
    if result is None or result.get("status") != "ok":
        return None
    return result["ops_per_sec"]


def ratios(report: Report) -> dict[str, dict[str, float | None]]:
    """``tinylsm ops/s / baseline ops/s`` for each workload and baseline (``None`` where either is missing)."""
    table: dict[str, dict[str, float | None]] = {}
    for workload in TABLE_WORKLOADS:
        mine = _ops(workload_result(report, "tinylsm", workload))
        table[workload] = {}
        for baseline in report["baselines"]:
            theirs = _ops(workload_result(report, baseline, workload))
            table[workload][baseline] = mine / theirs if mine is not None and theirs else None
    return table


def _status_cell(engine: dict[str, Any], result: dict[str, Any] | None) -> str:
    """What a cell says when there is no number."""
    status = engine.get("status")
    if status == "not installed":
        return "not installed"
    if status != "measured":
        return "unavailable" if status == "unavailable" else "failed"
    if result is None:
        return "-"
    return {"n/a": "n/a", "error": "failed", "wrong": "WRONG"}.get(result.get("status", ""), "n/a")


def _ratio_cell(report: Report, workload: str, baseline: str) -> str:
    value = report["ratios"][workload].get(baseline)
    if value is not None:
        return times(value)
    mine = workload_result(report, "tinylsm", workload)
    if mine is None or mine.get("status") != "ok":
        return "-"
    return _status_cell(report["baselines"][baseline], workload_result(report, baseline, workload))


# ----------------------------------------------------------------------------
# The sections of the report
# ----------------------------------------------------------------------------


def header_lines(report: Report) -> list[str]:
    """What runs where, with which settings: printed before the workloads start."""
    m, plan, setup = report["machine"], report["plan"], report["tinylsm"]["setup"]
    mode = "quick run" if plan["quick"] else "full run"
    packages = ", ".join(m["packages"].values())
    features = (
        "every day's features on"
        if not setup["features_off"]
        else f"features off (their day is not written yet): {', '.join(setup['features_off'])}"
    )
    lines = [
        f"TinyLSM benchmark, {mode}: N = {plan['n']:,}",
        f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['python']}, {m['os']}",
        f"date: {m['date']}",
        f"packages: {packages}",
        f"tinylsm: {setup['composition']}; {features}",
        f"tinylsm options: {setup['options']}",
    ]
    for name, engine in report["baselines"].items():
        lines.append(f"{name}: {engine.get('settings') or engine.get('reason', '')}")
    lines += [
        f"keys: {plan['key_size']} random bytes, values: {plan['value_size']} bytes from a pool of "
        f"{plan['value_pool']:,} random values (seed {plan['seed']}); gets per read workload {plan['reads']:,}, "
        f"hot keys {plan['hot_keys']:,}, scan {plan['scan_length']:,} keys, synced writes {plan['sync_ops']:,} per "
        f"workload ({plan['sync_threads']} threads), recovery {plan['recovery_entries']:,} entries, "
        f"memory check {plan['rss_entries']:,} entries",
        "every engine runs in a subprocess of its own, in a fresh temporary directory removed afterwards",
    ]
    return lines


def throughput_lines(report: Report) -> list[str]:
    """The main table (TinyLSM and its ratios), then the baselines' own ops/s."""
    baselines = list(report["baselines"])
    rows = []
    for workload in TABLE_WORKLOADS:
        if workload not in report["plan"]["workloads"]:
            continue
        mine = workload_result(report, "tinylsm", workload)
        if mine is not None and mine.get("status") == "ok":
            ops, mbs = number(mine["ops_per_sec"]), number(mine["mb_per_sec"], 2)
        else:
            ops = mbs = _status_cell(report["tinylsm"], mine)
        rows.append([workload, ops, mbs, *(_ratio_cell(report, workload, b) for b in baselines)])
    lines = markdown_table(["workload", "tinylsm ops/s", "MB/s", *(f"vs {b}" for b in baselines)], rows)
    lines.append("ratios are tinylsm ops/s / baseline ops/s, measured in this run; MB/s counts 116 B per op")
    lines.append("(readmissing: 16 B, the key); MB = 10^6 bytes")
    for name, engine in report["baselines"].items():
        if engine.get("status") != "measured":
            lines.append(f"{name}: {engine.get('reason', engine.get('status'))}")
    if not baselines:
        return lines
    rows = []
    for workload in TABLE_WORKLOADS:
        if workload not in report["plan"]["workloads"]:
            continue
        cells = []
        for baseline in baselines:
            result = workload_result(report, baseline, workload)
            ops = _ops(result)
            cells.append(number(ops) if ops is not None else _status_cell(report["baselines"][baseline], result))
        rows.append([workload, *cells])
    return [*lines, "", *markdown_table(["baseline ops/s", *baselines], rows)]


def details_lines(report: Report) -> list[str]:
    """What the counters say: filters, block cache, fsyncs saved, recovery speed, compaction time."""
    lines = []
    engines = {"tinylsm": report["tinylsm"], **report["baselines"]}
    for name, engine in engines.items():
        workloads = engine.get("workloads", {})
        notes = []
        missing = workloads.get("readmissing", {})
        counted = [
            f"{missing[key]:.3f} {label} per get"
            for key, label in (("filter_negatives_per_get", "filter negatives"), ("blocks_read_per_get", "blocks read"))
            if key in missing
        ]
        if counted:
            notes.append(f"readmissing: {', '.join(counted)}")
        hot = workloads.get("readhot", {})
        if "block_cache_hit_rate" in hot:
            notes.append(f"readhot: block cache hit rate {hot['block_cache_hit_rate']:.1%}")
        for workload in ("sync_each", "sync_batch100", "sync_threads"):
            synced = workloads.get(workload, {})
            if synced.get("fsyncs") is not None:
                notes.append(
                    f"{workload}: {synced['fsyncs']:,} fsyncs for {synced['ops']:,} writes "
                    f"({synced['fsyncs_saved']:,} saved)"
                )
        recovery = workloads.get("recovery", {})
        if recovery.get("status") == "ok":
            per_mb = recovery.get("ms_per_wal_mb")
            notes.append(
                f"recovery: {recovery['seconds'] * 1000:.0f} ms for {recovery['wal_mb']:.2f} MB of WAL"
                + (f" ({per_mb:.0f} ms per MB)" if per_mb is not None else "")
            )
        compacted = workloads.get("readrandom_compacted", {})
        if engine.get("in_memory"):
            pass  # nothing to compact or settle
        elif "compaction_seconds" in compacted:
            notes.append(f"full compaction: {compacted['compaction_seconds']:.2f} s")
        fill = workloads.get("fillrandom", {})
        if "settle_seconds" in fill and not engine.get("in_memory"):
            notes.append(f"fillrandom: {fill['settle_seconds']:.2f} s of it settling")
        if notes:
            lines.append(f"{name}: " + "; ".join(notes))
    return lines


def amplification_lines(report: Report) -> list[str]:
    """Write and space amplification after the fillrandom load, per engine."""
    rows = []
    sources = []
    for name, engine in {"tinylsm": report["tinylsm"], **report["baselines"]}.items():
        amp = engine.get("amplification") or {}
        if engine.get("status") != "measured" or not amp:
            continue
        if amp.get("status") != "ok":
            rows.append([name, "n/a", "n/a", "n/a", "n/a", "n/a"])
            continue
        rows.append(
            [
                name,
                number(amp.get("write_amplification"), 2),
                number(amp.get("syscall_write_amplification"), 2),
                number(amp["disk_bytes"] / MB, 1),
                number(amp["space_amplification"], 2),
                number(amp.get("space_amplification_after_compaction"), 2),
            ]
        )
        sources.append(f"{name}: {amp['write_amplification_source']}")
    if not rows:
        return []
    headers = ["engine", "write amp", "bytes written / user", "disk MB", "space amp", "after compaction"]
    return [
        *markdown_table(headers, rows),
        "write amp as the engine reports it; 'bytes written / user' counts every byte the process passed to write()",
        "during the load and its settling, the WAL included; space amp = file sizes / live key+value bytes",
        *sources,
    ]


def memory_lines(report: Report) -> list[str]:
    """Peak RSS of each engine's process, the RSS-flat check and, after a 1 GiB load, the peak against its target."""
    rows, targets = [], []
    for name, engine in {"tinylsm": report["tinylsm"], **report["baselines"]}.items():
        if engine.get("status") != "measured":
            continue
        memory = engine.get("memory", {})
        rss = engine.get("workloads", {}).get("rss") or {}
        flat = rss.get("flat")
        rows.append(
            [
                name,
                mebibytes(memory.get("peak_rss")),
                mebibytes(memory.get("harness_rss")),
                mebibytes(rss.get("rss_at_quarter")),
                mebibytes(rss.get("rss_at_half")),
                mebibytes(rss.get("rss_at_end")),
                mebibytes(rss.get("peak_rss")),
                "n/a" if flat is None else ("flat" if flat else "grows"),
            ]
        )
        if "within_rss_limit" in rss:
            verdict = "met" if rss["within_rss_limit"] else "not met"
            targets.append(f"{name} {mebibytes(rss['peak_rss'])} ({verdict})")
    if not rows:
        return []
    entries = report["plan"]["rss_entries"]
    headers = [
        "engine",
        "peak RSS",
        "harness RSS",
        f"RSS at 1/4 of {entries:,}",
        "at 1/2",
        "at the end",
        "peak",
        "RSS check",
    ]
    criterion = next(
        (e["workloads"]["rss"].get("criterion", "") for e in [report["tinylsm"]] if "rss" in e.get("workloads", {})), ""
    )
    lines = [
        *markdown_table(headers, rows),
        "peak RSS: the engine's process over every workload (harness RSS: its keys before any engine opened);",
        f"RSS at 1/4, 1/2, the end and the peak: a load of {entries:,} entries in a fresh process; {criterion}",
        "(caches and memtables still filling up count as growth: a small load shows their warm-up, a full run less)",
    ]
    if targets:
        lines.append(f"target: a peak of at most {RSS_LIMIT >> 20} MiB while loading 1 GiB: " + ", ".join(targets))
    return lines


def report_lines(report: Report) -> list[str]:
    """Every table, after the run."""
    sections = [throughput_lines(report), details_lines(report), amplification_lines(report), memory_lines(report)]
    lines: list[str] = []
    for section in sections:
        if section:
            lines += ["", *section]
    lines.append("")
    lines.append(
        f"elapsed: {report['elapsed_seconds']:.1f} s. Numbers are from one run on a machine that may be busy; "
        "no number is asserted."
    )
    return lines
