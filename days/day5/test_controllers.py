"""Day 5 visible tests of the three controllers, on the chapter's worked examples.

A controller sees only a ``TreeShape``: SST ids by level and, for each id, an
``SstInfo`` with its size and key range. These tests build shapes by hand.
Run with ``pytest days/day5/test_controllers.py``.
"""

from __future__ import annotations

import pytest

from tinylsm.leveled import LeveledController
from tinylsm.options import LeveledCompactionOptions, SimpleLeveledCompactionOptions, TieredCompactionOptions
from tinylsm.simple_leveled import SimpleLeveledController
from tinylsm.state import LevelCompactionTask, SstInfo, TieredCompactionTask, TreeShape
from tinylsm.testkit import show
from tinylsm.tiered import TieredController

MIB = 1 << 20
KIB = 1 << 10


def counted_shape(l0: int, *levels: int) -> TreeShape:
    """A shape with ``l0`` files in L0 and ``levels[i]`` files in L(i+1); sizes and keys do not matter here.

    Ids count down from the top, so L0 holds the highest (newest) ids, newest first.
    """
    next_id = l0 + sum(levels)
    runs: list[tuple[int, ...]] = []
    for count in (l0, *levels):
        runs.append(tuple(range(next_id, next_id - count, -1)))
        next_id -= count
    ids = [sst_id for run in runs for sst_id in run]
    ssts = {sst_id: SstInfo(sst_id, 1000, b"a", b"z") for sst_id in ids}
    return TreeShape(runs[0], tuple(runs[1:]), ssts)


def tier_shape(*files_per_tier: int) -> TreeShape:
    """Tiers (newest first) holding the given numbers of SSTs; newer tiers hold higher ids."""
    next_id = sum(files_per_tier)
    tiers = []
    for count in files_per_tier:
        tiers.append(tuple(range(next_id - count + 1, next_id + 1)))
        next_id -= count
    ssts = {sst_id: SstInfo(sst_id, 1000, b"a", b"z") for tier in tiers for sst_id in tier}
    return TreeShape((), tuple(tiers), ssts)


def info(sst_id: int, size: int, first: bytes, last: bytes) -> SstInfo:
    return SstInfo(sst_id, size, first, last)


def leveled_shape(l0: list[SstInfo], *levels: list[SstInfo]) -> TreeShape:
    ssts = {i.id: i for level in (l0, *levels) for i in level}
    return TreeShape(tuple(i.id for i in l0), tuple(tuple(i.id for i in level) for level in levels), ssts)


# Task 2: simple leveled compaction. Ratio 200 %: a level may hold half as many files as the level below.

SIMPLE = SimpleLeveledCompactionOptions(size_ratio_percent=200, level0_file_num_compaction_trigger=2, max_levels=3)


@pytest.mark.day5_task2
@pytest.mark.invariant
def test_simple_l0_below_trigger_asks_for_nothing() -> None:
    """Simple leveled generate_task returns None while L0 holds fewer files than its trigger."""
    shape = counted_shape(1)
    task = SimpleLeveledController(SIMPLE).generate_task(shape)
    assert task is None, f"one L0 file with a trigger of 2 needs no compaction: expected None, got {task}"


@pytest.mark.day5_task2
def test_simple_l0_at_trigger_merges_into_l1() -> None:
    """Simple leveled generate_task merges L0 into an empty L1 once L0 reaches its trigger, not at the bottom."""
    shape = counted_shape(2)
    task = SimpleLeveledController(SIMPLE).generate_task(shape)
    want = LevelCompactionTask(upper_level=0, upper=(2, 1), lower_level=1, lower=(), is_bottom=False)
    assert task == want, f"two L0 files (trigger 2), empty levels below: expected {want}, got {task}"


@pytest.mark.day5_task2
@pytest.mark.invariant
def test_simple_every_ratio_exactly_at_the_limit_asks_for_nothing() -> None:
    """Simple leveled generate_task returns None when every level's ratio is exactly size_ratio_percent."""
    shape = counted_shape(2, 4, 8, 16)
    task = SimpleLeveledController(SIMPLE).generate_task(shape)
    assert task is None, (
        "L0..L3 hold 2, 4, 8 and 16 files: each level below holds exactly 200 % of the one above, "
        f"which is allowed (the ratio must fall *below* 200 % to trigger); expected None, got {task}"
    )


@pytest.mark.day5_task2
def test_simple_l0_with_too_few_files_below_merges_into_l1() -> None:
    """Simple leveled generate_task merges L0 into L1 when L1 holds fewer than size_ratio_percent of L0's files."""
    shape = counted_shape(3, 4, 8, 16)
    task = SimpleLeveledController(SIMPLE).generate_task(shape)
    want = LevelCompactionTask(upper_level=0, upper=shape.l0, lower_level=1, lower=shape.levels[0], is_bottom=False)
    assert task == want, f"L0 has 3 files, L1 only 4 (< 200 % of 3): expected {want}, got {task}"


@pytest.mark.day5_task2
def test_simple_level_with_too_many_files_merges_into_the_next() -> None:
    """Simple leveled generate_task merges a whole level into the next when that one falls below the ratio."""
    shape = counted_shape(0, 3, 5, 16)
    task = SimpleLeveledController(SIMPLE).generate_task(shape)
    want = LevelCompactionTask(
        upper_level=1, upper=shape.levels[0], lower_level=2, lower=shape.levels[1], is_bottom=False
    )
    assert task == want, f"L1 has 3 files, L2 only 5 (< 200 % of 3): expected {want}, got {task}"


@pytest.mark.day5_task2
def test_simple_compaction_into_the_last_level_is_at_the_bottom() -> None:
    """A simple leveled task into the last level, even one the shape does not list, is at the bottom."""
    shape = counted_shape(0, 0, 3)  # L3 is missing from shape.levels: it counts as empty
    task = SimpleLeveledController(SIMPLE).generate_task(shape)
    want = LevelCompactionTask(upper_level=2, upper=shape.levels[1], lower_level=3, lower=(), is_bottom=True)
    assert task == want, f"3 files in L2 and an empty L3 (the last level): expected {want}, got {task}"


@pytest.mark.day5_task2
def test_simple_apply_result_empties_the_upper_level_and_fills_the_lower() -> None:
    """Simple leveled apply_result empties the upper level and replaces the lower one with the outputs."""
    controller = SimpleLeveledController(SIMPLE)
    shape = counted_shape(0, 3, 5, 16)
    task = controller.generate_task(shape)
    assert task is not None, "L1 with 3 files over L2 with 5 must be compacted (see the test above)"
    after = controller.apply_result(shape, task, [40, 41, 42])
    want = ((), (40, 41, 42), shape.levels[2])
    assert after.levels == want and after.l0 == (), f"expected levels {want} and an empty L0, got {after}"


# Task 3: tiered compaction. Tiers are listed newest first and measured in SSTs.

TIERED = TieredCompactionOptions(num_tiers=4, max_size_amplification_percent=200, size_ratio=100, min_merge_width=2)


@pytest.mark.day5_task3
@pytest.mark.invariant
def test_tiered_fewer_tiers_than_num_tiers_asks_for_nothing() -> None:
    """Tiered generate_task returns None while there are fewer tiers than num_tiers."""
    task = TieredController(TIERED).generate_task(tier_shape(1, 1, 2))
    assert task is None, f"3 tiers with num_tiers=4: expected None, got {task}"


@pytest.mark.day5_task3
def test_tiered_space_amplification_merges_every_tier() -> None:
    """Tiered generate_task merges every tier, at the bottom, once space amplification reaches its maximum."""
    shape = tier_shape(1, 1, 2, 2)
    task = TieredController(TIERED).generate_task(shape)
    want = TieredCompactionTask(tiers=shape.levels, is_bottom=True)
    assert task == want, (
        "tiers of 1, 1, 2, 2 SSTs: the 4 SSTs above the last tier are 200 % of its 2, which reaches "
        f"max_size_amplification_percent=200: expected every tier merged, {want}, got {task}"
    )


@pytest.mark.day5_task3
def test_tiered_size_ratio_merges_the_newest_tiers() -> None:
    """Tiered generate_task merges the n newest tiers once the n - 1 newest hold (100 + size_ratio) % of the n-th."""
    shape = tier_shape(1, 1, 1, 4, 8, 16)
    task = TieredController(TIERED).generate_task(shape)
    want = TieredCompactionTask(tiers=shape.levels[:3], is_bottom=False)
    assert task == want, (
        "tiers of 1, 1, 1, 4, 8, 16 SSTs with size_ratio=100: the two newest tiers (2 SSTs) hold (100 + 100) % "
        f"of the third (1 SST), which is enough, so the three newest are merged: expected {want}, got {task}"
    )


@pytest.mark.day5_task3
def test_tiered_without_a_trigger_merges_just_enough_tiers() -> None:
    """With no ratio tripped, tiered generate_task merges just enough newest tiers to leave num_tiers - 1."""
    shape = tier_shape(1, 2, 4, 8, 16)
    task = TieredController(TIERED).generate_task(shape)
    want = TieredCompactionTask(tiers=shape.levels[:3], is_bottom=False)
    assert task == want, (
        "tiers of 1, 2, 4, 8, 16 SSTs trip neither ratio; with 5 tiers and num_tiers=4, merging the 3 newest "
        f"leaves 3 tiers, below num_tiers: expected {want}, got {task}"
    )


@pytest.mark.day5_task3
def test_tiered_apply_result_puts_the_output_where_the_oldest_merged_tier_was() -> None:
    """Tiered apply_result puts the output where the oldest merged tier was, behind tiers flushed meanwhile."""
    controller = TieredController(TIERED)
    shape = tier_shape(1, 1, 1, 4, 8, 16)
    task = controller.generate_task(shape)
    assert task is not None, "tiers of 1, 1, 1, 4, 8, 16 SSTs must be compacted (see the test above)"
    # While the task ran, a flush added tier (50,) in front.
    now = TreeShape((), ((50,), *shape.levels), {**shape.ssts, 50: SstInfo(50, 1000, b"a", b"z")})
    after = controller.apply_result(now, task, [90, 91])
    want = ((50,), (90, 91), *shape.levels[3:])
    assert after.levels == want, (
        f"expected the new tier first, then the output where the merged tiers were, then the older tiers: {want}, "
        f"got {after.levels}"
    )


# Task 4: leveled compaction: 4 levels, multiplier 4, base level 1 MiB, L0 trigger 2.

LEVELED = LeveledCompactionOptions(
    level_size_multiplier=4, level0_file_num_compaction_trigger=2, max_levels=4, base_level_size_mb=1
)


@pytest.mark.day5_task4
@pytest.mark.parametrize(
    ("bottom", "targets"),
    [
        (MIB // 2, [0, 0, 0, MIB]),
        (3 * MIB, [0, 0, 768 * KIB, 3 * MIB]),
        (16 * MIB, [0, MIB, 4 * MIB, 16 * MIB]),
        (20 * MIB, [320 * KIB, 1280 * KIB, 5 * MIB, 20 * MIB]),
    ],
    ids=["half-MiB", "3-MiB", "16-MiB", "20-MiB"],
)
def test_leveled_target_sizes_grow_up_from_the_bottom(bottom: int, targets: list[int]) -> None:
    """Leveled target_sizes divide upward from the last level (at least the base size) while above the base size."""
    shape = leveled_shape([], [], [], [], [info(1, bottom, b"a", b"z")])
    got = LeveledController(LEVELED).target_sizes(shape)
    assert got == targets, f"with {bottom:,} bytes in L4: expected targets {targets}, got {got}"


def l3_l4() -> tuple[list[SstInfo], list[SstInfo]]:
    """L3 (four 256 KiB SSTs, in key order) over L4 (four 768 KiB SSTs): L3's target is 768 KiB."""
    l3 = [
        info(15, 256 * KIB, b"a", b"c"),
        info(12, 256 * KIB, b"d", b"g"),
        info(17, 256 * KIB, b"h", b"m"),
        info(13, 256 * KIB, b"n", b"r"),
    ]
    l4 = [
        info(1, 768 * KIB, b"a", b"d"),
        info(2, 768 * KIB, b"e", b"f"),
        info(3, 768 * KIB, b"g", b"j"),
        info(4, 768 * KIB, b"k", b"z"),
    ]
    return l3, l4


@pytest.mark.day5_task4
def test_leveled_l0_goes_straight_to_the_base_level() -> None:
    """Leveled generate_task merges L0 at its trigger straight into the base level, with the SSTs overlapping L0."""
    l3 = [info(11, 100 * KIB, b"a", b"c"), info(12, 100 * KIB, b"d", b"g"), info(13, 100 * KIB, b"k", b"n")]
    l3.append(info(14, 100 * KIB, b"q", b"t"))
    l4 = [info(1, MIB, b"a", b"h"), info(2, MIB, b"i", b"p"), info(3, MIB, b"q", b"z")]
    l0 = [info(21, 10 * KIB, b"b", b"h"), info(20, 10 * KIB, b"f", b"p")]
    shape = leveled_shape(l0, [], [], l3, l4)
    task = LeveledController(LEVELED).generate_task(shape)
    want = LevelCompactionTask(upper_level=0, upper=(21, 20), lower_level=3, lower=(11, 12, 13), is_bottom=False)
    assert task == want, (
        "two L0 files covering b..p, 3 MiB in L4 (so L3 is the base level): expected L0 merged with the L3 SSTs "
        f"that overlap b..p, {want}; got {task}"
    )


@pytest.mark.day5_task4
def test_leveled_level_over_target_gives_the_sst_that_overlaps_least_below() -> None:
    """For a level over its target, leveled generate_task picks the SST of least overlap ratio (oldest on a tie)."""
    l3, l4 = l3_l4()
    task = LeveledController(LEVELED).generate_task(leveled_shape([], [], [], l3, l4))
    want = LevelCompactionTask(upper_level=3, upper=(13,), lower_level=4, lower=(4,), is_bottom=True)
    assert task == want, (
        "L3 holds 1 MiB against a 768 KiB target. Merging each of its 256 KiB SSTs would rewrite, in L4: "
        "15 (a..c) 768 KiB, 12 (d..g) 2,304 KiB, 17 (h..m) 1,536 KiB, 13 (n..r) 768 KiB; 15 and 13 tie at 3 bytes "
        f"below per byte moved, and 13 is older (smaller id): expected {want}, got {task}"
    )


@pytest.mark.day5_task4
def test_leveled_apply_result_keeps_the_lower_level_in_key_order() -> None:
    """Leveled apply_result replaces the task's inputs with its outputs and keeps the lower level in key order."""
    controller = LeveledController(LEVELED)
    l3, l4 = l3_l4()
    shape = leveled_shape([], [], [], l3, l4)
    task = controller.generate_task(shape)
    assert task is not None, "L3 over its target must be compacted (see the test above)"
    outputs = {30: info(30, 512 * KIB, b"k", b"p"), 31: info(31, 512 * KIB, b"q", b"z")}
    after = controller.apply_result(TreeShape(shape.l0, shape.levels, {**shape.ssts, **outputs}), task, [30, 31])
    want = ((), (), (15, 12, 17), (1, 2, 3, 30, 31))
    assert after.levels == want, f"expected levels {show(want)}, got {show(after.levels)}"
