"""What the block cache (day 2) charges a block, and when it unpacks one.

Provided: neither decision is a lesson of its own, and both must be the same for
every student's cache, so that a block counts the same bytes everywhere.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinylsm.block import Block

UNPACK_AFTER_HITS = 4
"""A cached block's keys are unpacked (``Block.unpack_keys``) on its fourth hit.

Unpacking the keys of a 4 KiB block of 32 entries costs about 5 µs, as much as
two or three searches of its bytes (2.1 µs each, against 0.5 µs in the list), and
a block read at random from a tree larger than the cache is rarely hit again:
were every block unpacked on its first hit, random reads would pay for lists they
never use. A block hit four times is hot, and keeps being hit.
"""


def block_charge(block: Block) -> int:
    """The bytes one cached block counts for: its encoded size, plus its unpacked keys once it has them.

    An unpacked block holds a ``bytes`` object per key besides its encoded bytes,
    and ``sys.getsizeof`` counts what the list and each key really take. O(1) on a
    packed block, O(n) on an unpacked one.
    """
    charge = len(block.data) + 2 * len(block.offsets) + 2
    keys = block.keys
    if keys is None:
        return charge
    return charge + sys.getsizeof(keys) + sum(map(sys.getsizeof, keys))
