"""Flip bits in each kind of file of a closed database, reopen it, and sort what recovery made of it.

``scripts/crash_soak.py`` tears writes the way a crash does; this script damages
bytes that were already durable, the way a disk or a stray write does. It builds
small databases with the default options (WAL, manifest, checksums on), each
closed cleanly so that every write was synced, and then, one flip at a time, on
a copy:

* flips bits aimed at the **tail** of each file: the last 60 bytes of the newest
  WAL, of an older WAL, of the MANIFEST (whose last record is, in four databases,
  a new memtable that took writes, a flush, a compaction, and a new memtable that
  took none: the only one a reopen may drop) and of the SSTs;
* flips bits aimed at **record boundaries**: each WAL and MANIFEST record's
  header, and the byte before it (and, in the SSTs, one byte in every 41);
* reopens the copy, reads every key by ``scan`` and by ``get``, and sorts the
  outcome:

| outcome | meaning |
|---|---|
| detected | the open raised ``CorruptionError`` and changed no file, or a read raised it |
| torn tail | a last record dropped as torn: the newest WAL's (all but the last write back), the MANIFEST's (all back) |
| no effect | every write read back (the flipped bit was not used, e.g. a filter bit that only adds a false positive) |
| wrong value | any other state: a lost synced write, an old value back, a deleted key back |
| other | another exception, or a refused open that changed a file |

It also counts states that are no prefix of the writes, and live files deleted by
a successful open. The goal, for each file type: 0 wrong values, 0 other, 0
non-prefix states, 0 deleted live files; a torn tail only in the newest WAL, and
in the MANIFEST only where its last record had not taken effect.

    python scripts/fault_injection.py                  # the reference, 8 bits of every tail byte
    python scripts/fault_injection.py --impl student:6 --bits 4
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAIL_BYTES = 60
WRITES = 60
OUTCOMES = ("detected", "torn tail", "no effect", "wrong value", "other")
FILE_NAME = re.compile(r"^(\d+)\.(sst|wal)$")


@dataclass
class Target:
    """One file of one base database, and where to flip its bits."""

    kind: str
    base: Path
    name: str
    offsets: list[int]
    writes: int


@dataclass
class Tally:
    """What the flips of one file type gave."""

    outcomes: Counter = field(default_factory=Counter)
    non_prefix: int = 0
    deleted_live: int = 0
    flips: int = 0
    examples: list[str] = field(default_factory=list)


def value(n: int) -> bytes:
    return b"value %03d " % n + b"v" * 30


def expected_states(writes: int) -> list[dict[bytes, bytes]]:
    """The content after each write (index 0: empty): write n puts key n % 23, every 7th write a delete."""
    states, model = [{}], {}
    for n in range(writes):
        key = b"key%02d" % (n % 23)
        if n % 7 == 6:
            model.pop(key, None)
        else:
            model[key] = value(n)
        states.append(dict(model))
    return states


def apply_write(db, n: int) -> None:
    key = b"key%02d" % (n % 23)
    if n % 7 == 6:
        db.delete(key)
    else:
        db.put(key, value(n))


def options(tinylsm_options):
    return tinylsm_options.LsmStorageOptions(
        target_sst_size=400,
        block_size=128,
        num_memtable_limit=50,
        background_work=False,
        compaction=tinylsm_options.LeveledCompactionOptions(
            level_size_multiplier=4, level0_file_num_compaction_trigger=50, max_levels=3, base_level_size_mb=0.004
        ),
    )


def build(directory: Path, finish: str) -> int:
    """A database of synced writes, closed cleanly; the number of writes.

    ``finish``: "frozen" (nothing flushed), "flushed", "compacted", or "idle": writes
    up to a freeze and no further, so that the MANIFEST ends with the record of a
    memtable that has not taken a write (the one record nothing relies on yet).
    """
    from tinylsm import options as tinylsm_options
    from tinylsm.engine import LsmStorage

    with LsmStorage.open(directory, options(tinylsm_options)) as db:
        n = 0
        while n < WRITES or (finish == "idle" and not db.state.memtable.is_empty()):
            apply_write(db, n)
            n += 1
            if finish in ("flushed", "compacted") and n == WRITES // 2:
                db.force_flush()  # half of the writes in SSTs, the rest in memtables and their WALs
        if finish == "compacted":
            db.force_flush()
            db.force_full_compaction()
    return n


def record_starts(data: bytes) -> list[int]:
    """Where each WAL or MANIFEST record starts (payload_len is the header's first u32)."""
    starts, offset = [], 0
    while offset + 12 <= len(data):
        starts.append(offset)
        offset += 12 + int.from_bytes(data[offset : offset + 4], "little")
    return starts


def tail_offsets(size: int, bits: int) -> list[int]:
    """Bit offsets in the last TAIL_BYTES bytes: ``bits`` bits of each byte, spread over the 8."""
    chosen = [round(i * 8 / bits) % 8 for i in range(bits)]
    return [byte * 8 + bit for byte in range(max(0, size - TAIL_BYTES), size) for bit in chosen]


def boundary_offsets(data: bytes) -> list[int]:
    """One bit of each header byte of every record, and of the byte before it."""
    offsets = []
    for start in record_starts(data):
        for byte in range(max(0, start - 1), min(len(data), start + 12)):
            offsets.append(byte * 8 + byte % 8)
    return offsets


def targets(root: Path, bits: int) -> list[Target]:
    found = []
    for finish in ("frozen", "flushed", "compacted", "idle"):
        base = root / finish
        writes = build(base, finish)
        wals = sorted(int(m[1]) for name in os.listdir(base) if (m := FILE_NAME.match(name)) and m[2] == "wal")
        ssts = sorted(int(m[1]) for name in os.listdir(base) if (m := FILE_NAME.match(name)) and m[2] == "sst")
        manifest = (base / "MANIFEST").read_bytes()
        offsets = tail_offsets(len(manifest), bits) + boundary_offsets(manifest)
        found.append(Target("MANIFEST", base, "MANIFEST", offsets, writes))
        if finish == "frozen":
            # the oldest WAL and the one just before the newest: two older logs
            newest, older = f"{wals[-1]:05d}.wal", [f"{wals[0]:05d}.wal", f"{wals[-2]:05d}.wal"]
            for name, kind in [(newest, "newest WAL"), *((name, "older WAL") for name in older)]:
                data = (base / name).read_bytes()
                offsets = tail_offsets(len(data), bits) + boundary_offsets(data)
                found.append(Target(kind, base, name, offsets, writes))
        elif finish != "idle":
            for sst in ssts[-2:]:
                name = f"{sst:05d}.sst"
                size = (base / name).stat().st_size
                spread = [byte * 8 + byte % 8 for byte in range(0, size, 41)]
                found.append(Target("SST", base, name, tail_offsets(size, bits) + spread, writes))
    return found


def live_files(directory: Path) -> set[str]:
    """Every SST and non-empty WAL of a cleanly closed database: the files a reopen must keep."""
    return {
        name
        for name in os.listdir(directory)
        if (m := FILE_NAME.match(name)) and (m[2] == "sst" or (directory / name).stat().st_size)
    }


def files_of(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in os.listdir(directory) if name != "LOCK"}


def trial(
    target: Target, bit: int, work: Path, states: list[dict[bytes, bytes]], live: set[str]
) -> tuple[str, bool, bool]:
    """Flip ``bit`` of a copy, reopen, read: (outcome, is a prefix, a live file deleted)."""
    from tinylsm import options as tinylsm_options
    from tinylsm.engine import LsmStorage
    from tinylsm.errors import CorruptionError

    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(target.base, work)
    path = work / target.name
    data = bytearray(path.read_bytes())
    data[bit >> 3] ^= 1 << (bit & 7)
    path.write_bytes(bytes(data))
    before = files_of(work)
    keys = sorted({b"key%02d" % (n % 23) for n in range(target.writes)})
    try:
        db = LsmStorage.open(work, options(tinylsm_options))
    except CorruptionError:
        return ("detected" if files_of(work) == before else "other"), True, False
    except Exception:
        return "other", False, False
    try:
        scanned = dict(db.scan())
        got = {key: found for key in keys if (found := db.get(key)) is not None}
    except CorruptionError:
        return "detected", True, False  # found by a read: the open could not have known
    except Exception:
        return "other", False, False
    finally:
        db.close()
    deleted = any(not (work / name).exists() for name in live)
    if scanned != got:
        return "wrong value", False, deleted
    if got == states[-1]:
        # the MANIFEST's records are all checksummed: one that opens whole had its last record dropped
        return ("torn tail" if target.kind == "MANIFEST" else "no effect"), True, deleted
    prefix = got in states
    if target.kind == "newest WAL" and got == states[-2]:
        return "torn tail", True, False
    return "wrong value", prefix, deleted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bits", type=int, default=8, help="bits flipped in each tail byte, 1..8 (default 8)")
    parser.add_argument("--impl", default="solutions", help="the composition, as TINYLSM_IMPL (default solutions)")
    arguments = parser.parse_args()
    os.environ["TINYLSM_IMPL"] = arguments.impl
    sys.path.insert(0, str(ROOT))
    tallies: dict[str, Tally] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tinylsm-faults-") as scratch:
        root = Path(scratch)
        for target in targets(root, arguments.bits):
            tally = tallies.setdefault(target.kind, Tally())
            live = live_files(target.base)
            states = expected_states(target.writes)
            for bit in sorted(set(target.offsets)):
                outcome, prefix, deleted = trial(target, bit, root / "work", states, live)
                tally.flips += 1
                tally.outcomes[outcome] += 1
                tally.non_prefix += not prefix
                tally.deleted_live += deleted
                if outcome in ("wrong value", "other") and len(tally.examples) < 3:
                    where = f"{target.base.name}/{target.name} byte {bit >> 3} bit {bit & 7}"
                    tally.examples.append(f"{where}: {outcome}")
    report(tallies, arguments, time.monotonic() - started)
    bad = sum(t.outcomes["wrong value"] + t.outcomes["other"] + t.non_prefix + t.deleted_live for t in tallies.values())
    return 1 if bad else 0


def report(tallies: dict[str, Tally], arguments: argparse.Namespace, took: float) -> None:
    header = ["file", "flips", *OUTCOMES, "non-prefix", "live file deleted"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for kind in ("newest WAL", "older WAL", "MANIFEST", "SST"):
        tally = tallies.get(kind)
        if tally is None:
            continue
        cells = [kind, tally.flips, *(tally.outcomes[o] for o in OUTCOMES), tally.non_prefix, tally.deleted_live]
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    for kind, tally in tallies.items():
        for example in tally.examples:
            print(f"  {kind}: {example}")
    print(f"{sum(t.flips for t in tallies.values())} flips in {took:.0f} s, implementation {arguments.impl}")


if __name__ == "__main__":
    sys.exit(main())
