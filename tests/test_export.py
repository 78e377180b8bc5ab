"""``python -m checker export``: a student release that works on its own, and a Gradescope autograder.

Both are exported to ``tmp_path`` and used there, as a student and as Gradescope
would: every command runs with the copy as its working directory and first on
``PYTHONPATH``, so that the copy's ``tinylsm`` and ``checker`` win over this
repository's editable install.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from checker.cli import TOOLS
from checker.instructor.export import INSTRUCTORS_ONLY as INSTRUCTORS_ONLY_REGION
from checker.instructor.reference import Reference, describe, fill_regions, reference_days
from tests.helpers import ROOT, assert_book_builds, checker, run, submission

REFERENCE_DAY1 = ROOT / "solutions" / "day1" / "block.py"
HIDDEN_FILES = sorted(ROOT.glob("days/*/hidden/*.py"))
HIDDEN_NAMES = [path.name for path in HIDDEN_FILES] + [p.stem for p in HIDDEN_FILES if p.stem.startswith("test_")]
STUDENT_NEEDS = {"README.md", "LICENSE", "pyproject.toml", "conftest.py", ".gitignore"}
STUDENT_NEEDS |= {"tinylsm", "checker", "days", "book", "solutions"}
INSTRUCTORS_ONLY = {"CONTRIBUTING.md", "tests", ".ci", "scripts", ".git"}
INSTRUCTOR_COMMANDS = {
    "mutants": ["mutants"],
    "stubs": ["stubs"],
    "stubs --check": ["stubs", "--check"],
    "export": ["export", "student", "elsewhere"],
    "export classroom": ["export", "classroom", "elsewhere"],
    "grade-many": ["grade-many", "submissions", "--out", "gradebook"],
    "similarity": ["similarity", "submissions", "--out", "gradebook"],
}


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("release") / "tinylsm-course"
    completed = checker("export", "student", str(destination))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return destination


def in_release(release: Path, *args: str, env: dict[str, str] | None = None):
    """Run ``python ARGS`` in the release, with the release first on the import path."""
    return run([sys.executable, *args], env={"PYTHONPATH": str(release), **(env or {})}, cwd=release, timeout=120)


def text_files(folder: Path) -> dict[str, str]:
    texts = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            texts[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts


# ----------------------------------------------------------------------------
# The student release
# ----------------------------------------------------------------------------


def test_the_release_holds_what_a_student_needs_and_no_instructor_material(release: Path) -> None:
    names = {path.name for path in release.iterdir()}
    assert names >= STUDENT_NEEDS, f"missing: {sorted(STUDENT_NEEDS - names)}"
    assert not names & INSTRUCTORS_ONLY, f"instructor material in the release: {sorted(names & INSTRUCTORS_ONLY)}"
    assert names <= STUDENT_NEEDS | {"notebooks"}, f"unexpected: {sorted(names - STUDENT_NEEDS)}"
    assert not list(release.glob("days/*/hidden")), "hidden tests were exported"
    assert not (release / "checker" / "instructor" / "mutants").exists(), "the mutant catalogue was exported"
    assert not [p for p in release.rglob("*") if p.name in ("__pycache__", ".pytest_cache")]
    assert not list(release.glob("solutions/**/*.py")), "the reference's source was exported"
    assert list(release.glob("solutions/day4/*.pyc")), "the compiled reference is missing"
    assert not (release / "checker" / "instructor").exists(), "the instructors' commands were exported"


def test_every_day_keeps_its_stubs_and_visible_tests(release: Path) -> None:
    for day in sorted((ROOT / "days").glob("day*")):
        course = {p.name for p in day.iterdir() if p.is_file() and p.suffix in (".py", ".md")}
        exported = {p.name for p in (release / "days" / day.name).iterdir()}
        assert course == exported, f"{day.name}: {sorted(course ^ exported)}"


def test_nothing_in_the_release_points_at_what_a_student_does_not_have(release: Path) -> None:
    for name, text in text_files(release).items():
        if name.endswith(".md"):
            assert not re.search(r"\]\([^)]*CONTRIBUTING", text), f"{name} links to CONTRIBUTING.md"
        if not name.startswith("solutions/") and name != ".gitignore":  # it keeps solutions/dayN/*.pyc in git
            assert not re.search(r"solutions/day\d", text), f"{name} names a path in solutions/"
        named = [hidden for hidden in HIDDEN_NAMES if hidden in text]
        assert not named, f"{name} names hidden files {named}"


def test_the_readme_loses_its_instructors_only_regions_and_nothing_else(release: Path) -> None:
    course = (ROOT / "README.md").read_text()
    exported = (release / "README.md").read_text()
    assert "<!-- instructors-only -->" in course, "the course README marks what only instructors keep"
    regions = describe(Reference(), reference_days(ROOT))
    assert exported == fill_regions(INSTRUCTORS_ONLY_REGION.sub("", course), regions)
    assert "pytest tests" not in exported, "a release has no tests/ folder: its README must not tell students to run it"
    assert "instructors-only" not in exported


def test_the_release_book_builds_without_the_instructor_guide(release: Path, tmp_path: Path) -> None:
    assert not (release / "book" / "src" / "instructors.md").exists(), "the instructor guide was exported"
    assert "instructors.md" not in (release / "book" / "src" / "SUMMARY.md").read_text()
    assert_book_builds(release / "book", tmp_path / "html")


def test_the_release_imports_its_own_package(release: Path) -> None:
    completed = in_release(release, "-c", "import checker, tinylsm; print(tinylsm.__file__); print(checker.__file__)")
    assert completed.returncode == 0, completed.stderr
    assert all(Path(line).is_relative_to(release) for line in completed.stdout.split()), completed.stdout


def test_the_stubs_fail_with_their_not_implemented_error(release: Path) -> None:
    completed = in_release(release, "-m", "pytest", "days/day1", "-q")
    summary = completed.stdout.strip().splitlines()[-1]
    assert completed.returncode == 1, completed.stdout[-2000:] + completed.stderr
    assert "NotImplementedError: day1.task" in completed.stdout
    assert re.fullmatch(r"\d+ failed in .*", summary), summary  # failures only: nothing failed to import


def test_the_checker_runs_the_visible_tests_and_says_hidden_ones_run_at_grading(release: Path) -> None:
    completed = in_release(release, "-m", "checker", "--day", "1")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert re.search(r"Day 1 · .*: visible 0/\d+, hidden: run at grading", completed.stdout), completed.stdout


@pytest.fixture(scope="module")
def bare_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("bare") / "tinylsm-course"
    completed = checker("export", "student", str(destination), "--reference", "none")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return destination


def test_a_mix_with_the_reference_is_refused_in_a_release_without_one(bare_release: Path) -> None:
    assert not (bare_release / "solutions").exists()
    completed = in_release(bare_release, "-m", "pytest", "days/day4", "--impl", "student:4")
    assert completed.returncode not in (0, 1), completed.stdout[-2000:]
    assert "no solutions/ folder" in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr
    assert "inspect" not in in_release(bare_release, "-m", "checker", "--help").stdout
    users = [p.name for p in (bare_release / "notebooks").glob("*.ipynb") if "checker.tools.inspect" in p.read_text()]
    assert not users, f"notebooks that import the inspector it does not ship: {users}"


def test_only_day_4_copied_in_passes_on_the_compiled_reference(release: Path, tmp_path: Path) -> None:
    course = shutil.copytree(release, tmp_path / "day4")
    for module in (ROOT / "solutions" / "day4").glob("*.py"):
        shutil.copy(module, course / "days" / "day4" / module.name)
    completed = in_release(course, "-m", "pytest", "days/day4", "--impl", "student:4", "-q")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr
    completed = in_release(course, "-m", "checker", "--day", "4")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "score 100.0/100" in completed.stdout, completed.stdout


def test_the_compiled_reference_on_another_python_is_refused_plainly(release: Path, tmp_path: Path) -> None:
    course = shutil.copytree(release, tmp_path / "other")
    for compiled in course.rglob("*.pyc"):
        data = bytearray(compiled.read_bytes())
        data[0:2] = (int.from_bytes(data[0:2], "little") + 1).to_bytes(2, "little")
        compiled.write_bytes(bytes(data))
    for args in (["-m", "pytest", "days/day4", "--impl", "student:4"], ["-m", "checker", "--day", "4"]):
        completed = in_release(course, *args)
        output = completed.stdout + completed.stderr
        assert completed.returncode not in (0, 1) and "compiled for Python" in output, output[-2000:]
        assert "Traceback" not in output, output[-2000:]
    completed = in_release(course, "-m", "checker", "inspect", "x.sst")
    assert completed.returncode == 2 and "compiled" in completed.stderr and "Traceback" not in completed.stderr


def test_git_keeps_the_compiled_reference(release: Path, tmp_path: Path) -> None:
    """The course ignores ``*.pyc`` as caches; a release pushed to git must still hold its compiled reference.

    A student who keeps the release in a repository, and the GitHub Classroom template,
    clone it again: without the reference, ``student:N`` would have no other days.
    """
    repository = tmp_path / "repository"
    shutil.copytree(release, repository)
    run(["git", "init", "-q", "."], cwd=repository)
    run(["git", "add", "."], cwd=repository)
    tracked = set(run(["git", "ls-files"], cwd=repository).stdout.split())
    shipped = {p.relative_to(release).as_posix() for p in release.rglob("*.pyc")}
    assert shipped and shipped <= tracked, f"left out of git: {sorted(shipped - tracked)}"


def test_the_help_of_a_release_lists_no_instructor_command(release: Path) -> None:
    listed = in_release(release, "-m", "checker", "--help").stdout
    for name in ("mutants", "export", "grade-many", "stubs", "similarity", "coverage", "classroom"):
        assert not re.search(rf"^\s+{name}\s", listed, re.MULTILINE), f"{name} listed:\n{listed}"
    assert re.search(r"^\s+inspect\s", listed, re.MULTILINE), listed


def test_revealed_days_ship_as_source(tmp_path: Path) -> None:
    destination = tmp_path / "revealed"
    completed = checker("export", "student", str(destination), "--reveal", "1-3")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert list(destination.glob("solutions/day3/*.py")) and not list(destination.glob("solutions/day3/*.pyc"))
    assert list(destination.glob("solutions/day4/*.pyc")) and not list(destination.glob("solutions/day4/*.py"))


def test_a_finished_day_passes_without_a_claim_about_hidden_tests(release: Path, tmp_path: Path) -> None:
    finished = shutil.copytree(release, tmp_path / "finished")
    shutil.copy(REFERENCE_DAY1, finished / "days" / "day1" / "block.py")
    completed = in_release(finished, "-m", "checker", "--day", "1")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Every visible test passed; the hidden tests run only at grading." in completed.stdout
    assert "hidden test passed" not in completed.stdout and "hidden tests passed" not in completed.stdout


@pytest.mark.parametrize("command", INSTRUCTOR_COMMANDS.values(), ids=INSTRUCTOR_COMMANDS.keys())
def test_instructor_commands_refuse_plainly_in_a_release(release: Path, command: list[str]) -> None:
    completed = in_release(release, "-m", "checker", *command)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr, completed.stderr
    assert re.search(r"student release|does not have", completed.stderr), completed.stderr


@pytest.mark.parametrize("tool", sorted(set(TOOLS) - {"export", "grade-many", "similarity", "coverage", "graded"}))
def test_student_tools_start_in_a_release(release: Path, tool: str) -> None:
    completed = in_release(release, "-m", "checker", tool, "--help")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_export_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    completed = checker("export", "student", str(tmp_path))
    assert completed.returncode == 2 and "not an empty folder" in completed.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


# ----------------------------------------------------------------------------
# The Gradescope autograder
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    completed = checker("export", "autograder", str(path))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return path


def unpack(bundle: Path, tmp_path: Path) -> Path:
    """Lay the bundle out as Gradescope does: unzipped into ``autograder/source``; the autograder root."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    return root


def run_autograder(root: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``run_autograder`` on day 1 only; the ``results.json`` it wrote.

    ``setup.sh`` is not run: it installs the course's dependencies from PyPI, and
    this interpreter already has them (``TINYLSM_PYTHON`` points the script at it).
    """
    completed = run(
        ["bash", str(root / "source" / "run_autograder")],
        env={"AUTOGRADER_ROOT": str(root), "TINYLSM_PYTHON": sys.executable, "TINYLSM_GRADE_DAYS": "1", **(env or {})},
        cwd=root,
        timeout=300,
    )
    results = root / "results" / "results.json"
    assert results.exists(), f"no results.json:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    return json.loads(results.read_text())


def assert_gradescope_schema(document: dict) -> None:
    """The fields Gradescope reads (as tests/test_autograder.py checks them)."""
    assert isinstance(document["score"], float | int) and isinstance(document["execution_time"], float | int)
    assert {"tests", "output", "visibility", "stdout_visibility"} <= document.keys()
    for test in document["tests"]:
        assert {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"} <= test.keys()
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")


def test_the_bundle_holds_the_scripts_and_the_course_the_grader_needs(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        setup = archive.read("setup.sh").decode()
    for script in ("setup.sh", "run_autograder"):
        assert infos[script].external_attr >> 16 & 0o111, f"{script} is not executable"
    names = set(infos)
    assert {"pyproject.toml", "conftest.py", "solutions/day1/block.py", "days/day1/test_block.py"} <= names
    assert any(name.startswith("days/day1/hidden/") for name in names), "the hidden tests are missing"
    unwanted = [n for n in names if re.match(r"(tests|\.git|\.venv|\.ci)/", n) or re.search(r"__pycache__|\.pyc$", n)]
    assert not unwanted, unwanted
    assert "pip install" in setup and "source[dev]" in setup, "setup.sh must install the course's pinned dependencies"


def test_the_scripts_are_valid_bash(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path)
    for script in ("setup.sh", "run_autograder"):
        completed = run(["bash", "-n", str(root / "source" / script)])
        assert completed.returncode == 0, completed.stderr


def test_a_repository_of_stubs_scores_zero_with_every_test_reported(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path)
    shutil.copytree(ROOT / "days", root / "submission" / "days", ignore=shutil.ignore_patterns("__pycache__"))
    document = run_autograder(root)
    assert_gradescope_schema(document)
    assert document["score"] == 0 and len(document["tests"]) > 10
    assert all(t["status"] == "failed" and t["number"].startswith("1.") for t in document["tests"])
    assert {t["visibility"] for t in document["tests"]} == {"visible", "after_published"}


def test_an_upload_of_only_the_days_folder_is_graded(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path)
    shutil.copytree(ROOT / "days", root / "submission", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REFERENCE_DAY1, root / "submission" / "day1" / "block.py")
    document = run_autograder(root)
    assert_gradescope_schema(document)
    assert document["score"] == 100, document["output"]
    assert all(test["status"] == "passed" for test in document["tests"])


def test_a_day_linked_to_the_bundled_reference_is_not_taken_as_the_students(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path)
    shutil.copytree(ROOT / "days", root / "submission" / "days", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(root / "submission" / "days" / "day1")
    (root / "submission" / "days" / "day1").symlink_to(Path("..", "..", "source", "solutions", "day1"))
    assert (root / "submission" / "days" / "day1" / "block.py").exists()
    document = run_autograder(root)
    assert_gradescope_schema(document)
    assert document["score"] == 0, document["output"]


def test_a_crash_of_the_checker_still_writes_results(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path)
    shutil.copytree(ROOT / "days", root / "submission" / "days", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "source" / "checker" / "grading" / "gradescope.py").write_text(
        'raise RuntimeError("the checker \\"broke\\"\\there")\n'
    )
    document = run_autograder(root)
    assert_gradescope_schema(document)
    assert document["score"] == 0 and document["tests"] == []
    assert 'RuntimeError: the checker "broke"' in document["output"]


def test_an_upload_without_code_gets_a_score_of_zero_and_the_reason(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path)
    (root / "submission" / "notes").mkdir(parents=True)
    document = run_autograder(root)
    assert_gradescope_schema(document)
    assert document["score"] == 0 and "submit the course repository" in document["output"]


def test_without_landlock_the_autograder_grades_only_when_the_image_says_so(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path)
    shutil.copytree(ROOT / "days", root / "submission" / "days", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "solutions" / "day1" / "block.py", root / "submission" / "days" / "day1" / "block.py")
    no_landlock = {"TINYLSM_PRETEND_NO_LANDLOCK": "1"}
    refused = run_autograder(root, no_landlock)
    assert refused["score"] == 0 and not refused["tests"]
    assert "grading refused: this machine has no Landlock" in refused["output"], refused["output"]
    graded = run_autograder(root, {**no_landlock, "TINYLSM_WITHOUT_LANDLOCK": "1"})
    assert graded["score"] == 100, graded["output"]


@pytest.mark.parametrize("cheat", ["exec_reference", "leak_hidden_tests"])
def test_a_submission_cannot_read_the_bundled_solutions_or_hidden_tests(
    bundle: Path, tmp_path: Path, cheat: str
) -> None:
    root = unpack(bundle, tmp_path)
    submission(ROOT / "tests" / "cheats" / cheat, root / "submission")
    document = run_autograder(root)
    assert_gradescope_schema(document)
    assert document["score"] == 0, f"the {cheat} cheat scored {document['score']} in the bundle"
    hidden = "".join(path.read_text() for path in (ROOT / "days" / "day1" / "hidden").glob("*.py"))
    names = {line.split("(")[0][4:] for line in hidden.splitlines() if line.startswith("def test_")}
    leaked = [name for name in names if name in json.dumps(document)]
    assert not leaked, f"hidden test names reached results.json: {sorted(leaked)[:3]}"


def test_the_engine_of_a_graded_day_never_holds_its_reference(release: Path, tmp_path: Path) -> None:
    from checker.grading.isolation.trees import build_trees
    from tinylsm._composition import compose

    course = shutil.copytree(release, tmp_path / "course")
    shutil.copy(course / "solutions" / "day4" / "engine.pyc", course / "solutions" / "day3" / "engine.pyc")
    trees = build_trees(course, compose("student:4", course), {4}, 4, tmp_path / "private")
    engine_files = {p.relative_to(trees.engine).as_posix() for p in trees.engine.rglob("*") if p.is_file()}
    assert "solutions/day3/memtable.pyc" in engine_files, sorted(engine_files)
    assert not [name for name in engine_files if name.startswith("solutions/day4") or name.endswith("engine.pyc")]


def test_the_failure_shown_in_the_setup_chapter_is_what_a_student_copy_prints(release: Path, tmp_path: Path) -> None:
    """book/src/setup.md's "Reading a failure": both outputs, as the checker prints them for that bug."""
    course = shutil.copytree(release, tmp_path / "tombstone-bug")
    buggy = REFERENCE_DAY1.read_text().replace(
        "self._value = None if kind == KIND_TOMBSTONE else self._data[start : start + value_len]",
        "self._value = self._data[start : start + value_len]",
    )
    assert buggy != REFERENCE_DAY1.read_text(), "the bug of the example no longer applies to the reference"
    (course / "days" / "day1" / "block.py").write_text(buggy)
    chapter = (ROOT / "book" / "src" / "setup.md").read_text()
    section = chapter[chapter.index("## Reading a failure") :]
    shown = re.findall(r"```text\n(.*?)```", section, flags=re.DOTALL)[:2]
    assert len(shown) == 2, "the section shows the default and the -v output"
    timing = re.compile(r"\(\d+\.\d s,")
    for flags, expected in zip(([], ["-v"]), shown, strict=True):
        printed = in_release(course, "-m", "checker", "--day", "1", *flags).stdout
        assert timing.sub("(T s,", expected) in timing.sub("(T s,", printed), printed
