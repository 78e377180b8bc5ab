"""Compose the full engine from the days a student passed, and run the end-to-end scenario.

Every day whose tests all passed is taken from the student; every other day from
the reference (and reported as such). When the scenario fails, each of the
student's days is swapped for the reference in turn: the first swap that makes
the scenario pass names the day most likely responsible.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from checker.grading.report import DayReport
from checker.grading.run import MEMORY_LIMIT_MB

SCENARIO_TIME_LIMIT = 600


def run_scenario(root: Path, impl: str, seed: int) -> dict:
    """Run ``checker.grading.scenario`` under composition ``impl``; its JSON verdict, or why there is none."""
    env = {**os.environ, "TINYLSM_IMPL": impl, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [
        sys.executable,
        "-m",
        "checker.grading.sandbox",
        str(MEMORY_LIMIT_MB),
        "checker.grading.scenario",
        str(seed),
    ]
    try:
        completed = subprocess.run(
            command, cwd=root, env=env, capture_output=True, text=True, timeout=SCENARIO_TIME_LIMIT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "trial": "all", "error": f"the scenario took longer than {SCENARIO_TIME_LIMIT} s"}
    lines = completed.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return {"ok": False, "trial": "all", "error": f"the scenario died: {completed.stderr.strip()[-600:]}"}


def _spec(student_days: list[int]) -> str:
    return "student:" + ",".join(map(str, student_days)) if student_days else "solutions"


def compose(root: Path, reports: list[DayReport], seed: int = 1) -> dict:
    """The composed-engine section of the report."""
    available = [r.day for r in reports if r.available]
    has_solutions = (root / "solutions").is_dir()
    student_days = [r.day for r in reports if r.available and r.all_passed()]
    if not has_solutions:
        student_days, impl = available, "student"
    else:
        impl = _spec(student_days)
    result = run_scenario(root, impl, seed)
    section = {
        "impl": impl,
        "parts": {f"day{d}": "student" if d in student_days else "reference" for d in available},
        "ok": result["ok"],
        "trial": result.get("trial"),
        "error": result.get("error"),
        "stats": result.get("stats"),
        "seed": seed,
        "blamed_day": None,
    }
    if not result["ok"] and has_solutions:
        for day in student_days:
            if run_scenario(root, _spec([d for d in student_days if d != day]), seed)["ok"]:
                section["blamed_day"] = day
                break
    return section


def describe(section: dict) -> list[str]:
    """Lines for the terminal report."""
    parts = ", ".join(f"{day} {who}" for day, who in section["parts"].items())
    lines = [f"Composed engine ({parts}):"]
    if section["ok"]:
        stats = section["stats"] or {}
        levels = " ".join(f"L{i}={level['ssts']}" for i, level in enumerate(stats.get("levels", [])))
        lines.append(
            f"    passed the end-to-end scenario (random workload with reopens, a kill -9, compaction): {levels}"
        )
    else:
        lines.append(f"    ✗ failed in the {section['trial']} trial (seed {section['seed']}): {section['error']}")
        if section["blamed_day"]:
            lines.append(f"    it passes with the reference day {section['blamed_day']}: look there first")
    return lines
