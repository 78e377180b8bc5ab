"""``checker similarity`` and ``grade-many --similarity``: a made-up class of six, one disguised copy among them.

The class: a verbatim copy of day 1's reference; a copy of it with renamed names
and no comments; an independent solution that passes every day 1 test
(``class_of_six/block_rewritten.py``); a student who has started day 1 in their
own words; and two who have not touched the stubs. Only the copies, of each other
and of the course's reference (compared as one more submission), share enough code
to be reported: the given code (the stubs) never counts, and two honest solutions of
the same interface do not come close.
"""

from __future__ import annotations

import ast
import csv
import io
import re
import shutil
import tokenize
from pathlib import Path

import pytest

from checker.instructor.similarity import MIN_STATEMENT_NODES_PER_TOKEN, MIN_TOKENS, REFERENCE, THRESHOLD
from tests.helpers import ROOT, checker

BLOCK = Path("days") / "day1" / "block.py"
REWRITTEN = Path(__file__).with_name("class_of_six") / "block_rewritten.py"
RENAMED = {
    "_parts": "_chunks",
    "_offsets": "_starts",
    "_size": "_used",
    "overlap": "common",
    "rest": "tail",
    "payload": "blob",
    "entry_size": "cost",
    "count": "total",
    "data_end": "table_start",
    "_index": "_pos",
    "_key": "_cur_key",
    "_value": "_cur_value",
    "_first_key": "_base_key",
    "_seek_to_index": "_jump",
    "_key_at": "_nth_key",
    "start": "begin",
    "kind": "flag",
    "rest_len": "tail_len",
    "value_len": "blob_len",
    "_check_entries": "_validate",
    "ends": "stops",
    "previous_key": "last_seen",
    "first_key": "base",
}
"""How the copier disguised the reference: every name of its own renamed."""

STARTED = {
    "BlockBuilder.__init__": "self.entries = []",
    "BlockBuilder.is_empty": "return len(self.entries) == 0",
    "BlockBuilder.build": "return Block(b''.join(self.entries), [])",
}
"""What the student who has only started wrote, method by method."""


def disguised(source: str) -> str:
    """``source`` with its names renamed and its comments dropped, as a copier hides a copy."""
    lines = source.splitlines(keepends=True)
    for token in reversed(list(tokenize.generate_tokens(io.StringIO(source).readline))):
        if token.type == tokenize.COMMENT:
            (row, start), (_, end) = token.start, token.end
            lines[row - 1] = lines[row - 1][:start].rstrip(" ") + lines[row - 1][end:]
    return re.sub(r"\w+", lambda name: RENAMED.get(name[0], name[0]), "".join(lines))


def started(stub: str) -> str:
    """The stub with a few methods filled in."""
    for method, line in STARTED.items():
        stub = stub.replace(f'raise NotImplementedError("day1.task1: {method} — see book: Day 1, Task 1")', line)
    return stub


@pytest.fixture(scope="module")
def submissions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("class") / "submissions"
    reference = (ROOT / "solutions" / BLOCK.relative_to("days")).read_text()
    stub = (ROOT / BLOCK).read_text()
    day1 = {
        "verbatim": reference,
        "disguised": disguised(reference),
        "rewritten": REWRITTEN.read_text(),
        "started": started(stub),
        "untouched": stub,
        "untouched-too": stub,
    }
    for name, source in day1.items():
        shutil.copytree(ROOT / "days", folder / name / "days", ignore=shutil.ignore_patterns("__pycache__", "hidden"))
        (folder / name / BLOCK).write_text(source)
    return folder


def flagged_pairs(out: Path) -> list[dict[str, str]]:
    with (out / "similarity.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def test_grading_the_class_reports_the_disguised_copy_and_no_honest_pair(submissions: Path, tmp_path: Path) -> None:
    assert "self._chunks" in (submissions / "disguised" / BLOCK).read_text(), "the copy was not disguised"
    completed = checker("grade-many", str(submissions), "-j", "2", "--out", str(tmp_path), "--day", "1", "--similarity")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    pairs = flagged_pairs(tmp_path)
    copies = {
        frozenset({"disguised", "verbatim"}),
        frozenset({REFERENCE, "disguised"}),
        frozenset({REFERENCE, "verbatim"}),
    }
    assert {frozenset({p["first"], p["second"]}) for p in pairs} == copies, pairs
    assert {p["module"] for p in pairs} == {BLOCK.as_posix()}, pairs
    assert all(min(float(p["first_share"]), float(p["second_share"])) > 0.9 for p in pairs), pairs
    compared = re.findall(r"(?:Test|Reference) file: <i>(.*?)</i>", (tmp_path / "similarity.html").read_text())
    owners = {REFERENCE if "solutions" in Path(path).parts else Path(path).parts[-4] for path in compared}
    assert owners == {"disguised", "verbatim", REFERENCE}, compared
    assert "disguised and verbatim, days/day1/block.py" in completed.stdout, completed.stdout

    # The honest rewrite is a real solution: it earns day 1's points, as the reference and its copy do.
    with (tmp_path / "gradebook.csv").open(newline="") as file:
        totals = {row["Student"]: float(row["Total"]) for row in csv.DictReader(file)}
    assert totals == {
        "disguised": 100,
        "verbatim": 100,
        "rewritten": 100,
        "started": 0,
        "untouched": 0,
        "untouched-too": 0,
    }, totals


def test_honest_pairs_stay_well_below_the_limits(submissions: Path, tmp_path: Path) -> None:
    """Every pair that shares anything is listed; honest ones share a small part, or very little code."""
    every_pair = ["--threshold", "0.01", "--min-tokens", "0"]
    completed = checker("similarity", str(submissions), "--out", str(tmp_path), *every_pair)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    pairs = {(p["first"], p["second"]): p for p in flagged_pairs(tmp_path)}
    assert ("disguised", "verbatim") in pairs and (REFERENCE, "rewritten") in pairs, sorted(pairs)
    assert not [pair for pair in pairs if "untouched" in pair[0] or "untouched" in pair[1]], "the given code counted"
    for pair, row in pairs.items():
        share, tokens = max(float(row["first_share"]), float(row["second_share"])), int(row["tokens"])
        if not set(pair) <= {"disguised", "verbatim", REFERENCE}:
            assert share < 0.7 * THRESHOLD or tokens < 0.6 * MIN_TOKENS, f"{pair} comes close: {row}"
            statements, nodes = float(row["statement_share"]), int(row["statement_nodes"])
            few_nodes = 0.6 * MIN_TOKENS * MIN_STATEMENT_NODES_PER_TOKEN
            assert statements < 0.7 * THRESHOLD or nodes < few_nodes, (
                f"{pair} comes close statement by statement: {row}"
            )


class _Pad(ast.NodeTransformer):
    """A copier's heavier disguise: dead statements after every statement, every class's methods reversed,
    ``x += y`` written out and comparisons turned around."""

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        load = ast.parse(ast.unparse(node.target), mode="eval").body
        return ast.Assign([node.target], ast.BinOp(load, node.op, node.value), lineno=node.lineno)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        mirror = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE}
        if len(node.ops) == 1 and type(node.ops[0]) in mirror:
            return ast.Compare(node.comparators[0], [mirror[type(node.ops[0])]()], [node.left])
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                padded = []
                for n, statement in enumerate(body):
                    padded += [statement, *ast.parse(f"_unused{n} = [{n}, {n} * 3]\n_spare{n} = {{}}").body]
                setattr(node, field, padded[::-1] if isinstance(node, ast.ClassDef) else padded)
        return node


def test_a_copy_padded_with_dead_statements_and_reordered_is_reported(tmp_path: Path) -> None:
    """Padding breaks every fingerprint of token runs; the statements taken from the reference are still there."""
    folder = tmp_path / "submissions"
    reference = (ROOT / "solutions" / BLOCK.relative_to("days")).read_text()
    tree = _Pad().visit(ast.parse(reference))
    padded = disguised(ast.unparse(ast.fix_missing_locations(tree)))
    for name, source in {"padded": padded, "untouched": (ROOT / BLOCK).read_text()}.items():
        shutil.copytree(ROOT / "days", folder / name / "days", ignore=shutil.ignore_patterns("__pycache__", "hidden"))
        (folder / name / BLOCK).write_text(source)
    completed = checker("similarity", str(folder), "--out", str(tmp_path / "out"))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    pairs = {frozenset({p["first"], p["second"]}): p for p in flagged_pairs(tmp_path / "out")}
    assert set(pairs) == {frozenset({REFERENCE, "padded"})}, pairs
    row = pairs[frozenset({REFERENCE, "padded"})]
    assert max(float(row["first_share"]), float(row["second_share"])) < THRESHOLD, f"not a padded copy: {row}"
    assert float(row["statement_share"]) > 0.9, row
