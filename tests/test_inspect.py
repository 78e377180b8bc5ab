"""``python -m checker inspect``: SSTs, WALs and MANIFESTs written by the reference engine, whole and damaged."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from checker.tools.inspect import kind_of
from checker.tools.inspect.common import show
from tests.helpers import ROOT, checker, run

SOLUTIONS = {"TINYLSM_IMPL": "solutions"}

# Writes two databases with the reference engine: "plain" keeps one SST (no
# compaction) and a WAL of unflushed writes; "compacted" has a MANIFEST with
# flushes, a compaction chosen by the controller (a trivial move: the flushed
# SSTs hold disjoint keys) and a full compaction.
BUILD = """
import sys
from pathlib import Path

from tinylsm.engine import LsmStorage
from tinylsm.options import NoCompaction, SimpleLeveledCompactionOptions
from tinylsm.testkit import options_for_day

root = Path(sys.argv[1])
with LsmStorage.open(root / "plain", options_for_day(6, block_size=64, compaction=NoCompaction())) as engine:
    for i in range(10):
        engine.put(b"k%02d" % i, b"value-%d" % i)
    engine.put(b"\\x00\\xffbin", b"\\x01\\x02")
    engine.put(b"long", b"x" * 300)
    engine.delete(b"k05")
    engine.force_flush()
    engine.write_batch([(b"w1", b"one"), (b"w2", None)])
    engine.put(b"w3", b"three")
    engine.put(b"w4", b"four")

compaction = SimpleLeveledCompactionOptions(level0_file_num_compaction_trigger=2)
with LsmStorage.open(root / "compacted", options_for_day(6, block_size=64, compaction=compaction)) as engine:
    for round_ in range(3):
        for i in range(5):
            engine.put(b"r%d-%d" % (round_, i), b"v")
        engine.force_flush()
    engine.force_full_compaction()
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two databases, built once for the module."""
    root = tmp_path_factory.mktemp("inspect")
    completed = run([sys.executable, "-c", BUILD, str(root)], env=SOLUTIONS, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return root


@pytest.fixture
def work(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the plain database's SST and WAL, and the MANIFEST of the compacted one, in ``tmp_path``."""
    shutil.copy(next((built / "plain").glob("*.sst")), tmp_path / "00001.sst")
    shutil.copy(next((built / "plain").glob("*.wal")), tmp_path / "00002.wal")
    shutil.copy(built / "compacted" / "MANIFEST", tmp_path / "MANIFEST")
    return tmp_path


def inspect(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m checker inspect ARGS`` inside ``directory``, so that file names are relative."""
    return checker("inspect", *args, env=SOLUTIONS, cwd=directory)


def inspect_json(directory: Path, *args: str) -> tuple[int, dict]:
    completed = inspect(directory, *args, "--json")
    return completed.returncode, json.loads(completed.stdout)


def lines(completed: subprocess.CompletedProcess[str]) -> list[str]:
    return completed.stdout.splitlines()


def flip(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def sst_layout(path: Path) -> tuple[int, list[int]]:
    """The meta section's offset and each data block's offset, read straight from the footer and meta."""
    data = path.read_bytes()
    (meta_offset,) = struct.unpack_from("<Q", data, len(data) - 40)
    (count,) = struct.unpack_from("<I", data, meta_offset)
    blocks, pos = [], meta_offset + 4
    for _ in range(count):
        blocks.append(struct.unpack_from("<Q", data, pos)[0])
        pos += 12
        for _key in range(2):
            pos += 2 + struct.unpack_from("<H", data, pos)[0]
    return meta_offset, blocks


def log_records(data: bytes) -> list[tuple[int, int]]:
    """(offset, first payload byte) of each record of a WAL or MANIFEST."""
    records, offset = [], 0
    while offset < len(data):
        (length,) = struct.unpack_from("<I", data, offset)
        records.append((offset, data[offset + 12]))
        offset += 12 + length
    return records


# --- SST ---


def test_an_sst_shows_its_footer_meta_and_blocks(work: Path) -> None:
    completed = inspect(work, "00001.sst")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    out = lines(completed)
    size = (work / "00001.sst").stat().st_size
    meta_offset, block_offsets = sst_layout(work / "00001.sst")
    assert out[0] == f"00001.sst: SST, {size} bytes"
    assert out[1] == f"footer at offset {size - 40}:"
    assert out[2].startswith(f"  meta_offset {meta_offset}, meta_size ")
    assert "  version 1, flags 0x0000 (no checksums)" in out
    assert '  footer_crc 0x00000000 (absent), magic "TLSM-SST"' in out
    assert any(line.startswith(f"meta section at offset {meta_offset}, ") for line in out)
    listed = [line for line in out if line.startswith("  block ")]
    blocks = [line for line in out if line.startswith("block ")]
    assert len(listed) == len(blocks) == len(block_offsets) > 2
    for index, (line, offset) in enumerate(zip(blocks, block_offsets, strict=True)):
        assert line.startswith(f"block {index} at offset {offset}: ") and line.endswith("checksum absent"), line
    assert '0x00ff62696e .. "k01"' in blocks[0], "a binary key is shown in hex, a text key as text"
    assert (
        out[-3]
        == f"filter section at offset {meta_offset + int(out[2].split()[-1]) + 4}: empty (no filter), crc absent"
    )
    assert out[-2] == f'{len(blocks)} blocks, 12 entries (1 tombstone), keys 0x00ff62696e .. "long"'
    assert out[-1] == "no damage found"
    assert not any(line.startswith("    ") for line in out), "entries are shown only with --entries"


def test_entries_shows_every_entry_and_limit_shortens_each_block(work: Path) -> None:
    out = lines(inspect(work, "00001.sst", "--entries"))
    entries = [line.split() for line in out if line.startswith("    ")]
    assert len(entries) == 12
    assert ['"k00"', "value", '"value-0"'] in entries
    assert ['"k05"', "tombstone"] in entries
    assert ["0x00ff62696e", "value", "0x0102"] in entries
    assert any(line.endswith('"long"  value  "' + "x" * 32 + '"... (300 bytes)') for line in out)

    limited = lines(inspect(work, "00001.sst", "--limit", "1"))
    blocks = [line for line in limited if line.startswith("block ")]
    shown = [line for line in limited if line.startswith("    ") and not line.startswith("    ...")]
    assert len(shown) == len(blocks)
    assert any(line.startswith("    ... ") and line.endswith(" more") for line in limited)


def test_json_holds_the_same_facts(work: Path) -> None:
    status, report = inspect_json(work, "00001.sst", "--entries")
    assert status == 0
    assert (report["file"], report["type"], report["ok"], report["problems"]) == ("00001.sst", "sst", True, [])
    footer = report["footer"]
    assert (footer["version"], footer["flags"], footer["magic"]) == (1, 0, '"TLSM-SST"')
    assert footer["meta_offset"] == sst_layout(work / "00001.sst")[0]
    assert footer["filter_offset"] == footer["meta_offset"] + footer["meta_size"] + 4
    assert len(report["meta"]["entries"]) == len(report["blocks"])
    assert sum(block["entry_count"] for block in report["blocks"]) == report["summary"]["entries"] == 12
    first = report["blocks"][0]["entries"][0]
    assert first == {"key": "0x00ff62696e", "kind": "value", "value": "0x0102", "value_len": 2}
    assert report["filter"] == {"offset": footer["filter_offset"], "size": 0, "crc_status": "absent"}


def test_a_truncated_sst_names_the_missing_footer(work: Path) -> None:
    path = work / "00001.sst"
    path.write_bytes(path.read_bytes()[:-10])
    completed = inspect(work, "00001.sst")
    assert completed.returncode == 1
    assert "no SST footer" in completed.stdout and "cut short" in completed.stdout
    assert lines(completed)[-1].startswith("DAMAGED: 1 problem, the first at offset")

    path.write_bytes(path.read_bytes()[:30])
    completed = inspect(work, "00001.sst")
    assert completed.returncode == 1
    assert "too short for the 40-byte footer: the footer is missing" in completed.stdout


def test_a_damaged_block_is_marked_and_the_other_blocks_are_still_listed(work: Path) -> None:
    _, block_offsets = sst_layout(work / "00001.sst")
    kind_at = block_offsets[1] + 4  # the kind byte of block 1's first entry
    flip(work / "00001.sst", kind_at, 0x06)
    completed = inspect(work, "00001.sst")
    assert completed.returncode == 1
    out = lines(completed)
    marked = out.index(next(line for line in out if line.startswith("block 1 at offset"))) + 1
    assert out[marked].startswith(f"  ! offset {kind_at}: entry 0: kind 6 ")
    assert len([line for line in out if line.startswith("block ")]) == len(block_offsets)
    assert out[-1] == f"DAMAGED: 1 problem, the first at offset {kind_at} (block 1)"


def test_a_damaged_meta_count_is_reported_at_its_offset(work: Path) -> None:
    meta_offset, _ = sst_layout(work / "00001.sst")
    flip(work / "00001.sst", meta_offset + 3, 0x10)
    status, report = inspect_json(work, "00001.sst")
    assert status == 1
    assert [(p["item"], p["offset"]) for p in report["problems"]] == [("meta", meta_offset)]
    assert "the block count is" in report["problems"][0]["message"]


@pytest.mark.skipif(not (ROOT / "solutions" / "day7").is_dir(), reason="checksums and filters arrive with day 7")
def test_an_sst_with_checksums_and_a_filter(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from tinylsm.testkit import encoded_sst; "
        "Path(sys.argv[1]).write_bytes(encoded_sst([(b'key%03d' % i, b'v') for i in range(40)], day=7, "
        "block_size=64, bloom_bits_per_key=10))"
    )
    assert run([sys.executable, "-c", script, str(tmp_path / "00001.sst")], env=SOLUTIONS).returncode == 0
    status, report = inspect_json(tmp_path, "00001.sst", "--entries")
    assert status == 0, report["problems"]
    assert report["footer"]["checksums"] and report["footer"]["footer_crc_status"] == "ok"
    assert {block["checksum"] for block in report["blocks"]} == {"ok"}
    keys = [entry["key"] for block in report["blocks"] for entry in block["entries"]]
    assert keys == [f'"key{i:03d}"' for i in range(40)], "keys that share a prefix are rebuilt"
    assert report["filter"]["crc_status"] == "ok"
    assert report["filter"]["bloom"]["k"] == 7 and report["filter"]["bloom"]["bits"] == 400

    _, block_offsets = sst_layout(tmp_path / "00001.sst")
    flip(tmp_path / "00001.sst", block_offsets[1] + 10)
    completed = inspect(tmp_path, "00001.sst")
    assert completed.returncode == 1
    out = lines(completed)
    damaged = next(line for line in out if line.startswith("block 1 at offset"))
    assert damaged.endswith("checksum mismatch")
    assert out[out.index(damaged) + 1].startswith(f"  ! offset {block_offsets[2] - 4}: checksum mismatch")


# --- WAL ---


def test_a_wal_lists_its_records_and_operations(work: Path) -> None:
    completed = inspect(work, "00002.wal", "--entries")
    assert completed.returncode == 0, completed.stdout
    out = lines(completed)
    assert out[0].startswith("00002.wal: write-ahead log, ")
    assert out[1] == 'record 0 at offset 0: 25-byte payload, 2 ops, keys "w1" .. "w2"'
    assert [line.split() for line in out[2:4]] == [['"w1"', "put", '"one"'], ['"w2"', "delete"]]
    assert out[4] == 'record 1 at offset 37: 18-byte payload, 1 op: put "w3"'
    assert out[-2:] == ["3 records, 4 ops", "no damage found"]


def test_a_torn_tail_is_shown_and_tolerated(work: Path) -> None:
    path = work / "00002.wal"
    last = log_records(path.read_bytes())[-1][0]
    path.write_bytes(path.read_bytes()[:-3])
    completed = inspect(work, "00002.wal")
    assert completed.returncode == 0, completed.stdout
    [torn] = [line for line in lines(completed) if line.startswith("torn tail")]
    assert torn.startswith(f"torn tail at offset {last} (")
    assert "a payload cut short" in torn and "tolerated: replay keeps the 2 records before it" in torn
    assert lines(completed)[-2:] == ["2 records, 3 ops", "no damage found"]


def test_a_damaged_record_in_the_middle_is_corruption_at_its_offset(work: Path) -> None:
    flip(work / "00002.wal", 20)  # inside record 0's payload; records 1 and 2 follow
    completed = inspect(work, "00002.wal")
    assert completed.returncode == 1
    out = lines(completed)
    assert out[1] == "record 0 at offset 0: 25-byte payload, DAMAGED (its operations are not decoded)"
    assert out[2].startswith("  ! offset 0: payload_crc") and "corruption, not a torn tail" in out[2]
    assert out[3].startswith("record 1 at offset 37: "), "the records after the damage are still read"
    assert out[-1] == "DAMAGED: 1 problem, the first at offset 0 (record 0)"
    status, report = inspect_json(work, "00002.wal")
    [problem] = report["problems"]
    assert (status, problem["offset"], problem["item"]) == (1, 0, "record 0")
    assert problem["expected"] != problem["found"]


def test_a_damaged_header_stops_the_reading(work: Path) -> None:
    flip(work / "00002.wal", 37)  # record 1's payload_len
    completed = inspect(work, "00002.wal")
    assert completed.returncode == 1
    out = lines(completed)
    assert out[2] == "record 1 at offset 37: damaged header; the 59 bytes from here are not read"
    assert out[3].startswith("  ! offset 37: header_crc")


# --- MANIFEST ---


def test_a_manifest_lists_its_records_and_replays_the_simple_ones(work: Path) -> None:
    completed = inspect(work, "MANIFEST")
    assert completed.returncode == 0, completed.stdout
    out = lines(completed)
    assert out[1].startswith("record 0 at offset 0: snapshot: strategy simple leveled, next_id ")
    assert "record 1 at offset 42: new memtable 2" in out
    assert "record 2 at offset 63: flush of memtable 1 to SST 1" in out
    compactions = [line for line in out if ": compaction (controller): L0 [2, 1] + L1 [] -> L1; output [" in line]
    assert len(compactions) == 1
    assert any(": full compaction: " in line and "; output [" in line for line in out)
    assert out[out.index("shape after replaying the records:") + 1 :][:4] == [
        "  strategy: simple leveled",
        "  live memtables (oldest first): [4]",
        "  L0 (newest first): unknown",
        "  levels (L1 first): unknown",
    ]
    assert any("which the inspector does not replay" in line for line in out)

    status, report = inspect_json(work, "MANIFEST")
    types = [record["type"] for record in report["records"]]
    assert status == 0 and types[:5] == ["snapshot", "new memtable", "flush", "new memtable", "flush"]
    full = [record for record in report["records"] if record.get("full")]
    assert full and full[-1]["task"]["kind"] == "level" and full[-1]["output"]
    assert report["shape"]["l0"] is None and report["shape"]["memtables"] == [4]


def test_a_manifest_before_any_compaction_replays_to_l0(work: Path) -> None:
    data = (work / "MANIFEST").read_bytes()
    first_compaction = next(offset for offset, kind in log_records(data) if kind == 4)
    (work / "MANIFEST").write_bytes(data[:first_compaction])
    status, report = inspect_json(work, "MANIFEST")
    assert status == 0
    assert report["shape"] == {
        "strategy": "simple leveled",
        "memtables": [3],
        "l0": [2, 1],
        "levels": [],
        "not_replayed_after_record": None,
    }


def test_a_manifest_without_a_snapshot_first_is_damaged(work: Path) -> None:
    data = (work / "MANIFEST").read_bytes()
    second = log_records(data)[1][0]
    (work / "MANIFEST").write_bytes(data[second:])
    status, report = inspect_json(work, "MANIFEST")
    assert status == 1
    first = report["problems"][0]
    assert (first["offset"], first["item"]) == (0, "record 0")
    assert first["message"].startswith("a manifest must begin with a snapshot record")
    assert (first["expected"], first["found"]) == ("snapshot", "new memtable")


# --- Which kind of file, and usage ---


def test_garbage_is_refused_by_kind(work: Path) -> None:
    garbage = bytes(range(7, 250))
    (work / "garbage.sst").write_bytes(garbage)
    completed = inspect(work, "garbage.sst")
    assert completed.returncode == 1 and "no SST footer" in completed.stdout

    (work / "garbage.wal").write_bytes(garbage)
    status, report = inspect_json(work, "garbage.wal")
    assert status == 1 and report["problems"][0]["offset"] == 0 and report["records"] == []

    (work / "garbage.bin").write_bytes(garbage)
    completed = inspect(work, "garbage.bin")
    assert completed.returncode == 2 and completed.stdout == ""
    assert "cannot tell what kind of file garbage.bin is" in completed.stderr
    assert inspect(work, "garbage.bin", "--type", "wal").returncode == 1


def test_an_sst_under_another_name_is_recognised_by_its_magic(work: Path) -> None:
    shutil.copy(work / "00001.sst", work / "table.bin")
    completed = inspect(work, "table.bin")
    assert completed.returncode == 0 and lines(completed)[0].startswith("table.bin: SST, ")


@pytest.mark.parametrize("args", [["missing.sst"], ["00001.sst", "--limit", "0"], [], ["00001.sst", "--type", "x"]])
def test_usage_errors_exit_2(work: Path, args: list[str]) -> None:
    completed = inspect(work, *args)
    assert completed.returncode == 2
    assert completed.stderr


def test_the_inspector_does_not_import_the_engine() -> None:
    code = "import sys, checker.tools.inspect; print(sorted(m for m in sys.modules if m.startswith('tinylsm')))"
    completed = run([sys.executable, "-c", code], env={"TINYLSM_IMPL": "student"})
    assert completed.stdout.strip() == "[]", completed.stderr


def test_bytes_are_shown_as_text_or_hex() -> None:
    assert show(b"k01") == '"k01"'
    assert show(b"") == '""'
    assert show(b"\x00\xff") == "0x00ff"
    assert show(b'say "hi"') == "0x" + b'say "hi"'.hex()
    assert show(b"x" * 50, 10) == '"xxxxxxxxxx"... (50 bytes)'
    assert show(bytes(40), 8) == "0x00000000... (40 bytes)"


def test_the_kind_comes_from_the_name_then_the_magic() -> None:
    assert kind_of("00007.sst", b"") == "sst"
    assert kind_of("00007.wal", b"") == "wal"
    assert kind_of("MANIFEST", b"") == "manifest"
    assert kind_of("copy", bytes(32) + b"TLSM-SST") == "sst"
    assert kind_of("copy", b"TLSM-SST") is None
