"""The composition of ``tinylsm`` from day folders, as TINYLSM_IMPL chooses it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, run
from tinylsm._composition import CompositionError, compose, parse_days


def make_course(root: Path, days: range = range(1, 8), solutions: bool = True) -> Path:
    for day in days:
        (root / "days" / f"day{day}").mkdir(parents=True)
        if solutions:
            (root / "solutions" / f"day{day}").mkdir(parents=True)
    return root


@pytest.mark.parametrize(
    ("text", "days"),
    [("4", {4}), ("1-4", {1, 2, 3, 4}), ("1,3", {1, 3}), ("1,3,5-7", {1, 3, 5, 6, 7}), (" 2 ", {2})],
)
def test_day_lists_are_parsed(text: str, days: set[int]) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["0", "8", "4-2", "x", "1-", ""])
def test_bad_day_lists_are_refused(text: str) -> None:
    with pytest.raises(CompositionError):
        parse_days(text)


def test_student_is_the_default_and_uses_every_day_folder(tmp_path: Path) -> None:
    composition = compose("", make_course(tmp_path))
    assert composition.sources == dict.fromkeys(range(1, 8), "student")
    assert composition.day_dirs[3] == tmp_path / "days" / "day3"


def test_solutions_uses_every_solution_folder(tmp_path: Path) -> None:
    composition = compose("solutions", make_course(tmp_path))
    assert set(composition.sources.values()) == {"solutions"}


def test_student_mix_takes_named_days_from_days_and_the_rest_from_solutions(tmp_path: Path) -> None:
    composition = compose("student:2-3", make_course(tmp_path))
    assert [day for day, source in composition.sources.items() if source == "student"] == [2, 3]
    assert composition.day_dirs[4] == tmp_path / "solutions" / "day4"
    assert "day2=student" in composition.describe() and "day4=solutions" in composition.describe()


def test_days_not_written_yet_are_left_out(tmp_path: Path) -> None:
    composition = compose("solutions", make_course(tmp_path, days=range(1, 3)))
    assert sorted(composition.day_dirs) == [1, 2]


@pytest.mark.parametrize("spec", ["solutions", "student:4", "student:1-3"])
def test_mixes_are_refused_without_solutions(tmp_path: Path, spec: str) -> None:
    with pytest.raises(CompositionError, match="no solutions/ folder"):
        compose(spec, make_course(tmp_path, solutions=False))


def test_student_release_composes_every_day_from_days(tmp_path: Path) -> None:
    composition = compose("student", make_course(tmp_path, solutions=False))
    assert set(composition.sources.values()) == {"student"}


@pytest.mark.parametrize("spec", ["teacher", "solutions:3", "student;4"])
def test_unknown_implementations_are_refused(tmp_path: Path, spec: str) -> None:
    with pytest.raises(CompositionError, match=r"unknown implementation|cannot read days"):
        compose(spec, make_course(tmp_path))


def test_a_day_folder_can_be_overridden(tmp_path: Path) -> None:
    composition = compose("solutions", make_course(tmp_path), day_dirs=f"2={tmp_path / 'elsewhere'}")
    assert composition.day_dirs[2] == tmp_path / "elsewhere"


def test_importing_tinylsm_imports_no_day_module() -> None:
    code = "import sys, tinylsm; print(sorted(m for m in sys.modules if m.startswith('tinylsm.')))"
    completed = run([sys.executable, "-c", code], env={"TINYLSM_IMPL": "solutions"})
    assert completed.returncode == 0, completed.stderr
    assert "tinylsm.block" not in completed.stdout, completed.stdout


def test_package_is_importable_without_pytest_from_any_directory(tmp_path: Path) -> None:
    code = "import tinylsm.block, tinylsm; print(tinylsm.COMPOSITION.spec)"
    completed = run([sys.executable, "-c", code], env={"TINYLSM_IMPL": "solutions"}, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "solutions"


def test_pytest_header_prints_the_composition() -> None:
    completed = run([sys.executable, "-m", "pytest", "days/day1", "--impl", "student:1", "--collect-only"])
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "tinylsm composition: student:1 (day1=student" in completed.stdout, completed.stdout


def test_bad_impl_option_is_a_usage_error() -> None:
    completed = run([sys.executable, "-m", "pytest", "days/day1", "--impl", "teacher", "--co"])
    assert completed.returncode == 4, completed.stdout + completed.stderr
    assert "unknown implementation" in completed.stdout + completed.stderr


def test_hidden_tests_are_collected_only_on_request() -> None:
    plain = run([sys.executable, "-m", "pytest", "days/day1", "--co", "-q"]).stdout
    hidden = run([sys.executable, "-m", "pytest", "days/day1", "--hidden", "--co", "-q"]).stdout
    assert "hidden/" not in plain
    assert "hidden/" in hidden


def test_root_has_no_stray_package_shadowing_the_days() -> None:
    assert not (ROOT / "days" / "__init__.py").exists()
    assert not any((ROOT / "days").glob("day*/__init__.py")), "a day folder must not be a package of its own"
    assert not any((ROOT / "solutions").glob("day*/__init__.py"))
