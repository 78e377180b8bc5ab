"""``python -m checker export classroom``: a GitHub Classroom template whose workflow grades each day.

The workflow is read as YAML and checked for the shape GitHub Classroom needs;
then each grading step's command is run, as the workflow would run it, in two
copies of the template: one holding the reference (every step passes) and one
holding the stubs (every step fails).
"""

from __future__ import annotations

import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from checker.common import load_days, load_grading
from tests.helpers import ROOT, checker, run

WORKFLOW = Path(".github") / "workflows" / "classroom.yml"
GRADER = "classroom-resources/autograding-command-grader@"
REPORTER = "classroom-resources/autograding-grading-reporter@"
STEPS_AT_ONCE = 2
"""Grading steps run at once: the course's own tests share a small machine."""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("classroom") / "template"
    completed = checker("export", "classroom", str(destination))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return destination


@pytest.fixture(scope="module")
def steps(template: Path) -> list[dict]:
    """The workflow's steps, as GitHub Actions reads them."""
    document = yaml.safe_load((template / WORKFLOW).read_text())
    assert document["name"] == "Autograding Tests", "GitHub Classroom reads scores only from this workflow name"
    assert "push" in document["on"], document["on"]
    assert list(document["jobs"]) == ["run-autograding-tests"], "GitHub Classroom reads one job, by this name"
    return document["jobs"]["run-autograding-tests"]["steps"]


def graders(steps: list[dict]) -> list[dict]:
    return [step for step in steps if step.get("uses", "").startswith(GRADER)]


def test_the_template_is_a_student_release_with_the_workflow(template: Path) -> None:
    assert (template / "days" / "day1" / "block.py").read_text() == (ROOT / "days" / "day1" / "block.py").read_text()
    assert not list(template.glob("solutions/**/*.py")) and not list(template.glob("days/*/hidden"))
    assert [p.relative_to(template) for p in (template / ".github").rglob("*") if p.is_file()] == [WORKFLOW]


def test_one_graded_step_per_day_worth_the_course_total(steps: list[dict]) -> None:
    days, grading = load_days(), load_grading()
    graded = graders(steps)
    assert [step["id"] for step in graded] == [f"day{day.number}" for day in days]
    for step, day in zip(graded, days, strict=True):
        assert set(step["with"]) >= {"test-name", "command", "timeout", "max-score"}, step
        assert f"--day {day.number}" in step["with"]["command"], step
        assert step["with"]["timeout"] * 60 > grading.day_time_limit, "the step's timeout (minutes) cuts the day short"
    assert sum(step["with"]["max-score"] for step in graded) == grading.points_per_day * len(days)
    assert steps.index(graded[0]) > next(i for i, step in enumerate(steps) if "pip install" in step.get("run", ""))


def test_the_reporter_adds_up_every_step(steps: list[dict]) -> None:
    reporter = steps[-1]
    ids = [step["id"] for step in graders(steps)]
    assert reporter["uses"].startswith(REPORTER), reporter
    assert reporter["with"]["runners"].split(",") == ids
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{steps.{i}.outputs.result}}}}" for i in ids}


def run_steps(repository: Path, steps: list[dict]) -> dict[str, int]:
    """Run each grading step's command in ``repository``, as the workflow would; the exit status of each."""
    # The workflow's `python` is the one that installed the course: here, this interpreter.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {"PYTHONPATH": str(repository), "PATH": path}

    def status(step: dict) -> int:
        return run(["bash", "-c", step["with"]["command"]], env=env, cwd=repository, timeout=600).returncode

    with ThreadPoolExecutor(max_workers=STEPS_AT_ONCE) as pool:
        return dict(zip((s["id"] for s in graders(steps)), pool.map(status, graders(steps)), strict=True))


def test_every_step_passes_on_the_reference_and_fails_on_the_stubs(
    template: Path, steps: list[dict], tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    shutil.copytree(template, reference)
    for module in ROOT.glob("solutions/day*/*.py"):
        shutil.copy2(module, reference / "days" / module.parent.name / module.name)
    on_reference = run_steps(reference, steps)
    assert on_reference == dict.fromkeys(on_reference, 0), f"steps that failed on the reference: {on_reference}"
    on_stubs = run_steps(template, steps)
    assert all(on_stubs.values()), f"steps that passed on the stubs: {on_stubs}"
