"""Day 5: simple leveled compaction, where levels are compared by their number of files.

Each level may hold at most a fixed ratio of the files of the level below it. The
levels are tried from the top: when a level has too many files for the level
below (``lower / upper < size_ratio_percent / 100``), the whole upper level is
merged with the whole lower level into the lower level. L0 is tried only once it
has ``level0_file_num_compaction_trigger`` files, and then by the same ratio.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinylsm.options import SimpleLeveledCompactionOptions
from tinylsm.state import LevelCompactionTask, TreeShape


class SimpleLeveledController:
    """Decides simple leveled compactions; pure functions of the tree's shape, no I/O."""

    flush_to_l0 = True

    def __init__(self, options: SimpleLeveledCompactionOptions) -> None:
        self.options = options

    def generate_task(self, shape: TreeShape) -> LevelCompactionTask | None:
        """The next compaction to run, or ``None`` when the tree is in shape. O(levels)."""
        # BEGIN SOLUTION day5.task2
        options = self.options
        runs = [shape.l0, *shape.padded_levels(options.max_levels)]
        for upper in range(options.max_levels):
            if upper == 0 and len(shape.l0) < options.level0_file_num_compaction_trigger:
                continue
            upper_files, lower_files = len(runs[upper]), len(runs[upper + 1])
            if upper_files == 0:
                continue
            if lower_files * 100 < options.size_ratio_percent * upper_files:
                return LevelCompactionTask(
                    upper_level=upper,
                    upper=runs[upper],
                    lower_level=upper + 1,
                    lower=runs[upper + 1],
                    is_bottom=upper + 1 == options.max_levels,
                )
        return None
        # END SOLUTION

    def apply_result(self, shape: TreeShape, task: LevelCompactionTask, output: Sequence[int]) -> TreeShape:
        """The shape after ``task`` wrote ``output``; L0 files flushed meanwhile stay. O(files)."""
        # BEGIN SOLUTION day5.task2
        levels = list(shape.padded_levels(self.options.max_levels))
        l0 = shape.l0
        if task.upper_level == 0:
            compacted = set(task.upper)
            l0 = tuple(sst_id for sst_id in shape.l0 if sst_id not in compacted)
        else:
            levels[task.upper_level - 1] = ()
        levels[task.lower_level - 1] = tuple(output)
        return TreeShape(l0, tuple(levels), shape.ssts)
        # END SOLUTION
