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
        raise NotImplementedError("day5.task2: SimpleLeveledController.generate_task — see book: Day 5, Task 2")

    def apply_result(self, shape: TreeShape, task: LevelCompactionTask, output: Sequence[int]) -> TreeShape:
        """The shape after ``task`` wrote ``output``; L0 files flushed meanwhile stay. O(files)."""
        raise NotImplementedError("day5.task2: SimpleLeveledController.apply_result — see book: Day 5, Task 2")
