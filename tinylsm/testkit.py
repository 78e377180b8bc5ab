"""Helpers for the course's tests: readable values and the options of each day."""

from __future__ import annotations

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


def collect(iterator: Any) -> list[tuple[bytes, bytes | None]]:
    """Every remaining ``(key, value)`` of a ``StorageIterator``, advancing it to the end."""
    entries = []
    while iterator.is_valid():
        entries.append((iterator.key(), iterator.value()))
        iterator.next()
    return entries


def encoded_block(entries: list[tuple[bytes, bytes | None]], day: int = 1, **overrides: Any) -> bytes:
    """The bytes of one block holding ``entries`` (used by the book's checked hexdumps)."""
    from tinylsm.block import BlockBuilder

    builder = BlockBuilder(options_for_day(day, **overrides))
    for key, value in entries:
        if not builder.add(key, value):
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
    for key, value in entries:
        builder.add(key, value)
    with tempfile.TemporaryDirectory(prefix="tinylsm-sst-") as directory:
        table = builder.build(1, sst_path(directory, 1), None)
        try:
            return table.file.read(0, table.size)
        finally:
            table.close()
