"""``python -m checker inspect FILE``: decode an SST, a write-ahead log or a MANIFEST for humans.

The inspector reads the three on-disk formats of the course with readers of its
own, written with ``struct`` from the format tables of the book (day 1 blocks,
day 2 SSTs, day 6 logs and manifest records). It never imports the day modules
(``tinylsm.block``, ``tinylsm.sstable``, ``tinylsm.wal``, ``tinylsm.manifest``...),
so it gives the same answer whether your code works or not: use it to look at the
files your code wrote, and to see exactly where a file is damaged.

What kind of file it is comes from the name (``*.sst``, ``*.wal``, ``MANIFEST``),
else from the SST magic at the end of the file, else from ``--type``.

* **SST**: the footer's fields, the meta section (the block index), each block's
  entry count, first and last key and checksum status (``ok``, ``mismatch``, or
  ``absent`` when the footer's flag bit 0 is clear), the filter section's size, and
  with ``--entries`` every entry. Checksums are CRC-32 (``zlib.crc32``), as day 7
  pins them. A non-empty filter section is read as day 7's Bloom filter: its number
  of probes ``k``, its bit count and how many bits are set.
* **WAL**: each record with its number of operations and their keys, and with
  ``--entries`` every operation. A torn tail (the last record cut short,
  or zero bytes to the end of the file) is shown and tolerated; a bad record
  followed by more data is corruption: the rules of day 6's ``decode_records``.
* **MANIFEST**: each record with its fields, then the shape that replaying them
  gives. Snapshot, new-memtable and flush records are replayed; a compaction record
  is listed but not replayed (where its outputs go is the compaction strategy's
  decision), so the levels are unknown after one, until the next snapshot. A
  manifest that does not begin with a snapshot is damaged, as recovery says.

Damage is reported with its file offset, the field and, where it applies, the
value expected and the value found; decoding goes on wherever the rest of the file
can still be trusted (every block of an SST is read even if one is damaged).

Keys and values made of printable ASCII are shown as quoted text, anything else
as ``0x`` hex; long ones are shortened and their length given. ``--json`` prints
the same facts as one JSON document (keys and values in the same notation).

Exit status: 0 when no damage was found (a torn WAL tail is not damage), 1 when
the file is damaged, 2 for a usage error (no such file, unknown kind of file).

This module is the command line; the decoders are one module per format:
``sst`` (footer, meta section, checksum slots), ``block`` (a data block's
entries), ``bloom`` (the filter section), ``log`` (the record framing the WAL and
the MANIFEST share), ``wal``, ``manifest``; ``text`` prints a report, and
``common`` holds the formats' constants, the byte reader and the report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from checker.common import parse_arguments
from checker.tools.inspect.common import (
    EXIT_DAMAGED,
    EXIT_OK,
    EXIT_USAGE,
    SST_FOOTER,
    SST_MAGIC,
    Report,
    Settings,
    show,
)
from checker.tools.inspect.manifest import inspect_manifest
from checker.tools.inspect.sst import inspect_sst
from checker.tools.inspect.text import print_manifest, print_sst, print_wal
from checker.tools.inspect.wal import inspect_wal

DECODERS: dict[str, tuple[Callable[[bytes, Report, Settings], None], Callable[[Report, Callable[[str], None]], None]]]
DECODERS = {
    "sst": (inspect_sst, print_sst),
    "wal": (inspect_wal, print_wal),
    "manifest": (inspect_manifest, print_manifest),
}
"""Each kind of file: its decoder and its text printer."""


def kind_of(name: str, data: bytes) -> str | None:
    """``sst``, ``wal`` or ``manifest`` from the file name, else ``sst`` if it ends with the magic, else ``None``."""
    if name.startswith("MANIFEST"):
        return "manifest"
    suffix = Path(name).suffix.lower()
    if suffix in (".sst", ".wal"):
        return suffix[1:]
    if len(data) >= SST_FOOTER.size and data.endswith(SST_MAGIC):
        return "sst"
    return None


def inspect_bytes(name: str, data: bytes, kind: str, settings: Settings) -> Report:
    """Decode ``data`` (the file called ``name``) as ``kind``: the report of what it holds."""
    report = Report(name, kind, len(data))
    DECODERS[kind][0](data, report, settings)
    return report


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is too small (at least 1)")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m checker inspect``."""
    parser = argparse.ArgumentParser(
        prog="python -m checker inspect",
        description="Decode an .sst, a .wal or a MANIFEST file, and show where it is damaged.",
        epilog="Exit status: 0 no damage found, 1 damaged file, 2 usage error.",
    )
    parser.add_argument("file", help="the file to decode")
    parser.add_argument(
        "--type",
        choices=sorted(DECODERS),
        help="decode as this kind of file (default: from the name, else by the SST magic)",
    )
    parser.add_argument("--entries", action="store_true", help="show every entry of every block (and every WAL op)")
    parser.add_argument("--limit", type=_limit, metavar="N", help="show at most N entries per block or record")
    parser.add_argument("--json", action="store_true", help="print the same facts as one JSON document")
    return parser


def main(argv: list[str]) -> int:
    """``python -m checker inspect FILE``: 0 when no damage is found, 1 when the file is damaged, 2 on usage."""
    args = parse_arguments(build_parser(), argv)
    if isinstance(args, int):
        return args
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = "no such file" if isinstance(error, FileNotFoundError) else (error.strerror or str(error)).lower()
        print(f"inspect: cannot read {args.file}: {reason}", file=sys.stderr)
        return EXIT_USAGE
    kind = args.type or kind_of(path.name, data)
    if kind is None:
        print(
            f"inspect: cannot tell what kind of file {args.file} is: its name is not *.sst, *.wal or MANIFEST, "
            f"and it does not end with the SST magic {show(SST_MAGIC)}; name the kind with --type sst|wal|manifest",
            file=sys.stderr,
        )
        return EXIT_USAGE
    settings = Settings(entries=args.entries or args.limit is not None, limit=args.limit)
    report = inspect_bytes(args.file, data, kind, settings)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        DECODERS[kind][1](report, print)
    return EXIT_DAMAGED if report.problems else EXIT_OK
