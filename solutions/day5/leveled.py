"""Day 5: leveled compaction with dynamic level sizes, as LevelDB and RocksDB do it.

Level targets are computed from the bottom up: the last level's target is its
real size (at least ``base_level_size_mb``), and each level above it aims at
``1 / level_size_multiplier`` of the level below, as long as the level below aims
at more than the base size. The highest level with a non-zero target is the
*base level*: L0 is compacted straight into it, skipping the empty levels between.
A level above the base level that still holds data (the tree shrank) is never
skipped: L0 then goes into the highest such level, so that newer data never
lands below older data.

Priorities: L0 first, once it has ``level0_file_num_compaction_trigger`` files.
Otherwise the level whose size is furthest over its target (ratio > 1; a level
with data but no target counts as infinitely over) gives one SST to a merge with
the SSTs it overlaps one level down: the SST whose merge rewrites the fewest bytes
below per byte it moves (RocksDB's ``kMinOverlappingRatio``), the oldest (smallest
id) on a tie.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinylsm.options import LeveledCompactionOptions
from tinylsm.state import LevelCompactionTask, TreeShape

MIB = 1 << 20


class LeveledController:
    """Decides leveled compactions; pure functions of the tree's shape, no I/O."""

    flush_to_l0 = True

    def __init__(self, options: LeveledCompactionOptions) -> None:
        self.options = options

    def target_sizes(self, shape: TreeShape) -> list[int]:
        """The target size in bytes of L1 .. L``max_levels`` (0 for a level not in use yet)."""
        # BEGIN SOLUTION day5.task4
        options = self.options
        base_size = int(options.base_level_size_mb * MIB)
        levels = shape.padded_levels(options.max_levels)
        targets = [0] * options.max_levels
        targets[-1] = max(shape.size_of(levels[-1]), base_size)
        for index in range(options.max_levels - 2, -1, -1):
            if targets[index + 1] > base_size:
                targets[index] = targets[index + 1] // options.level_size_multiplier
        return targets
        # END SOLUTION

    def generate_task(self, shape: TreeShape) -> LevelCompactionTask | None:
        """The next compaction to run, or ``None`` when every level is within its target.

        O(levels + u * l) for the u and l SSTs of the two levels involved.
        """
        # BEGIN SOLUTION day5.task4
        options = self.options
        levels = shape.padded_levels(options.max_levels)
        targets = self.target_sizes(shape)
        base_level = next((index + 1 for index, target in enumerate(targets) if target > 0), options.max_levels)
        # L0 must not skip a level that holds data: its newer entries would land below older ones.
        first_with_data = next((index + 1 for index, level in enumerate(levels) if level), options.max_levels)
        l0_target = min(base_level, first_with_data)
        if len(shape.l0) >= options.level0_file_num_compaction_trigger:
            return LevelCompactionTask(
                upper_level=0,
                upper=shape.l0,
                lower_level=l0_target,
                lower=_overlapping(shape, shape.l0, levels[l0_target - 1]),
                is_bottom=l0_target == options.max_levels,
            )
        best_ratio, best_level = 1.0, 0
        for index in range(options.max_levels - 1):
            size = shape.size_of(levels[index])
            if not levels[index]:
                continue
            # A level above the base level should be empty: it has no target, so any data there must move down.
            ratio = size / targets[index] if targets[index] else float("inf")
            if ratio > best_ratio:
                best_ratio, best_level = ratio, index + 1
        if best_level == 0:
            return None
        lower = levels[best_level]
        chosen = min(levels[best_level - 1], key=lambda sst_id: (_overlap_ratio(shape, sst_id, lower), sst_id))
        return LevelCompactionTask(
            upper_level=best_level,
            upper=(chosen,),
            lower_level=best_level + 1,
            lower=_overlapping(shape, (chosen,), lower),
            is_bottom=best_level + 1 == options.max_levels,
        )
        # END SOLUTION

    def apply_result(self, shape: TreeShape, task: LevelCompactionTask, output: Sequence[int]) -> TreeShape:
        """The shape after ``task`` wrote ``output``, the lower level kept in key order.

        L0 files flushed while the task ran stay. While the manifest is replayed at
        recovery the key ranges may be unknown; the outputs then take the place of the
        first replaced SST, and recovery sorts each level once the tables are open.
        O(files of the two levels).
        """
        # BEGIN SOLUTION day5.task4
        levels = list(shape.padded_levels(self.options.max_levels))
        removed = set(task.upper) | set(task.lower)
        l0 = tuple(sst_id for sst_id in shape.l0 if sst_id not in removed)
        if task.upper_level:
            levels[task.upper_level - 1] = tuple(i for i in levels[task.upper_level - 1] if i not in removed)
        lower = levels[task.lower_level - 1]
        kept = [sst_id for sst_id in lower if sst_id not in removed]
        if all(sst_id in shape.ssts for sst_id in (*kept, *output)):
            merged = sorted([*kept, *output], key=lambda sst_id: shape.ssts[sst_id].first_key)
        else:
            position = next((i for i, sst_id in enumerate(lower) if sst_id in removed), len(lower))
            before = [sst_id for sst_id in lower[:position] if sst_id not in removed]
            merged = [*before, *output, *(i for i in lower[position:] if i not in removed)]
        levels[task.lower_level - 1] = tuple(merged)
        return TreeShape(l0, tuple(levels), shape.ssts)
        # END SOLUTION


# BEGIN SOLUTION
def _overlapping(shape: TreeShape, upper: tuple[int, ...], lower: tuple[int, ...]) -> tuple[int, ...]:
    """The SSTs of ``lower`` whose key range meets the key range of ``upper``."""
    first = min(shape.ssts[i].first_key for i in upper)
    last = max(shape.ssts[i].last_key for i in upper)
    return tuple(i for i in lower if shape.ssts[i].first_key <= last and shape.ssts[i].last_key >= first)


def _overlap_ratio(shape: TreeShape, sst_id: int, lower: tuple[int, ...]) -> float:
    """The bytes of ``lower`` that merging ``sst_id`` down rewrites, per byte of ``sst_id``."""
    return shape.size_of(_overlapping(shape, (sst_id,), lower)) / max(shape.ssts[sst_id].size, 1)


# END SOLUTION
