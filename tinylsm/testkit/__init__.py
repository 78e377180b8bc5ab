"""Helpers for the course's tests: readable values and the options of each day."""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from tinylsm.options import LsmStorageOptions, NoCompaction

_SHOW_LIMIT = 60

# The options that switch each later day's feature off, so that an early day's
# tests exercise that day's code alone. Background work is off for every day's
# tests (a test that wants it asks for it), so that tests are deterministic.
_FEATURES_OFF_BEFORE: dict[int, dict[str, Any]] = {
    5: {"compaction": NoCompaction()},
    6: {"enable_wal": False, "enable_manifest": False},
    7: {"bloom_bits_per_key": 0, "prefix_compression": False, "checksums": False, "group_commit": False},
}


def options_for_day(day: int, **overrides: Any) -> LsmStorageOptions:
    """Options with every feature of the days after ``day`` switched off."""
    fields: dict[str, Any] = {"background_work": False}
    for feature_day, off in _FEATURES_OFF_BEFORE.items():
        if feature_day > day:
            fields.update(off)
    fields.update(overrides)
    return LsmStorageOptions(**fields)


def show(value: object) -> str:
    """A short ``repr`` for failure messages: long bytes and lists are elided."""
    if isinstance(value, list | tuple) and len(value) > 8:
        shown = ", ".join(show(item) for item in value[:6])
        return f"[{shown}, ... ({len(value)} items)]"
    text = repr(value)
    if len(text) > _SHOW_LIMIT:
        size = f", {len(value)} bytes" if isinstance(value, bytes | bytearray) else ""
        return f"{text[: _SHOW_LIMIT - 10]}...{text[-6:]}{size}"
    return text


class ListIterator:
    """A StorageIterator over a sorted list of entries; it fails loudly when misused."""

    def __init__(self, entries: list[tuple[bytes, bytes | None]]) -> None:
        self.entries = entries
        self.position = 0

    def key(self) -> bytes:
        assert self.is_valid(), "key() was called on a child iterator that is not valid"
        return self.entries[self.position][0]

    def value(self) -> bytes | None:
        assert self.is_valid(), "value() was called on a child iterator that is not valid"
        return self.entries[self.position][1]

    def is_valid(self) -> bool:
        return self.position < len(self.entries)

    def next(self) -> None:
        assert self.is_valid(), "next() was called on a child iterator that is not valid"
        self.position += 1

    def num_active_iterators(self) -> int:
        return 1


class FsyncFailure:
    """A file-call watcher that makes one fsync of a file fail as a full disk does (``ENOSPC``).

    Given to ``watch_file_calls``, it lets ``passing`` fsyncs of the file at ``path``
    succeed, then fails the next one before it runs: the bytes written before it
    are in the file, as after a real failed fsync. ``failed`` says whether it struck.
    """

    def __init__(self, path: Path, passing: int = 0) -> None:
        self.name = path.name
        self.inode = os.stat(path).st_ino
        self.passing = passing
        self.failed = False

    def __call__(self, when: str, call: str, arguments: list) -> None:
        if call != "fsync" or when != "before" or self.failed or arguments[0]["inode"] != self.inode:
            return
        if self.passing:
            self.passing -= 1
            return
        self.failed = True
        raise OSError(errno.ENOSPC, f"No space left on device (the test's full disk, at an fsync of {self.name})")


def collect(iterator: Any) -> list[tuple[bytes, bytes | None]]:
    """Every remaining ``(key, value)`` of a ``StorageIterator`` or of a scan, advancing it to the end.

    An iterator of the engine process (when the checker grades) is read there, in
    one request, instead of one to four requests an entry.
    """
    read_remotely = getattr(type(iterator), "collect_remotely", None)
    if read_remotely is not None:
        return read_remotely(iterator)
    if not hasattr(iterator, "is_valid"):
        return list(iterator)
    entries = []
    while iterator.is_valid():
        entries.append((iterator.key(), iterator.value()))
        iterator.next()
    return entries


def assert_empty_bounds_are_bounds(scan: Callable[..., Any], everything: list[tuple[bytes, bytes]]) -> None:
    """``scan(None, b"")`` gives nothing and ``scan(b"", None)`` gives ``everything``, whatever the inclusion flags.

    A bound of ``b""`` tested as falsy instead of as ``None`` reads as no bound at all.
    """
    for include_start in (False, True):
        for include_stop in (False, True):
            flags = f"include_start={include_start}, include_stop={include_stop}"
            got = collect(scan(None, b"", include_start=include_start, include_stop=include_stop))
            assert got == [], f"scan(None, b'', {flags}): no key is at or below b'', expected [], got {show(got)}"
            got = collect(scan(b"", None, include_start=include_start, include_stop=include_stop))
            assert got == everything, (
                f"scan(b'', None, {flags}): every key is above b'', expected {show(everything)}, got {show(got)}"
            )


def apply_to_model(model: dict[bytes, bytes], ops: Iterable[tuple[bytes, bytes | None]]) -> None:
    """Apply ``(key, value)`` puts and ``(key, None)`` deletes to a dict, in order, as ``write_batch`` does."""
    for key, value in ops:
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value


def call_each(function: Callable[..., Any], arguments: Iterable[Any], *, unpack: bool = False) -> list[Any]:
    """``[function(argument) for argument in arguments]``, or ``function(*argument)`` with ``unpack``.

    The calls are made in order, and the first exception ends them, as in the loop.
    A function or method of the engine process (when the checker grades) is called
    there for every argument in one request, instead of one request a call.
    """
    call_remotely = getattr(type(function), "call_each_remotely", None)
    if call_remotely is not None:
        return call_remotely(function, list(arguments), unpack)
    if unpack:
        return [function(*argument) for argument in arguments]
    return [function(argument) for argument in arguments]


def encoded_block(entries: list[tuple[bytes, bytes | None]], day: int = 1, **overrides: Any) -> bytes:
    """The bytes of one block holding ``entries`` (used by the book's checked hexdumps)."""
    from tinylsm.block import BlockBuilder

    builder = BlockBuilder(options_for_day(day, **overrides))
    if not all(call_each(builder.add, entries, unpack=True)):
        raise ValueError("the entries do not fit in one block")
    return builder.build().encode()


def encoded_sst(entries: list[tuple[bytes, bytes | None]], day: int = 2, **overrides: Any) -> bytes:
    """The bytes of an SST file holding ``entries`` (used by the book's checked hexdumps).

    The table is built in a temporary directory that is removed afterwards; the bytes
    depend only on ``entries`` and the options, so the result is deterministic.
    """
    import tempfile

    from tinylsm.files import sst_path
    from tinylsm.sstable import SsTableBuilder

    builder = SsTableBuilder(options_for_day(day, **overrides))
    call_each(builder.add, entries, unpack=True)
    with tempfile.TemporaryDirectory(prefix="tinylsm-sst-") as directory:
        table = builder.build(1, sst_path(directory, 1), None)
        try:
            return table.file.read(0, table.size)
        finally:
            table.close()


def encoded_bloom(keys: list[bytes], bits_per_key: int = 10) -> bytes:
    """The bytes of day 7's Bloom filter over ``keys`` (used by the book's checked hexdumps)."""
    from tinylsm.bloom import BloomBuilder

    builder = BloomBuilder(bits_per_key)
    for key in keys:
        builder.add_key(key)
    return builder.build()


# Operation logs: ``python -m checker replay FILE`` re-runs a logged run on the
# composed engine and a dict, and names the first operation where they disagree.

REPLAY_OPS: dict[str, int] = {
    "put": 2,
    "delete": 1,
    "get": 1,
    "scan": 4,
    "flush": 0,
    "compact": 0,
    "reopen": 0,
    "batch": 1,
}
"""Each operation of a log and the number of arguments it takes."""


def options_as_json(options: LsmStorageOptions) -> dict[str, Any]:
    """``options`` as plain values: every field, and compaction as ``{"class": NAME, ...its fields}``."""
    import dataclasses

    fields = {field.name: getattr(options, field.name) for field in dataclasses.fields(options)}
    compaction = fields.pop("compaction")
    return {**fields, "compaction": {"class": type(compaction).__name__, **dataclasses.asdict(compaction)}}


def _as_json(value: Any) -> Any:
    """An argument of an operation as a log stores it: bytes as hex, pairs as lists."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_as_json(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"an operation log stores bytes, None, booleans and lists of them, not {value!r}")


class OpLog:
    """The operations a model-based test made, as ``python -m checker replay`` reads them.

    Record each call just before the test makes it (so that a call that raises is
    the log's last operation); keys and values are ``bytes``, a deleted value in a
    batch is ``None``::

        log = OpLog(OPTIONS, seed=seed)
        log.record("put", key, value)          # then db.put(key, value)
        log.record("delete", key)
        log.record("batch", [(key, value), (other_key, None)])
        log.record("get", key)
        log.record("scan", start, stop, include_start, include_stop)   # start/stop may be None
        log.record("flush")                     # force_flush()
        log.record("compact")                   # force_full_compaction()
        log.record("reopen")                    # close() and open again

    A test saves the log of a failing run with ``save_replay`` (or the context
    manager ``replay_on_failure``), then ``python -m checker replay FILE`` re-runs it.
    """

    def __init__(self, options: LsmStorageOptions, seed: int | None = None) -> None:
        self.options = options
        self.seed = seed
        self.ops: list[list[Any]] = []

    def record(self, op: str, *args: Any) -> None:
        """Append one operation, e.g. ``record("put", b"k", b"v")``."""
        if op not in REPLAY_OPS:
            raise ValueError(f"unknown operation {op!r}: use one of {', '.join(REPLAY_OPS)}")
        if len(args) != REPLAY_OPS[op]:
            raise TypeError(f"{op} takes {REPLAY_OPS[op]} argument(s), got {len(args)}")
        self.ops.append([op, *(_as_json(arg) for arg in args)])

    def as_json(self) -> dict[str, Any]:
        """The log as the JSON document ``python -m checker replay`` reads."""
        return {"seed": self.seed, "options": options_as_json(self.options), "ops": self.ops}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the log to ``path`` (one operation a line); the path."""
        import json

        document = self.as_json()
        ops = ",\n  ".join(json.dumps(op) for op in document["ops"])
        target = Path(path)
        target.write_text(
            f'{{"seed": {json.dumps(document["seed"])},\n "options": {json.dumps(document["options"])},\n'
            f' "ops": [\n  {ops}\n ]}}\n'
        )
        return target


def save_replay(log: OpLog, test: str) -> Path:
    """Save a failing run's log as ``tinylsm-replay-<test>.json``, and print its path.

    The file goes to the folder ``TINYLSM_REPLAY_DIR`` names (made if it does not exist),
    by default the current one.

    ``test`` names the test (e.g. pytest's ``request.node.name``). Call it when a
    read disagrees with the model, before the assertion fails::

        if got != model.get(key):
            save_replay(log, request.node.name)
        assert got == model.get(key), ...
    """
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", test).strip("-.") or "test"
    folder = Path(os.environ.get("TINYLSM_REPLAY_DIR") or Path.cwd())
    folder.mkdir(parents=True, exist_ok=True)
    path = log.save(folder / f"tinylsm-replay-{name}.json").resolve()
    print(f"operation log of the failing run: {path}\nre-run it: python -m checker replay {path}")
    return path


@contextlib.contextmanager
def replay_on_failure(log: OpLog, test: str) -> Iterator[OpLog]:
    """Run the block; if it raises, save the log with ``save_replay`` and add the path to the error.

    A ``NotImplementedError`` (a task not written yet) saves no log: replaying the run
    would only meet the same stub again.

    ::

        with replay_on_failure(log, request.node.name):
            ...the test's calls, each recorded in log...
    """
    try:
        yield log
    except NotImplementedError:
        raise
    except Exception as error:
        path = save_replay(log, test)
        error.add_note(f"operation log of this run: {path} (re-run it: python -m checker replay {path})")
        raise


def encoded_wal_record(ops: list[tuple[bytes, bytes | None]]) -> bytes:
    """The bytes of one write-ahead log record holding ``ops`` (used by the book's checked hexdumps)."""
    from tinylsm.wal import encode_ops, encode_record

    return encode_record(encode_ops(ops))


def encoded_manifest_record(kind: str, *fields: Any) -> bytes:
    """The bytes of one framed manifest record (used by the book's checked hexdumps).

    ``kind`` names a record class of ``tinylsm.manifest`` (``"Snapshot"``, ``"NewMemtable"``,
    ``"Flush"``, ``"CompactionRecord"``) and ``fields`` are its fields in order. A field
    that is a tuple starting with a class name is built the same way, e.g. a task:
    ``encoded_manifest_record("CompactionRecord", ("LevelCompactionTask", 0, (5,), 1, (2,), True), (6,))``.
    """
    from tinylsm import manifest
    from tinylsm.wal import encode_record

    def build(name: str, values: tuple[Any, ...]) -> Any:
        made = [build(v[0], v[1:]) if isinstance(v, tuple) and v and isinstance(v[0], str) else v for v in values]
        return getattr(manifest, name)(*made)

    return encode_record(manifest.encode_manifest_record(build(kind, fields)))
