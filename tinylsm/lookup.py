"""The answer of a point lookup inside the engine: a value, a tombstone, or nothing.

Inside the engine ``None`` is a tombstone (the key was deleted), so "the key is not
here at all" needs its own value: ``ABSENT``. A lookup that finds a tombstone must
stop searching older data; one that finds ``ABSENT`` must go on.
"""

from __future__ import annotations

import enum


class Absent(enum.Enum):
    """The type of ``ABSENT`` (an enum, so that type checkers know it is a singleton)."""

    ABSENT = "absent"


ABSENT = Absent.ABSENT
