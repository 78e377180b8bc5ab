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
        raise NotImplementedError("day5.task4: LeveledController.target_sizes — see book: Day 5, Task 4")

    def generate_task(self, shape: TreeShape) -> LevelCompactionTask | None:
        """The next compaction to run, or ``None`` when every level is within its target.

        O(levels + u * l) for the u and l SSTs of the two levels involved.
        """
        raise NotImplementedError("day5.task4: LeveledController.generate_task — see book: Day 5, Task 4")

    def apply_result(self, shape: TreeShape, task: LevelCompactionTask, output: Sequence[int]) -> TreeShape:
        """The shape after ``task`` wrote ``output``, the lower level kept in key order.

        L0 files flushed while the task ran stay. While the manifest is replayed at
        recovery the key ranges may be unknown; the outputs then take the place of the
        first replaced SST, and recovery sorts each level once the tables are open.
        O(files of the two levels).
        """
        raise NotImplementedError("day5.task4: LeveledController.apply_result — see book: Day 5, Task 4")
