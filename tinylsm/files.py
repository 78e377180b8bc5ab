"""Files as the engine uses them: written once, fsynced, then read by offset.

SSTables are immutable, so a table is written in one go and then only read.
Reads use ``os.pread``, which takes the offset as an argument: several threads can
read one file at once without sharing a file position.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tinylsm.errors import CorruptionError, LsmError


def sst_path(directory: str | os.PathLike[str], sst_id: int) -> Path:
    """The path of SSTable ``sst_id`` in ``directory``: ``00042.sst``."""
    return Path(directory) / f"{sst_id:05d}.sst"


def wal_path(directory: str | os.PathLike[str], memtable_id: int) -> Path:
    """The path of the write-ahead log of memtable ``memtable_id``: ``00042.wal``."""
    return Path(directory) / f"{memtable_id:05d}.wal"


def file_names(directory: str | os.PathLike[str]) -> list[str]:
    """The names of the regular files in ``directory``, the only entries the engine reads or removes.

    A folder (or a socket, a device) named like one of the engine's files was not
    written by the engine: recovery leaves it alone rather than fail on it at every open.
    """
    return [entry.name for entry in os.scandir(directory) if entry.is_file()]


def sync_directory(directory: str | os.PathLike[str]) -> None:
    """Make the directory's entries (files created, renamed, removed) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileObject:
    """An immutable file on disk, read by offset."""

    def __init__(self, path: Path, fd: int, size: int) -> None:
        self.path = path
        self.size = size
        self._fd = fd

    @classmethod
    def create(cls, path: str | os.PathLike[str], data: bytes) -> FileObject:
        """Write ``data`` to a new file at ``path``, fsync it, and open it for reading.

        The bytes go to ``path`` + ``.tmp`` first and are renamed into place once
        fsynced, so a file of the final name is always complete: a crash midway
        leaves only a temporary file, which recovery removes. (The new name is
        durable once the directory is fsynced, which the durability layer does.)
        """
        path = Path(path)
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if path.exists():
            temporary.unlink()
            raise FileExistsError(f"{path} already exists")
        os.replace(temporary, path)
        return cls.open(path)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> FileObject:
        """Open an existing file for reading."""
        path = Path(path)
        fd = os.open(path, os.O_RDONLY)
        return cls(path, fd, os.fstat(fd).st_size)

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset``; a file too short for them is corrupt."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise CorruptionError(
                f"{self.path.name}: cannot read {length} bytes at offset {offset} of a {self.size}-byte file"
            )
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise CorruptionError(f"{self.path.name}: the file shrank while it was read (offset {offset})")
        return data

    def close(self) -> None:
        """Release the file descriptor (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        # A table replaced by compaction is not closed explicitly, because a scan may
        # still be reading it; its descriptor is released when the last user lets go.
        self.close()


class DirectoryLock:
    """An exclusive lock on a database directory, held through its ``LOCK`` file.

    ``fcntl.flock`` locks belong to the open file: the operating system releases
    them when the process ends, even by ``kill -9``, so a crash never leaves a
    directory locked.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / "LOCK"
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:  # a folder named LOCK, a directory that cannot be written ...
            raise LsmError(f"{directory} cannot be opened: its LOCK file cannot be opened ({error})") from error
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise LsmError(f"{directory} is already open in another LsmStorage (its LOCK file is held)") from None

    def release(self) -> None:
        """Give the directory up (idempotent)."""
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
