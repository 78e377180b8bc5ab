"""Day 5 hidden tests of the controllers: exact boundaries, orderings and apply_result's edge cases."""

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
    """``l0`` files in L0 and ``levels[i]`` in L(i+1); ids count down from the top (L0 newest first)."""
    next_id = l0 + sum(levels)
    runs: list[tuple[int, ...]] = []
    for count in (l0, *levels):
        runs.append(tuple(range(next_id, next_id - count, -1)))
        next_id -= count
    ssts = {sst_id: SstInfo(sst_id, 1000, b"a", b"z") for run in runs for sst_id in run}
    return TreeShape(runs[0], tuple(runs[1:]), ssts)


def tier_shape(*files_per_tier: int) -> TreeShape:
    """Tiers (newest first) of the given numbers of SSTs; newer tiers hold higher ids."""
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


def with_infos(shape: TreeShape, *infos: SstInfo) -> TreeShape:
    return TreeShape(shape.l0, shape.levels, {**shape.ssts, **{i.id: i for i in infos}})


# Task 2: simple leveled

SIMPLE = SimpleLeveledCompactionOptions(size_ratio_percent=200, level0_file_num_compaction_trigger=2, max_levels=3)


def simple(**changes: int) -> SimpleLeveledController:
    fields = {"size_ratio_percent": 200, "level0_file_num_compaction_trigger": 2, "max_levels": 3, **changes}
    return SimpleLeveledController(SimpleLeveledCompactionOptions(**fields))


@pytest.mark.day5_task2
@pytest.mark.invariant
def test_simple_l0_one_file_short_of_the_trigger_is_left_alone() -> None:
    """Simple leveled compacted L0 before it held level0_file_num_compaction_trigger files."""
    task = simple(level0_file_num_compaction_trigger=3).generate_task(counted_shape(2))
    assert task is None, f"2 L0 files with a trigger of 3 and empty levels below: expected None, got {task}"


@pytest.mark.day5_task2
def test_simple_l0_at_the_trigger_is_compacted_exactly_then() -> None:
    """Simple leveled waited for more than level0_file_num_compaction_trigger L0 files."""
    task = simple(level0_file_num_compaction_trigger=3).generate_task(counted_shape(3))
    want = LevelCompactionTask(upper_level=0, upper=(3, 2, 1), lower_level=1, lower=(), is_bottom=False)
    assert task == want, f"3 L0 files with a trigger of 3: expected {want}, got {task}"


@pytest.mark.day5_task2
def test_simple_l0_at_the_trigger_also_needs_the_ratio() -> None:
    """Simple leveled merged L0 into an L1 that already held enough files for it (the ratio was not checked)."""
    controller = simple()
    shape = counted_shape(2, 5, 10, 20)
    task = controller.generate_task(shape)
    assert task is None, f"L0 2 files over L1 with 5 (250 % >= 200 %), L2 10, L3 20: expected None, got {task}"
    shape = counted_shape(3, 5, 10, 20)
    task = controller.generate_task(shape)
    want = LevelCompactionTask(0, shape.l0, 1, shape.levels[0], False)
    assert task == want, f"L0 3 files over L1 with 5 (167 % < 200 %): expected {want}, got {task}"


@pytest.mark.day5_task2
def test_simple_ratio_is_compared_by_files_below_over_files_above() -> None:
    """Simple leveled compared the ratio the wrong way round, or with <= instead of <."""
    controller = simple(size_ratio_percent=150)
    shape = counted_shape(0, 2, 3, 10)
    task = controller.generate_task(shape)
    assert task is None, f"L1 2 files, L2 3 (exactly 150 %), L3 10: expected None, got {task}"
    shape = counted_shape(0, 4, 5, 10)
    task = controller.generate_task(shape)
    want = LevelCompactionTask(1, shape.levels[0], 2, shape.levels[1], False)
    assert task == want, f"L1 4 files, L2 5 (125 % < 150 %): expected {want}, got {task}"
    shape = counted_shape(0, 2, 10, 10)
    task = controller.generate_task(shape)
    want = LevelCompactionTask(2, shape.levels[1], 3, shape.levels[2], True)
    assert task == want, f"L1 2, L2 10, L3 10 (L3/L2 = 100 % < 150 %): expected {want}, got {task}"


@pytest.mark.day5_task2
def test_simple_levels_are_tried_from_the_top() -> None:
    """Simple leveled did not pick the highest level that needs a compaction."""
    shape = counted_shape(2, 3, 5)
    task = simple().generate_task(shape)
    want = LevelCompactionTask(0, shape.l0, 1, shape.levels[0], False)
    assert task == want, (
        f"L0 (2, trigger 2), L1 (3) and L2 (5) all break the ratio: expected L0 first, {want}; got {task}"
    )


@pytest.mark.day5_task2
def test_simple_levels_missing_from_the_shape_count_as_empty() -> None:
    """Simple leveled failed on, or mis-counted, levels that shape.levels does not list."""
    shape = TreeShape((7, 6), (), {})
    task = simple().generate_task(shape)
    want = LevelCompactionTask(0, (7, 6), 1, (), False)
    assert task == want, f"L0 (7, 6) and shape.levels=(): expected {want}, got {task}"
    shape = TreeShape((), ((3, 2, 1),), {})
    task = simple().generate_task(shape)
    want = LevelCompactionTask(1, (3, 2, 1), 2, (), False)
    assert task == want, f"only L1 listed, with 3 files: expected {want}, got {task}"


@pytest.mark.day5_task2
def test_simple_only_the_last_level_is_the_bottom() -> None:
    """Simple leveled set is_bottom for a compaction that does not write into the last level."""
    controller = simple(max_levels=2)
    for shape, bottom in [(counted_shape(2), False), (counted_shape(0, 2), True)]:
        task = controller.generate_task(shape)
        assert task is not None and task.is_bottom == bottom, (
            f"max_levels=2, L0 {shape.l0}, levels {shape.levels}: expected is_bottom={bottom}, got {task}"
        )


@pytest.mark.day5_task2
def test_simple_apply_keeps_l0_files_flushed_during_the_compaction() -> None:
    """Simple leveled apply_result lost or reordered L0 files flushed while the compaction ran."""
    controller = simple()
    shape = counted_shape(2, 0, 3)
    task = controller.generate_task(shape)
    assert task is not None and task.upper == (5, 4), f"expected L0 (5, 4) to be compacted, got {task}"
    now = TreeShape((9, 8, 5, 4), shape.levels, shape.ssts)
    after = controller.apply_result(now, task, [10, 11])
    assert after.l0 == (9, 8) and after.levels[0] == (10, 11), (
        f"L0 files 9 and 8 arrived during the compaction of (5, 4): expected L0 (9, 8) and L1 (10, 11), got {after}"
    )
    assert after.levels[1] == shape.levels[1], f"L2 must be untouched: expected {shape.levels[1]}, got {after.levels}"


@pytest.mark.day5_task2
def test_simple_apply_works_without_sst_infos() -> None:
    """Simple leveled apply_result needed SstInfo records, which a manifest replay does not have."""
    controller = simple()
    task = LevelCompactionTask(1, (4, 3), 2, (2, 1), False)
    after = controller.apply_result(TreeShape((6,), ((4, 3), (2, 1)), {}), task, [7])
    assert after.l0 == (6,) and after.levels[:2] == ((), (7,)), f"expected L0 (6,), L1 (), L2 (7,), got {after}"


@pytest.mark.day5_task2
def test_simple_apply_with_no_output_leaves_the_lower_level_empty() -> None:
    """Simple leveled apply_result kept a replaced SST when the merge wrote nothing (all deleted)."""
    after = simple().apply_result(counted_shape(0, 0, 2), LevelCompactionTask(2, (2, 1), 3, (), True), [])
    assert not any(after.levels), f"a bottom merge that wrote nothing must leave every level empty, got {after.levels}"


# Task 3: tiered


def tiered(**changes: int) -> TieredController:
    fields = {"num_tiers": 4, "max_size_amplification_percent": 200, "size_ratio": 100, "min_merge_width": 2}
    return TieredController(TieredCompactionOptions(**{**fields, **changes}))


@pytest.mark.day5_task3
def test_tiered_starts_at_exactly_num_tiers() -> None:
    """Tiered compaction waited for more than num_tiers tiers (or started before num_tiers)."""
    shape = tier_shape(1, 1, 1, 1)
    task = tiered().generate_task(shape)
    want = TieredCompactionTask(shape.levels, True)
    assert task == want, f"4 tiers of 1 SST with num_tiers=4: expected every tier merged, {want}; got {task}"
    task = tiered(num_tiers=5).generate_task(shape)
    assert task is None, f"4 tiers with num_tiers=5: expected None, got {task}"


@pytest.mark.day5_task3
def test_tiered_space_amplification_boundary_is_inclusive() -> None:
    """Tiered compaction missed a space amplification exactly at max_size_amplification_percent."""
    shape = tier_shape(1, 2, 2)
    task = tiered(num_tiers=3, max_size_amplification_percent=150).generate_task(shape)
    want = TieredCompactionTask(shape.levels, True)
    assert task == want, f"tiers 1, 2, 2 SSTs: 3 above the last are 150 % of 2, the limit: expected {want}, got {task}"


@pytest.mark.day5_task3
def test_tiered_space_amplification_counts_only_the_tiers_above_the_last() -> None:
    """Tiered compaction counted the last tier itself in the space amplification."""
    shape = tier_shape(2, 2, 4)
    task = tiered(num_tiers=3).generate_task(shape)
    want = TieredCompactionTask(shape.levels[:2], False)
    assert task == want, (
        "tiers 2, 2, 4 SSTs: 4 SSTs above the last tier are 100 % of it (below 200 %), no size ratio holds, so "
        f"the reduce rule merges the 2 newest: expected {want}, got {task}"
    )


@pytest.mark.day5_task3
def test_tiered_size_ratio_boundary_is_inclusive() -> None:
    """Tiered compaction required more than (100 + size_ratio) % for the size-ratio trigger."""
    shape = tier_shape(1, 1, 1, 4, 8, 16, 32)
    task = tiered().generate_task(shape)
    want = TieredCompactionTask(shape.levels[:3], False)
    assert task == want, (
        "tiers 1, 1, 1, 4, 8, 16, 32 SSTs, size_ratio=100: the 2 newest are exactly 200 % of the third, "
        f"so the 3 newest are merged: expected {want}, got {task}"
    )


@pytest.mark.day5_task3
def test_tiered_size_ratio_respects_min_merge_width() -> None:
    """Tiered compaction merged fewer than min_merge_width tiers for the size ratio."""
    shape = tier_shape(2, 1, 1, 8, 16)
    task = tiered(min_merge_width=3).generate_task(shape)
    want = TieredCompactionTask(shape.levels[:3], False)
    assert task == want, (
        "tiers 2, 1, 1, 8, 16 SSTs, min_merge_width=3: 2 newest would pass the ratio but are too few; the 3 newest "
        f"(3 SSTs over 1) pass it: expected {want}, got {task}"
    )
    task = tiered(min_merge_width=2).generate_task(shape)
    want = TieredCompactionTask(shape.levels[:2], False)
    assert task == want, f"the same tiers with min_merge_width=2: expected {want}, got {task}"


@pytest.mark.day5_task3
def test_tiered_size_ratio_through_the_last_tier_is_at_the_bottom() -> None:
    """Tiered compaction did not set is_bottom when the size-ratio merge took every tier."""
    shape = tier_shape(1, 1, 1)
    task = tiered(num_tiers=3, max_size_amplification_percent=400).generate_task(shape)
    want = TieredCompactionTask(shape.levels, True)
    assert task == want, f"tiers 1, 1, 1 (2 SSTs are 200 % of the third): expected {want}, got {task}"


@pytest.mark.day5_task3
def test_tiered_reduce_merges_exactly_enough_tiers() -> None:
    """Tiered compaction's fallback merged too few or too many tiers to get below num_tiers."""
    controller = tiered()
    shape = tier_shape(1, 2, 4, 8, 16, 32)
    task = controller.generate_task(shape)
    want = TieredCompactionTask(shape.levels[:4], False)
    assert task == want, f"6 tiers of 1, 2, 4, 8, 16, 32 SSTs, num_tiers=4: expected the 4 newest merged, got {task}"
    after = controller.apply_result(with_infos(shape, SstInfo(99, 1000, b"a", b"z")), task, [99])
    assert len(after.levels) == 3 and controller.generate_task(after) is None, (
        f"after merging the 4 newest, 3 tiers remain and nothing more is asked: got {after.levels}"
    )


@pytest.mark.day5_task3
def test_tiered_apply_keeps_newer_tiers_in_front() -> None:
    """Tiered apply_result put the output in front of tiers flushed while the compaction ran, or lost them."""
    controller = tiered()
    shape = tier_shape(1, 2, 4, 8, 16)
    task = controller.generate_task(shape)
    assert task == TieredCompactionTask(shape.levels[:3], False), f"expected the 3 newest tiers, got {task}"
    now = TreeShape((), ((41,), (40,), *shape.levels), shape.ssts)
    after = controller.apply_result(now, task, [50, 51])
    want = ((41,), (40,), (50, 51), *shape.levels[3:])
    assert after.levels == want, f"expected {show(want)}, got {show(after.levels)}"


@pytest.mark.day5_task3
def test_tiered_apply_with_no_output_drops_the_merged_tiers() -> None:
    """Tiered apply_result left an empty tier (or an old one) when the merge wrote nothing."""
    shape = tier_shape(1, 1, 2, 2)
    task = TieredCompactionTask(shape.levels, True)
    now = TreeShape((), ((20,), *shape.levels), {})
    after = tiered().apply_result(now, task, [])
    assert after.levels == ((20,),), f"expected only the newer tier (20,) to remain, got {after.levels}"


@pytest.mark.day5_task3
def test_tiered_apply_works_without_sst_infos() -> None:
    """Tiered apply_result needed SstInfo records, which a manifest replay does not have."""
    task = TieredCompactionTask(((5,), (4, 3)), False)
    after = tiered().apply_result(TreeShape((), ((5,), (4, 3), (2, 1)), {}), task, [6])
    assert after.levels == ((6,), (2, 1)), f"expected tiers (6,), (2, 1), got {after.levels}"


# Task 4: leveled


def leveled(**changes: float) -> LeveledController:
    fields = {"level_size_multiplier": 4, "level0_file_num_compaction_trigger": 2, "max_levels": 4}
    return LeveledController(LeveledCompactionOptions(**{**fields, "base_level_size_mb": 1, **changes}))


@pytest.mark.day5_task4
def test_leveled_a_bottom_of_exactly_the_base_size_gives_no_level_above_a_target() -> None:
    """Leveled target sizes gave the level above a target when the level below aimed at just the base size."""
    controller = leveled()
    got = controller.target_sizes(leveled_shape([], [], [], [], [info(1, MIB, b"a", b"z")]))
    assert got == [0, 0, 0, MIB], f"1 MiB in L4 with a 1 MiB base: expected [0, 0, 0, {MIB}], got {got}"
    got = controller.target_sizes(leveled_shape([], [], [], [], [info(1, MIB + 4, b"a", b"z")]))
    want = [0, 0, (MIB + 4) // 4, MIB + 4]
    assert got == want, f"1 MiB + 4 bytes in L4: expected {want}, got {got}"


@pytest.mark.day5_task4
def test_leveled_target_sizes_are_whole_byte_counts() -> None:
    """Leveled target sizes were not whole byte counts: with a fractional base_level_size_mb, or a level size
    that level_size_multiplier does not divide, target_sizes returned a float instead of an int rounded down."""
    controller = LeveledController(
        LeveledCompactionOptions(level_size_multiplier=10, max_levels=3, base_level_size_mb=0.1)
    )
    base = int(0.1 * MIB)  # 104857 bytes
    bottom = 12_345_678
    cases = [
        ("an empty tree, base_level_size_mb=0.1", leveled_shape([]), [0, 0, base]),
        (
            f"{bottom:,} bytes in L3",
            leveled_shape([], [], [], [info(1, bottom, b"a", b"z")]),
            [123_456, 1_234_567, bottom],
        ),
    ]
    for what, shape, want in cases:
        got = controller.target_sizes(shape)
        types = [type(target).__name__ for target in got]
        assert types == ["int"] * len(want), f"{what}: every target must be an int (bytes), got {got} of types {types}"
        assert got == want, f"{what}: expected {want} (targets rounded down to whole bytes), got {got}"


@pytest.mark.day5_task4
def test_leveled_targets_use_the_bottom_levels_real_size_and_ignore_upper_levels() -> None:
    """Leveled target sizes did not start from the last level's real size."""
    shape = leveled_shape([], [info(9, 5 * MIB, b"a", b"z")], [], [], [info(1, 8 * MIB, b"a", b"z")])
    got = leveled().target_sizes(shape)
    assert got == [0, 512 * KIB, 2 * MIB, 8 * MIB], (
        f"8 MiB in L4 (and 5 MiB in L1): expected [0, {512 * KIB}, {2 * MIB}, {8 * MIB}], got {got}"
    )


@pytest.mark.day5_task4
def test_leveled_l0_one_file_short_of_the_trigger_is_left_alone() -> None:
    """Leveled compaction took L0 before it held level0_file_num_compaction_trigger files."""
    shape = leveled_shape([info(8, KIB, b"a", b"b"), info(7, KIB, b"c", b"d")], [], [], [], [info(1, MIB, b"a", b"z")])
    task = leveled(level0_file_num_compaction_trigger=3).generate_task(shape)
    assert task is None, f"2 L0 files with a trigger of 3, L4 within its target: expected None, got {task}"
    task = leveled(level0_file_num_compaction_trigger=2).generate_task(shape)
    want = LevelCompactionTask(0, (8, 7), 4, (1,), True)
    assert task == want, f"the same 2 L0 files with a trigger of 2: expected {want}, got {task}"


@pytest.mark.day5_task4
def test_leveled_empty_tree_sends_l0_to_the_last_level() -> None:
    """Leveled compaction did not treat levels missing from the shape as empty, or chose the wrong base level."""
    shape = TreeShape((3, 2), (), {2: info(2, KIB, b"a", b"c"), 3: info(3, KIB, b"b", b"d")})
    task = leveled().generate_task(shape)
    want = LevelCompactionTask(0, (3, 2), 4, (), True)
    assert task == want, f"two L0 files and no level at all: expected {want}, got {task}"


@pytest.mark.day5_task4
def test_leveled_l0_goes_to_l1_when_l1_is_the_base_level() -> None:
    """Leveled compaction sent L0 past the base level."""
    l1 = [info(30, 100 * KIB, b"a", b"f"), info(31, 100 * KIB, b"g", b"z")]
    shape = leveled_shape(
        [info(40, KIB, b"h", b"i"), info(41, KIB, b"x", b"y")], l1, [], [], [info(1, 20 * MIB, b"a", b"z")]
    )
    task = leveled().generate_task(shape)
    want = LevelCompactionTask(0, (40, 41), 1, (31,), False)
    assert task == want, f"20 MiB in L4 makes L1 the base level: expected {want}, got {task}"


@pytest.mark.day5_task4
def test_leveled_l0_never_skips_a_level_that_holds_data() -> None:
    """Leveled compaction moved L0 below a level that still held older data (newer data landed under older)."""
    l2 = [info(20, 300 * KIB, b"a", b"m")]
    l4 = [info(1, 500 * KIB, b"a", b"z")]
    shape = leveled_shape([info(30, KIB, b"k", b"k"), info(31, KIB, b"b", b"c")], [], l2, [], l4)
    task = leveled().generate_task(shape)
    want = LevelCompactionTask(0, (30, 31), 2, (20,), False)
    assert task == want, (
        "L4 holds 500 KiB, so L4 is the base level, but L2 still holds data (keys a..m): L0 must go into L2, "
        f"not below it: expected {want}, got {task}"
    )


@pytest.mark.day5_task4
@pytest.mark.invariant
def test_leveled_level_exactly_at_its_target_is_left_alone() -> None:
    """Leveled compaction compacted a level whose size equals its target (ratio 1 is not over)."""
    l3 = [info(10, 384 * KIB, b"a", b"m"), info(11, 384 * KIB, b"n", b"z")]
    shape = leveled_shape([], [], [], l3, [info(1, 3 * MIB, b"a", b"z")])
    task = leveled().generate_task(shape)
    assert task is None, f"L3 holds exactly its 768 KiB target: expected None, got {task}"


@pytest.mark.day5_task4
def test_leveled_the_level_furthest_over_its_target_goes_first() -> None:
    """Leveled compaction did not pick the level with the highest size / target ratio."""
    l1 = [info(40, 480 * KIB, b"a", b"z")]  # target 320 KiB: ratio 1.5
    l2 = [info(30, 2 * MIB, b"a", b"m"), info(31, 560 * KIB, b"n", b"z")]  # target 1.25 MiB: ratio 2.04
    l3 = [info(20, 5 * MIB, b"a", b"z")]  # exactly its target
    shape = leveled_shape([], l1, l2, l3, [info(1, 20 * MIB, b"a", b"z")])
    task = leveled().generate_task(shape)
    want = LevelCompactionTask(2, (30,), 3, (20,), False)
    assert task == want, f"L1 at 1.5 times its target, L2 at 2.04 times: expected L2 first, {want}; got {task}"
    shape = leveled_shape([], [info(40, 800 * KIB, b"a", b"z")], l2, l3, [info(1, 20 * MIB, b"a", b"z")])
    task = leveled().generate_task(shape)
    want = LevelCompactionTask(1, (40,), 2, (30, 31), False)
    assert task == want, f"L1 at 2.5 times its target, L2 at 2.04 times: expected L1 first, {want}; got {task}"


@pytest.mark.day5_task4
def test_leveled_a_tie_goes_to_the_oldest_sst_wherever_it_sits() -> None:
    """Among SSTs with equal overlap ratios, leveled compaction did not choose the oldest (the smallest id)."""
    l3 = [info(19, 256 * KIB, b"a", b"c"), info(18, 256 * KIB, b"d", b"g"), info(17, 256 * KIB, b"h", b"m")]
    l3.append(info(9, 256 * KIB, b"n", b"r"))
    l4 = [info(1, 1536 * KIB, b"a", b"m"), info(2, 1536 * KIB, b"n", b"z")]
    task = leveled().generate_task(leveled_shape([], [], [], l3, l4))
    want = LevelCompactionTask(3, (9,), 4, (2,), True)
    assert task == want, (
        f"L3 over its target, every SST would rewrite 1,536 KiB below, and SST 9 (keys n..r) is the oldest: "
        f"expected {want}, got {task}"
    )


@pytest.mark.day5_task4
def test_leveled_overlap_is_weighed_against_the_sst_own_size() -> None:
    """Leveled did not choose the SST with the fewest bytes rewritten below *per byte it moves down*."""
    l3 = [info(6, 700 * KIB, b"a", b"c"), info(5, 200 * KIB, b"m", b"p")]
    l4 = [info(1, 2 * MIB, b"a", b"h"), info(2, MIB, b"i", b"z")]
    task = leveled().generate_task(leveled_shape([], [], [], l3, l4))
    want = LevelCompactionTask(3, (6,), 4, (1,), True)
    assert task == want, (
        "L3 over its target: SST 6 (700 KiB) would rewrite 2 MiB below, 2.9 bytes per byte moved; SST 5 (200 KiB) "
        f"would rewrite 1 MiB, 5.1 bytes per byte. Expected the lower ratio, {want}; got {task}"
    )


@pytest.mark.day5_task4
def test_leveled_overlap_includes_ssts_that_touch_or_contain_the_range() -> None:
    """Leveled compaction's overlap test missed an SST that touches the key range or contains it."""
    l3 = [info(5, 900 * KIB, b"f", b"h")]
    l4 = [
        info(1, 768 * KIB, b"a", b"e"),
        info(2, 768 * KIB, b"e1", b"f"),
        info(3, 768 * KIB, b"g", b"g5"),
        info(4, 768 * KIB, b"h", b"z"),
    ]
    task = leveled().generate_task(leveled_shape([], [], [], l3, l4))
    want = LevelCompactionTask(3, (5,), 4, (2, 3, 4), True)
    assert task == want, (
        "SST 5 covers f..h; in L4, 2 ends at f, 3 lies inside, 4 starts at h, 1 (a..e) is outside: "
        f"expected {want}, got {task}"
    )
    l4 = [info(1, MIB, b"a", b"b"), info(2, 2 * MIB, b"x", b"z")]
    task = leveled().generate_task(leveled_shape([], [], [], l3, l4))
    want = LevelCompactionTask(3, (5,), 4, (), True)
    assert task == want, f"nothing in L4 overlaps f..h: expected an empty lower list, {want}; got {task}"


@pytest.mark.day5_task4
def test_leveled_l0_overlap_spans_every_l0_file() -> None:
    """Leveled compaction's L0 overlap used one L0 file's range instead of the range of all of them."""
    l0 = [info(50, KIB, b"c", b"d"), info(51, KIB, b"p", b"q")]
    l4 = [info(1, 256 * KIB, b"a", b"b"), info(2, 256 * KIB, b"e", b"j"), info(3, 256 * KIB, b"r", b"z")]
    task = leveled().generate_task(leveled_shape(l0, [], [], [], l4))
    want = LevelCompactionTask(0, (50, 51), 4, (2,), True)
    assert task == want, f"L0 spans c..q, which covers L4's 2 (e..j) only: expected {want}, got {task}"


@pytest.mark.day5_task4
def test_leveled_data_above_the_base_level_moves_down() -> None:
    """Leveled compaction left data in a level above the base level (a level with no target)."""
    l2 = [info(20, 10 * KIB, b"a", b"c"), info(21, 10 * KIB, b"d", b"f")]
    shape = leveled_shape([], [], l2, [], [info(1, 512 * KIB, b"a", b"z")])
    task = leveled().generate_task(shape)
    want = LevelCompactionTask(2, (20,), 3, (), False)
    assert task == want, f"L2 holds data but only L4 has a target: expected {want}, got {task}"


@pytest.mark.day5_task4
def test_leveled_apply_keeps_l0_files_flushed_during_the_compaction() -> None:
    """Leveled apply_result lost or reordered L0 files flushed while the compaction ran."""
    controller = leveled()
    task = LevelCompactionTask(0, (8, 7), 4, (1,), True)
    shape = leveled_shape(
        [info(10, KIB, b"a", b"b"), info(9, KIB, b"c", b"d"), info(8, KIB, b"a", b"b"), info(7, KIB, b"c", b"d")],
        [],
        [],
        [],
        [info(1, MIB, b"a", b"m"), info(2, MIB, b"n", b"z")],
    )
    after = controller.apply_result(with_infos(shape, info(11, MIB, b"a", b"m")), task, [11])
    assert after.l0 == (10, 9) and after.levels[3] == (11, 2), f"expected L0 (10, 9) and L4 (11, 2), got {after}"


@pytest.mark.day5_task4
def test_leveled_apply_sorts_outputs_between_the_kept_ssts() -> None:
    """Leveled apply_result left the lower level out of key order."""
    controller = leveled()
    l4 = [info(1, MIB, b"a", b"c"), info(2, MIB, b"d", b"f"), info(3, MIB, b"g", b"i"), info(4, MIB, b"j", b"l")]
    shape = leveled_shape([info(9, KIB, b"e", b"g")], [], [], [], l4)
    task = LevelCompactionTask(0, (9,), 4, (2, 3), True)
    after = controller.apply_result(
        with_infos(shape, info(10, MIB, b"d", b"f"), info(11, MIB, b"g", b"i")), task, [10, 11]
    )
    assert after.levels[3] == (1, 10, 11, 4), f"expected L4 (1, 10, 11, 4) in key order, got {after.levels[3]}"
    task = LevelCompactionTask(0, (9,), 4, (), True)
    shape = leveled_shape([info(9, KIB, b"m", b"n")], [], [], [], [info(1, MIB, b"a", b"c"), info(4, MIB, b"x", b"z")])
    after = controller.apply_result(with_infos(shape, info(12, KIB, b"m", b"n")), task, [12])
    assert after.levels[3] == (1, 12, 4), (
        f"an output between 1 (a..c) and 4 (x..z): expected (1, 12, 4), got {after.levels[3]}"
    )


@pytest.mark.day5_task4
def test_leveled_apply_removes_the_upper_sst_from_its_level() -> None:
    """Leveled apply_result left the compacted SST in the upper level, or dropped its neighbours."""
    controller = leveled()
    l3, l4 = [info(5, KIB, b"a", b"c"), info(6, KIB, b"d", b"f")], [info(1, MIB, b"a", b"z")]
    shape = with_infos(leveled_shape([], [], [], l3, l4), info(7, MIB, b"a", b"z"))
    after = controller.apply_result(shape, LevelCompactionTask(3, (5,), 4, (1,), True), [7])
    assert after.levels[2:] == ((6,), (7,)), f"expected L3 (6,) and L4 (7,), got {after.levels}"


@pytest.mark.day5_task4
def test_leveled_apply_works_without_sst_infos() -> None:
    """Leveled apply_result needed SstInfo records, which a manifest replay does not have."""
    task = LevelCompactionTask(2, (5,), 3, (2,), False)
    after = leveled().apply_result(TreeShape((9,), ((), (5, 6), (1, 2, 3)), {}), task, [7, 8])
    assert after.l0 == (9,) and after.levels[1] == (6,), f"expected L0 (9,) and L2 (6,), got {after}"
    assert sorted(after.levels[2]) == [1, 3, 7, 8], f"expected L3 to hold 1, 3, 7 and 8, got {after.levels[2]}"


@pytest.mark.day5_task3
@pytest.mark.parametrize("num_tiers", [2, 3, 4])
@pytest.mark.invariant
def test_a_tiered_task_is_the_bottom_exactly_when_it_takes_every_tier(num_tiers: int) -> None:
    """A tiered task that took every tier was not marked is_bottom (its tombstones kept), or one that did not was."""
    controller = TieredController(TieredCompactionOptions(num_tiers=num_tiers, max_size_amplification_percent=10_000))
    for sizes in [(1, 3), (1, 1, 9), (2, 5, 9, 30), (1, 1, 1, 1, 40), (5, 5, 5, 5, 5)]:
        task = controller.generate_task(tier_shape(*sizes))
        if task is None:
            continue
        takes_all = len(task.tiers) == len(sizes)
        assert task.is_bottom == takes_all, (
            f"num_tiers={num_tiers}, tiers of {sizes} SSTs: the task takes {len(task.tiers)} of {len(sizes)} tiers, "
            f"so is_bottom must be {takes_all} (only a merge into the oldest tier may drop tombstones)"
        )
