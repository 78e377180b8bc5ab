"""``python -m checker simulate``: the compaction simulator, on the reference controllers and on broken ones."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from checker.tools.simulate import main
from checker.tools.simulate.model import MAX_TASKS_PER_FLUSH, MIB, Controller, Settings, run
from tests.helpers import checker
from tinylsm.state import LevelCompactionTask, TreeShape

LEVEL_LINE = re.compile(r"^(L\d+|Tier \d+) \((\d+)\): \[(.*)\]$")

# Each strategy with a few flags away from the defaults, so that the flags are seen to reach the controller.
RUNS = {
    "simple": ("--iterations", "20", "--max-levels", "4"),
    "tiered": ("--iterations", "20", "--num-tiers", "4"),
    "leveled": ("--iterations", "40", "--level0-file-num-compaction-trigger", "3", "--base-level-size-mb", "8"),
}


@functools.cache
def simulate(*args: str, impl: str = "solutions"):
    """Run the simulator once per argument list and worker (the runs are deterministic)."""
    return checker("simulate", *args, env={"TINYLSM_IMPL": impl})


def reference_run(strategy: str, *extra: str):
    completed = simulate(strategy, *RUNS[strategy], *extra)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr
    return completed


def last_tree(stdout: str) -> dict[str, list[int]]:
    """The tree as the last ``--- After ... ---`` section printed it (with --dump-real-id): name -> SST ids."""
    section = stdout.split("--- Summary ---")[0].rsplit("--- After", 1)[1]
    tree = {}
    for line in section.splitlines()[1:]:
        match = LEVEL_LINE.match(line)
        assert match, f"not a level line: {line!r}"
        name, count, ids = match.groups()
        tree[name] = [int(sst_id) for sst_id in ids.split(", ") if sst_id]
        assert len(tree[name]) == int(count), line
    return tree


def counts(tree: dict[str, list[int]], prefix: str) -> list[int]:
    return [len(ids) for name, ids in tree.items() if name.startswith(prefix)]


@pytest.mark.parametrize("strategy", sorted(RUNS))
def test_each_strategy_prints_flushes_tasks_and_compactions(strategy: str) -> None:
    stdout = reference_run(strategy, "--dump-real-id").stdout
    iterations = RUNS[strategy][1]
    for section in ("--- After Flush ---", "--- Compaction Task ---", "--- After Compaction ---"):
        assert section in stdout, f"no {section!r} in the output"
    assert f"=== Iteration {iterations} ===" in stdout
    assert re.search(r"^compaction triggered: .+ -> (L\d|1 tier)", stdout, re.MULTILINE), stdout[:2000]


@pytest.mark.parametrize("strategy", sorted(RUNS))
def test_summary_gives_write_space_and_read_amplification(strategy: str) -> None:
    stdout = reference_run(strategy, "--dump-real-id").stdout
    summary = stdout.split("--- Summary ---")[1]
    iterations = int(RUNS[strategy][1])
    assert f"flushes: {iterations} ({iterations} MB)" in summary
    assert re.search(r"^compactions: [1-9]\d*$", summary, re.MULTILINE), summary
    assert re.search(r"^write amplification: \d+\.\d\dx \(\d+ MB written", summary, re.MULTILINE), summary
    assert re.search(rf"^maximum space usage: \d+ MB, \d\.\d\dx the final {iterations} MB", summary, re.MULTILINE)
    assert re.search(r"^read amplification: \d+ sorted runs at the end", summary, re.MULTILINE), summary


@pytest.mark.parametrize("strategy", sorted(RUNS))
def test_no_sst_is_lost_or_deduplicated(strategy: str) -> None:
    tree = last_tree(reference_run(strategy, "--dump-real-id").stdout)
    assert sum(len(ids) for ids in tree.values()) == int(RUNS[strategy][1]), tree


def test_tiered_settles_below_num_tiers() -> None:
    tree = last_tree(reference_run("tiered", "--dump-real-id").stdout)
    assert "L0" not in tree, "under tiered compaction a flush becomes a tier, never an L0 file"
    assert 1 <= len(counts(tree, "Tier")) < 4, tree


def test_leveled_settles_with_l0_below_its_trigger() -> None:
    tree = last_tree(reference_run("leveled", "--dump-real-id").stdout)
    assert len(tree["L0"]) < 3, tree
    assert list(tree) == ["L0", "L1", "L2", "L3", "L4"], tree


def test_simple_leveled_settles_with_every_size_ratio_kept() -> None:
    tree = last_tree(reference_run("simple", "--dump-real-id").stdout)
    sizes = [len(tree[f"L{number}"]) for number in range(5)]
    if sizes[0] >= 2:
        assert sizes[1] * 100 >= 200 * sizes[0], tree
    for upper, lower in itertools.pairwise(sizes[1:]):
        assert upper == 0 or lower * 100 >= 200 * upper, tree


def test_default_view_lists_iterations_and_dump_real_id_lists_sst_ids() -> None:
    flushes = reference_run("simple").stdout
    ids = reference_run("simple", "--dump-real-id").stdout
    # Iteration 2 flushes SSTs 1 and 2; the L0 -> L1 compaction writes SSTs 3 and 4 from them.
    assert "L1 (2): [1-2]" in flushes
    assert "L1 (2): [3, 4]" in ids
    assert flushes.count("---") == ids.count("---"), "both views show the same steps"


def test_size_only_prints_one_size_per_level() -> None:
    stdout = reference_run("leveled", "--size-only").stdout
    tree_lines = [line for line in stdout.splitlines() if line.startswith("L")]
    assert tree_lines and all(re.fullmatch(r"L\d: \d+ MB", line) for line in tree_lines), tree_lines[:10]
    assert "L0: 1 MB" in tree_lines


def test_a_usage_error_exits_2_through_the_checker() -> None:
    completed = simulate("nonsense")
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "invalid choice: 'nonsense'" in completed.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["leveled", "--iterations", "0"],
        ["leveled", "--size-only", "--dump-real-id"],
        ["tiered", "--max-levels", "3"],
        ["simple", "--sst-size-mb", "0"],
        [],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_says_which_implementation_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "by default (TINYLSM_IMPL=student)" in help_text and "TINYLSM_IMPL=solutions" in help_text


def test_unfinished_controller_names_its_task() -> None:
    completed = simulate("tiered", "--iterations", "3", impl="student")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simulate: not implemented yet: day5.task3"), lines


def test_a_controller_module_that_does_not_import_is_reported(tmp_path: Path) -> None:
    (tmp_path / "tiered.py").write_text("def generate_task(:\n")
    env = {"TINYLSM_IMPL": "solutions", "TINYLSM_DAY_DIRS": f"5={tmp_path}"}
    completed = checker("simulate", "tiered", "--iterations", "3", env=env)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "simulate: cannot load tinylsm.tiered.TieredController" in completed.stderr
    assert "SyntaxError" in completed.stderr


# Broken controllers, run in this process.


class NeverCompacts:
    flush_to_l0 = True

    def generate_task(self, shape: TreeShape) -> LevelCompactionTask | None:
        return None

    def apply_result(self, shape: TreeShape, task: LevelCompactionTask, output: Sequence[int]) -> TreeShape:
        raise AssertionError("no task was asked for")


class RewritesL1Forever(NeverCompacts):
    """Moves L0 into L1, then keeps rewriting L1 into itself."""

    def generate_task(self, shape: TreeShape) -> LevelCompactionTask | None:
        lower = shape.levels[0] if shape.levels else ()
        return LevelCompactionTask(upper_level=0, upper=shape.l0, lower_level=1, lower=lower, is_bottom=True)

    def apply_result(self, shape: TreeShape, task: LevelCompactionTask, output: Sequence[int]) -> TreeShape:
        return TreeShape((), (tuple(output),), shape.ssts)


class NamesAMissingSst(RewritesL1Forever):
    def generate_task(self, shape: TreeShape) -> LevelCompactionTask | None:
        return LevelCompactionTask(upper_level=0, upper=(999,), lower_level=1, lower=(), is_bottom=True)


class AppendsToL1(RewritesL1Forever):
    """Compacts L0 alone and appends the outputs to L1, whose SSTs then overlap."""

    def generate_task(self, shape: TreeShape) -> LevelCompactionTask | None:
        if not shape.l0:
            return None
        return LevelCompactionTask(upper_level=0, upper=shape.l0, lower_level=1, lower=(), is_bottom=True)

    def apply_result(self, shape: TreeShape, task: LevelCompactionTask, output: Sequence[int]) -> TreeShape:
        l1 = shape.levels[0] if shape.levels else ()
        return TreeShape((), ((*l1, *output),), shape.ssts)


class ForgetsTheTree(AppendsToL1):
    def apply_result(self, shape: TreeShape, task: LevelCompactionTask, output: Sequence[int]) -> TreeShape:
        return TreeShape((), (), shape.ssts)


class Fails(AppendsToL1):
    def apply_result(self, shape: TreeShape, task: LevelCompactionTask, output: Sequence[int]) -> TreeShape:
        raise ValueError("a bug in apply_result")


def simulate_in_process(controller: Controller, iterations: int = 5, seed: int = 0) -> tuple[int, list[str], list[str]]:
    out: list[str] = []
    err: list[str] = []
    status = run(controller, Settings(iterations=iterations, sst_size=MIB, seed=seed), out.append, err.append)
    return status, out, err


def test_a_controller_that_never_settles_does_not_converge() -> None:
    status, out, err = simulate_in_process(RewritesL1Forever())
    assert status == 1
    assert "does not converge" in err[-1] and str(MAX_TASKS_PER_FLUSH) in err[-1], err
    assert out.count("--- Compaction Task ---") == MAX_TASKS_PER_FLUSH


def test_a_task_naming_an_sst_not_in_the_tree_fails() -> None:
    status, _, err = simulate_in_process(NamesAMissingSst())
    assert status == 1
    assert err == ["simulate: the task names SST 999 as part of L0, but it is not in the tree"]


def test_overlapping_ssts_in_a_level_fail() -> None:
    status, _, err = simulate_in_process(AppendsToL1())
    assert status == 1
    assert "L1 is not a sorted run after the compaction" in err[-1], err


def test_apply_result_that_loses_ssts_fails() -> None:
    status, _, err = simulate_in_process(ForgetsTheTree())
    assert status == 1
    assert "after apply_result the tree lost SSTs [2]" in err[-1], err


def test_a_controller_exception_is_reported_with_its_traceback() -> None:
    status, _, err = simulate_in_process(Fails())
    assert status == 1
    assert "Traceback" in err[0] and err[-1] == "simulate: the controller raised ValueError: a bug in apply_result"


def test_without_compaction_every_flush_stays_in_l0() -> None:
    status, out, _ = simulate_in_process(NeverCompacts(), iterations=6)
    assert status == 0
    assert "L0 (6): [1-6]" in out
    assert "compactions: 0" in out
    assert any(line.startswith("write amplification: 1.00x") for line in out), out[-6:]
    assert any(line.startswith("maximum space usage: 6 MB, 1.00x the final 6 MB") for line in out), out[-6:]
    assert any(line.startswith("read amplification: 6 sorted runs at the end") for line in out), out[-6:]


def test_the_seed_decides_the_key_ranges() -> None:
    first, again, other = (simulate_in_process(AppendsToL1(), seed=seed) for seed in (1, 1, 2))
    assert first == again
    assert first[2] != other[2], "the error names the same key ranges under another seed"
