"""Cheat: a class of the day that is a class of the core in disguise.

The core's options cross from the engine process by copy, so a test that calls this
"BlockCache" runs the options' own checks in the test process, where nothing the
engine raises is seen: ``BlockCache(-1)`` raises the ValueError a test expects, and
no refusal of the engine is counted.
"""

from tinylsm.options import LsmStorageOptions as BlockCache  # noqa: E402,F811
