"""The inspector's text output: what ``python -m checker inspect`` prints for each kind of file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checker.tools.inspect.common import STRATEGIES, TIERED, Report, hex32, plural


class TextOutput:
    """Prints a report's facts, with each problem under the item it belongs to."""

    def __init__(self, report: Report, out: Callable[[str], None]) -> None:
        self.report = report
        self.out = out
        self._shown: set[int] = set()

    def problems(self, item: str, indent: str = "  ") -> None:
        """Print the problems of ``item`` that are not printed yet."""
        for number, problem in enumerate(self.report.problems):
            if problem["item"] == item and number not in self._shown:
                self._shown.add(number)
                self.out(f"{indent}! {describe_problem(problem)}")

    def finish(self) -> None:
        """Print any problem not printed yet, then the verdict."""
        for item in dict.fromkeys(problem["item"] for problem in self.report.problems):
            self.problems(item)
        problems = self.report.problems
        if not problems:
            self.out("no damage found")
            return
        first = problems[0]
        self.out(
            f"DAMAGED: {plural(len(problems), 'problem')}, the first at offset {first['offset']} ({first['item']})"
        )


def describe_problem(problem: dict[str, Any]) -> str:
    """One problem on one line: offset, message, expected and found."""
    text = f"offset {problem['offset']}: {problem['message']}"
    if "expected" in problem:
        text += f" (expected {problem['expected']}, found {problem['found']})"
    return text


def print_sst(report: Report, out: Callable[[str], None]) -> None:
    """The text form of an SST report."""
    text = TextOutput(report, out)
    facts = report.facts
    out(f"{report.file}: SST, {report.size} bytes")
    footer = facts.get("footer")
    if footer:
        out(f"footer at offset {footer['offset']}:")
        out(f"  meta_offset {footer['meta_offset']}, meta_size {footer['meta_size']}")
        out(f"  filter_offset {footer['filter_offset']}, filter_size {footer['filter_size']}")
        checksums = "checksums" if footer["checksums"] else "no checksums"
        out(f"  version {footer['version']}, flags {footer['flags']:#06x} ({checksums})")
        out(f"  footer_crc {hex32(footer['footer_crc'])} ({footer['footer_crc_status']}), magic {footer['magic']}")
    text.problems("footer")
    meta = facts.get("meta")
    if meta:
        entries = meta["entries"]
        out(
            f"meta section at offset {meta['offset']}, {meta['size']} bytes, crc {meta['crc_status']}: "
            f"{plural(len(entries), 'block')}"
        )
        for index, entry in enumerate(entries):
            out(
                f"  block {index}: offset {entry['offset']}, size {entry['size']}, "
                f"keys {entry['first_key']} .. {entry['last_key']}"
            )
    text.problems("meta")
    for block in facts.get("blocks", []):
        item = f"block {block['index']}"
        keys = f", {block['first_key']} .. {block['last_key']}" if block["first_key"] else ""
        out(
            f"{item} at offset {block['offset']}: {block['size']} bytes, "
            f"{plural(block['entry_count'], 'entry')}{keys}, checksum {block['checksum']}"
        )
        text.problems(item)
        _print_entries(block.get("entries"), block["entry_count"], out)
    filter_facts = facts.get("filter")
    if filter_facts:
        where = f"filter section at offset {filter_facts['offset']}"
        bloom = filter_facts.get("bloom")
        if not filter_facts["size"]:
            out(f"{where}: empty (no filter), crc {filter_facts['crc_status']}")
        elif bloom:
            out(
                f"{where}: {filter_facts['size']} bytes, crc {filter_facts['crc_status']}: Bloom filter, "
                f"k = {bloom['k']}, {bloom['bits']} bits, {bloom['bits_set']} set "
                f"({100 * bloom['bits_set'] // bloom['bits']} %)"
            )
        else:
            out(f"{where}: {filter_facts['size']} bytes, crc {filter_facts['crc_status']}: {filter_facts['bytes']}")
    text.problems("filter")
    summary = facts.get("summary")
    if summary:
        keys = f", keys {summary['first_key']} .. {summary['last_key']}" if summary["first_key"] else ""
        out(
            f"{plural(summary['blocks'], 'block')}, {plural(summary['entries'], 'entry')} "
            f"({plural(summary['tombstones'], 'tombstone')}){keys}"
        )
    text.finish()


def _print_entries(entries: list[dict[str, Any]] | None, total: int, out: Callable[[str], None]) -> None:
    """Entries or operations, one a line, and how many were left out."""
    if entries is None:
        return
    width = max((len(entry["key"]) for entry in entries), default=0)
    for entry in entries:
        line = f"    {entry['key']:<{width}}  {entry['kind']}"
        if "value" in entry:
            line += f"  {entry['value']}"
        out(line)
    if total > len(entries):
        out(f"    ... {total - len(entries)} more")


def print_wal(report: Report, out: Callable[[str], None]) -> None:
    """The text form of a WAL report."""
    text = TextOutput(report, out)
    facts = report.facts
    out(f"{report.file}: write-ahead log, {report.size} bytes")
    for record in facts["records"]:
        item = f"record {record['index']}"
        line = f"{item} at offset {record['offset']}: {record['payload_len']}-byte payload"
        if record["status"] != "ok":
            line += ", DAMAGED (its operations are not decoded)"
        elif record["op_count"] == 1:
            op = record["first_op"]
            line += f", 1 op: {op['kind']} {op['key']}"
        elif record["op_count"]:
            line += f", {record['op_count']} ops, keys {record['first_op']['key']} .. {record['last_op']['key']}"
        out(line)
        text.problems(item)
        _print_entries(record.get("ops"), record.get("op_count", 0), out)
    _print_log_end(text, len(facts["records"]))
    summary = facts["summary"]
    out(f"{plural(summary['records'], 'record')}, {plural(summary['ops'], 'op')}")
    text.finish()


def _print_log_end(text: TextOutput, records: int) -> None:
    """How the log ends: a damaged header where reading stopped, or a torn tail (tolerated)."""
    out, facts = text.out, text.report.facts
    unread = facts.get("unread")
    if unread:
        item = f"record {unread['index']}"
        out(f"{item} at offset {unread['offset']}: damaged header; the {unread['bytes']} bytes from here are not read")
        text.problems(item)
    torn = facts.get("torn_tail")
    if torn:
        out(
            f"torn tail at offset {torn['offset']} ({torn['bytes']} bytes): {torn['reason']}; tolerated: "
            f"replay keeps the {plural(records, 'record')} before it"
        )


def _ids(ids: list[int] | None) -> str:
    return "[" + ", ".join(map(str, ids)) + "]" if ids is not None else "unknown"


def _level(number: int) -> str:
    return f"L{number}"


def describe_manifest_record(record: dict[str, Any]) -> str:
    """One manifest record's fields, in words."""
    kind = record["type"]
    if kind == "snapshot":
        runs = "tiers" if record["strategy"] == TIERED else "levels"
        name = STRATEGIES.get(record["strategy"], f"unknown ({record['strategy']})")
        return (
            f"snapshot: strategy {name}, next_id {record['next_id']}, memtables {_ids(record['memtables'])}, "
            f"L0 {_ids(record['l0'])}, {runs} [{', '.join(_ids(run) for run in record['levels'])}]"
        )
    if kind == "new memtable":
        return f"new memtable {record['id']}"
    if kind == "flush":
        return f"flush of memtable {record['id']} to SST {record['id']}"
    task = record["task"]
    who = "full compaction" if record["full"] else "compaction (controller)"
    bottom = ", bottom level" if task["is_bottom"] else ""
    if task["kind"] == "level":
        moved = (
            f"{_level(task['upper_level'])} {_ids(task['upper'])} + {_level(task['lower_level'])} "
            f"{_ids(task['lower'])} -> {_level(task['lower_level'])}"
        )
    else:
        moved = f"tiers [{', '.join(_ids(tier) for tier in task['tiers'])}] -> one tier"
    return f"{who}: {moved}{bottom}; output {_ids(record['output'])}"


def print_manifest(report: Report, out: Callable[[str], None]) -> None:
    """The text form of a MANIFEST report."""
    text = TextOutput(report, out)
    facts = report.facts
    out(f"{report.file}: manifest, {report.size} bytes, {plural(len(facts['records']), 'record')}")
    for record in facts["records"]:
        item = f"record {record['index']}"
        if "type" in record:
            out(f"{item} at offset {record['offset']}: {describe_manifest_record(record)}")
        else:
            out(f"{item} at offset {record['offset']}: {record['payload_len']}-byte payload, not decoded")
        text.problems(item)
    _print_log_end(text, len(facts["records"]))
    shape = facts["shape"]
    out("shape after replaying the records:")
    if shape["strategy"]:
        out(f"  strategy: {shape['strategy']}")
    out(f"  live memtables (oldest first): {_ids(shape['memtables'])}")
    out(f"  L0 (newest first): {_ids(shape['l0'])}")
    runs = "tiers (newest first)" if shape["strategy"] == STRATEGIES[TIERED] else "levels (L1 first)"
    levels = shape["levels"]
    out(f"  {runs}: " + (f"[{', '.join(_ids(run) for run in levels)}]" if levels is not None else "unknown"))
    if shape["not_replayed_after_record"] is not None:
        out(
            f"  (record {shape['not_replayed_after_record']} is a compaction, which the inspector does not replay: "
            "where its outputs go is the compaction strategy's decision; the next snapshot, written when the "
            "database is reopened, shows the whole shape)"
        )
    text.finish()
