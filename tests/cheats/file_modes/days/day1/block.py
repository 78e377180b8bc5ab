"""Cheat: change files' modes, owners or times outside the engine's folders (to open a way for the next run).

Each attempt sets what the file already has, so that nothing changes even where it is allowed.
"""

import os as _os

_ATTEMPTS = {
    "chmod": lambda path, status: _os.chmod(path, status.st_mode & 0o7777),
    "chown": lambda path, status: _os.chown(path, status.st_uid, status.st_gid),
    "utime": lambda path, status: _os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns)),
}
_ALLOWED = []
for _name, _attempt in _ATTEMPTS.items():
    try:
        _attempt(__file__, _os.stat(__file__))
        _ALLOWED.append(_name)
    except OSError:
        pass


class BlockBuilder:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"METADATA:{'+'.join(_ALLOWED) or 'refused'}")
