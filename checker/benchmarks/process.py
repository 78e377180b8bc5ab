"""What the operating system says about this process: resident memory and bytes written.

On Linux the numbers come from ``/proc/self/status`` (``VmRSS``, ``VmHWM``) and
``/proc/self/io`` (``wchar``: bytes passed to ``write`` and its kin, by every
thread). Elsewhere the peak comes from ``resource.getrusage`` and the others are
unknown (``None``).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_IO = Path("/proc/self/io")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def current_rss() -> int | None:
    """Resident memory now, in bytes (``None`` where the system does not say)."""
    return _status_kib("VmRSS")


def peak_rss() -> int:
    """The most resident memory this process has had, in bytes."""
    peak = _status_kib("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # macOS counts bytes, Linux KiB


def bytes_written() -> int | None:
    """Bytes this process has written through system calls so far (``None`` where unknown)."""
    try:
        for line in _IO.read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def directory_bytes(directory: Path) -> int:
    """The sum of the sizes of every file under ``directory``."""
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
