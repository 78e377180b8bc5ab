"""Where a later day's work plugs into an earlier day's code.

An earlier day never imports a later day's module directly: it asks this module,
which returns the plain behaviour when the option is off and imports the later
day's module only when it is on. So day 1's block builder works before day 7
exists, and day 7's prefix compression reaches day 1's blocks without anyone
editing ``days/day1``.

| extension point       | switched on by                 | provided by (day) |
|-----------------------|--------------------------------|-------------------|
| shared key prefix     | ``options.prefix_compression`` | ``prefix`` (7)    |
"""

from __future__ import annotations

from collections.abc import Callable

from tinylsm.options import LsmStorageOptions


def no_shared_prefix(first_key: bytes, key: bytes) -> int:
    """Store every key whole: the shared prefix length is always 0."""
    return 0


def shared_prefix_function(options: LsmStorageOptions) -> Callable[[bytes, bytes], int]:
    """How many leading bytes of a key a block may take from its first key."""
    if options.prefix_compression:
        from tinylsm.prefix import shared_prefix_length

        return shared_prefix_length
    return no_shared_prefix
