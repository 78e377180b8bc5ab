"""Compose the full engine from the days a student passed, and run the end-to-end scenario on it.

Every day whose tests all passed is taken from the student; every other day from
the reference (and reported as such). The scenario (``checker.grading.scenario``)
runs like any graded test: in a test process, with the composed engine in an
isolated engine process, so that the verdict is the tests' and not the code's.
When it fails, each of the student's days is swapped for the reference in turn:
the first swap that makes the scenario pass names the day most likely responsible.

Each day's own grade already holds its share of the scenario (the day's code in
the reference engine); this run, with all the student's days together, is reported
beside the grade.
"""

from __future__ import annotations

from pathlib import Path

from checker.common import load_days, load_grading
from checker.grading.report import DayReport
from checker.grading.run import run_pytest

SCENARIO_TESTS = "checker/grading/scenario.py"
SCENARIO_TIME_LIMIT = 600


def run_scenario(root: Path, impl: str) -> dict:
    """Run the end-to-end scenario under composition ``impl``: ``{"ok": bool, "error": str}``."""
    grading = load_grading()
    run = run_pytest(
        root,
        len(load_days()),
        {"TINYLSM_IMPL": impl},
        test_timeout=SCENARIO_TIME_LIMIT,
        time_limit=SCENARIO_TIME_LIMIT,
        memory_limit_mb=grading.memory_limit_mb,
        import_time_limit=grading.import_time_limit,
        tests=SCENARIO_TESTS,
    )
    outcomes = list(run.results.values())
    if run.collect_errors or not outcomes:
        why = "\n".join(run.collect_errors) or run.output[-600:]
        return {"ok": False, "error": f"the scenario did not run: {why}"}
    failed = [result for result in outcomes if result["outcome"] != "passed"]
    return {"ok": not failed, "error": failed[0]["message"] if failed else None}


def _spec(student_days: list[int]) -> str:
    return "student:" + ",".join(map(str, student_days)) if student_days else "solutions"


def compose(root: Path, reports: list[DayReport]) -> dict:
    """The composed-engine section of the report."""
    available = [r.day for r in reports if r.available]
    has_solutions = (root / "solutions").is_dir()
    student_days = [r.day for r in reports if r.available and r.all_passed()]
    if not has_solutions:
        student_days, impl = available, "student"
    else:
        impl = _spec(student_days)
    result = run_scenario(root, impl)
    section = {
        "impl": impl,
        "parts": {f"day{d}": "student" if d in student_days else "reference" for d in available},
        "ok": result["ok"],
        "error": result["error"],
        "blamed_day": None,
    }
    if not result["ok"] and has_solutions:
        for day in student_days:
            if run_scenario(root, _spec([d for d in student_days if d != day]))["ok"]:
                section["blamed_day"] = day
                break
    return section


def describe(section: dict) -> list[str]:
    """Lines for the terminal report."""
    if "student" not in section["parts"].values():
        return ["Composed engine: none of your days passes all its tests yet, so there is nothing of yours to compose"]
    parts = ", ".join(f"{day} {who}" for day, who in section["parts"].items())
    lines = [f"Composed engine ({parts}):"]
    if section["ok"]:
        lines.append("    passed the end-to-end scenario (random workload with reopens, a kill -9, compaction)")
    else:
        lines.append(f"    ✗ {section['error']}")
        if section["blamed_day"]:
            lines.append(f"    it passes with the reference day {section['blamed_day']}: look there first")
    return lines
