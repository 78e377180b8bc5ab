"""A simulated power cut that the code under test cannot see coming, dodge or soften.

The engine process reports each ``os.fsync`` (the file's inode) to a ``PowerCut``
of the test process, and waits for it. The ``PowerCut`` measures the file itself:
the size it has now is durable. At the engine's fsync number ``crash_at`` (or when
the test calls ``cut_now``) it kills the engine process with SIGKILL, and only then
cuts every file of the database back to what was durable:

* a file that was fsynced: to what it held at its last fsync;
* a file that was there when the ``PowerCut`` was made, and not fsynced since: to
  what it held then;
* a file created since and never fsynced: to nothing.

What a file held is kept as its bytes, not only its size, and a file whose bytes
since then are neither a longer nor a shorter version of them is cut to nothing:
a new file that took the inode number of a deleted one, or a file written over in
place, holds nothing that was made durable.

The engine process does not take part in the cut. An engine that ends its own
process first has not been cut, and the test says so; an fsync it does not report
made nothing durable.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path


class PowerCut:
    """The power of one engine process, cut at its fsync number ``crash_at`` (0: only by ``cut_now``)."""

    def __init__(self, directory: Path, crash_at: int, kill: Callable[[], None]) -> None:
        self._directory = directory
        self._crash_at = crash_at
        self._kill = kill
        self._lock = threading.Lock()
        self._calls = 0
        self._durable = {entry.inode(): _contents(entry.path) for entry in os.scandir(directory) if entry.is_file()}
        self._cut_done = False

    def fsync(self, inode: int) -> None:
        """The engine process's fsync of the file ``inode``: it is durable at its size now, or the power goes."""
        with self._lock:
            if self._cut_done:
                return
            self._calls += 1
            if self._calls == self._crash_at:
                self._cut()
                return
            for entry in os.scandir(self._directory):
                if entry.inode() == inode and entry.is_file():
                    self._durable[inode] = _contents(entry.path)

    def cut_now(self) -> None:
        """Cut the power now (after the engine's last step: what it made durable must be all there)."""
        with self._lock:
            if not self._cut_done:
                self._cut()

    def was_cut(self) -> bool:
        """Whether the power was cut; a cut under way is waited for (its files are cut back when this returns)."""
        with self._lock:
            return self._cut_done

    def _cut(self) -> None:
        self._cut_done = True
        self._kill()
        for entry in os.scandir(self._directory):
            if not entry.is_file():
                continue
            durable, now = self._durable.get(entry.inode(), b""), _contents(entry.path)
            if now.startswith(durable):
                kept = len(durable)  # written on after its last fsync: the rest is lost
            elif durable.startswith(now):
                kept = len(now)  # cut back after its last fsync (a torn tail cut off): either is what survives
            else:
                kept = 0
            if len(now) > kept:
                os.truncate(entry.path, kept)


def _contents(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()
