"""The subprocess that runs one engine, so that engines never share a process.

``python -m checker bench`` starts, for each engine::

    python -m checker.benchmarks.worker run CONFIG   # every workload but rss; writes the result JSON
    python -m checker.benchmarks.worker rss CONFIG   # the memory check, in a fresh process

and the recovery workload starts ``worker crash ENGINE DIR ENTRIES SEED``, a writer
that kills itself. ``CONFIG`` is a JSON file: ``engine``, ``plan`` (see
``Plan.describe``), ``root`` (an empty directory to work in) and ``result`` (where
to write the result). Progress lines go to standard output, tracebacks to
standard error.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

from checker.benchmarks import process
from checker.benchmarks.baselines import new_engine
from checker.benchmarks.workloads import EngineRun, Plan, rss_growth, write_then_die


def _progress(line: str) -> None:
    print(line, flush=True)


def run_engine(config: dict[str, Any]) -> dict[str, Any]:
    """Every workload of the plan on one engine; the result as the report wants it."""
    name = config["engine"]
    plan = Plan.from_dict(config["plan"])
    try:
        probe = new_engine(name)
    except Exception as error:
        return {"status": "unavailable", "reason": f"{type(error).__name__}: {error}"}
    run = EngineRun(name, lambda: new_engine(name), plan, Path(config["root"]), _progress)
    harness_rss = process.current_rss()
    workloads = run.run()
    return {
        "status": "measured",
        "version": probe.version(),
        "settings": probe.settings(),
        "in_memory": probe.in_memory,
        "workloads": workloads,
        "amplification": run.amplification,
        "memory": {"peak_rss": process.peak_rss(), "harness_rss": harness_rss},
    }


def run_rss(config: dict[str, Any]) -> dict[str, Any]:
    """The memory check alone, in this fresh process."""
    name = config["engine"]
    try:
        engine = new_engine(name)
        result = rss_growth(engine, Plan.from_dict(config["plan"]), Path(config["root"]))
    except Exception as error:
        traceback.print_exc()
        result = {"status": "error", "error": f"{type(error).__name__}: {error}"}
    return result


def main(argv: list[str]) -> int:
    """Entry point of the worker; exit status 0 once the result is written, 2 on a bad command line."""
    if len(argv) == 5 and argv[0] == "crash":
        _, name, path, entries, seed = argv
        write_then_die(new_engine(name), Path(path), int(entries), int(seed))
        return 1  # not reached: the writer kills itself
    if len(argv) != 2 or argv[0] not in ("run", "rss"):
        print("usage: python -m checker.benchmarks.worker {run,rss} CONFIG | crash ENGINE DIR ENTRIES SEED")
        return 2
    config = json.loads(Path(argv[1]).read_text())
    result = run_engine(config) if argv[0] == "run" else run_rss(config)
    Path(config["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
