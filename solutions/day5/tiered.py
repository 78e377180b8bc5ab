"""Day 5: tiered compaction, as RocksDB's universal compaction does it.

Every flush adds a tier (a sorted run) in front of the others, so there is no L0
and the newest tier comes first. Tiers are counted and compared by their number
of SSTs. Once there are ``num_tiers`` tiers, three triggers are tried in order:

1. space amplification: when the tiers above the last one hold
   ``max_size_amplification_percent`` % of the last tier's files or more, merge
   every tier;
2. size ratio: for ``n = 2, 3, ...``, merge the ``n`` newest tiers when the
   ``n - 1`` tiers before the ``n``-th hold at least ``(100 + size_ratio) / 100``
   times its files, and ``n >= min_merge_width``;
3. otherwise merge just enough of the newest tiers to get back below ``num_tiers``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinylsm.options import TieredCompactionOptions
from tinylsm.state import TieredCompactionTask, TreeShape


class TieredController:
    """Decides tiered compactions; pure functions of the tree's shape, no I/O."""

    flush_to_l0 = False

    def __init__(self, options: TieredCompactionOptions) -> None:
        self.options = options

    def generate_task(self, shape: TreeShape) -> TieredCompactionTask | None:
        """The next compaction to run, or ``None`` when there are few enough tiers. O(tiers)."""
        # BEGIN SOLUTION day5.task3
        options = self.options
        tiers = shape.levels
        if len(tiers) < options.num_tiers:
            return None
        above_last = sum(len(tier) for tier in tiers[:-1])
        if above_last * 100 >= options.max_size_amplification_percent * len(tiers[-1]):
            return TieredCompactionTask(tiers=tiers, is_bottom=True)
        newer = 0
        for count in range(2, len(tiers) + 1):
            newer += len(tiers[count - 2])
            if newer * 100 >= (100 + options.size_ratio) * len(tiers[count - 1]) and count >= options.min_merge_width:
                return TieredCompactionTask(tiers=tiers[:count], is_bottom=count == len(tiers))
        take = len(tiers) - options.num_tiers + 2
        return TieredCompactionTask(tiers=tiers[:take], is_bottom=take >= len(tiers))
        # END SOLUTION

    def apply_result(self, shape: TreeShape, task: TieredCompactionTask, output: Sequence[int]) -> TreeShape:
        """The shape after ``task``: its tiers replaced by one tier ``output`` where the oldest was.

        Tiers added in front while the task ran stay in front. O(tiers).
        """
        # BEGIN SOLUTION day5.task3
        merged = set(task.tiers)
        levels: list[tuple[int, ...]] = []
        remaining = len(merged)
        for tier in shape.levels:
            if tier in merged:
                remaining -= 1
                if remaining == 0 and output:
                    levels.append(tuple(output))
            else:
                levels.append(tier)
        if remaining:
            raise ValueError(f"{remaining} tier(s) of the task are no longer in the tree")
        return TreeShape(shape.l0, tuple(levels), shape.ssts)
        # END SOLUTION
