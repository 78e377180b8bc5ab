"""Code compared statement by statement, after the disguises a copy is given are undone.

Fingerprints of token runs (``similarity``'s first measure) break wherever a copy
puts something between two statements: a dead statement after every line hides a
copy from them. This measure takes each statement (a compound one by its header:
``if`` and its test, a loop and what it iterates, ``def`` and its parameters) as
one unit, after making alike what a disguise changes without changing what the
code does: every name and attribute (renaming), docstrings and annotations,
string contents and how they are built (f-string, ``%``, ``.format``), ``x += y``
against ``x = x + y``, ``a > b`` against ``b < a``, and ``for`` against ``while``
(both are a loop). Two modules then share the units they hold in common, as
multisets: the order of functions and statements does not matter, and padding
adds units to the copy without taking any from what it copied.

A unit counts for its size in syntax-tree nodes, so that ``return x`` weighs less
than a line of real logic; units smaller than ``MIN_UNIT_NODES`` do not count, and
neither do the units of the starter stub, which every student was given.
``statement_units`` is O(size of the module); ``shared`` is O(units).
"""

from __future__ import annotations

import ast
from collections import Counter

MIN_UNIT_NODES = 4
"""A statement smaller than this (``return x``, ``pass``) looks alike in everyone's code."""

_MIRRORED = {ast.Gt: ast.Lt, ast.GtE: ast.LtE}


class _Normalise(ast.NodeTransformer):
    """Undo what a disguise changes: names, strings, augmented assignments, mirrored comparisons."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Name("_", ast.Load())

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.arg("_")

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        return ast.Attribute(self.visit(node.value), "_", ast.Load())

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant("" if isinstance(node.value, str | bytes) else node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return ast.Constant("")

    def visit_Call(self, node: ast.Call) -> ast.AST:
        call = self.generic_visit(node)
        assert isinstance(call, ast.Call)
        method = call.func
        if isinstance(method, ast.Attribute) and isinstance(method.value, ast.Constant) and method.value.value == "":
            return ast.Constant("")  # "...".format(...) is a string like any other
        return call

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        binop = self.generic_visit(node)
        assert isinstance(binop, ast.BinOp)
        if isinstance(binop.op, ast.Mod) and isinstance(binop.left, ast.Constant) and binop.left.value == "":
            return ast.Constant("")  # "..." % args, likewise
        return binop

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        target, value = self.visit(node.target), self.visit(node.value)
        return ast.Assign([target], ast.BinOp(target, node.op, value))

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None  # a bare annotation declares, it does nothing
        return ast.Assign([self.visit(node.target)], self.visit(node.value))

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        compare = self.generic_visit(node)
        assert isinstance(compare, ast.Compare)
        if len(compare.ops) == 1 and type(compare.ops[0]) in _MIRRORED:
            mirrored = _MIRRORED[type(compare.ops[0])]()
            return ast.Compare(compare.comparators[0], [mirrored], [compare.left])
        return compare


def _header(statement: ast.stmt) -> str | None:
    """The unit of one statement: the whole of a simple one, the header of a compound one."""
    match statement:
        case ast.FunctionDef() | ast.AsyncFunctionDef():
            return "def " + ast.dump(statement.args)
        case ast.For() | ast.AsyncFor():
            return f"loop {ast.dump(statement.target)} {ast.dump(statement.iter)}"
        case ast.While():
            return "loop " + ast.dump(statement.test)
        case ast.If():
            return "if " + ast.dump(statement.test)
        case ast.With() | ast.AsyncWith():
            return "with " + " ".join(ast.dump(item) for item in statement.items)
        case ast.ClassDef() | ast.Try() | ast.Expr(value=ast.Constant()):
            return None  # a class and a try are their bodies; a lone constant is a docstring
        case _:
            return ast.dump(statement)


def _strip_annotations(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
        if isinstance(node, ast.arg):
            node.annotation = None


def statement_units(source: str) -> Counter[str]:
    """The module's units (normalised statements) and how many times each occurs; empty if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return Counter()
    _strip_annotations(tree)
    tree = _Normalise().visit(tree)
    units: Counter[str] = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and (unit := _header(node)) is not None and unit_size(unit) >= MIN_UNIT_NODES:
            units[unit] += 1
    return units


def unit_size(unit: str) -> int:
    """A unit's size in syntax-tree nodes (each node opens a parenthesis in ``ast.dump``)."""
    return unit.count("(")


def weight(units: Counter[str]) -> int:
    """The size of a multiset of units."""
    return sum(unit_size(unit) * count for unit, count in units.items())


def shared(first: Counter[str], second: Counter[str], given: Counter[str]) -> tuple[float, float, int]:
    """The share of each module's own units found in the other, and the size they share, stub units left out."""
    first, second = first - given, second - given
    common = weight(first & second)
    first_weight, second_weight = weight(first), weight(second)
    return (common / first_weight if first_weight else 0.0, common / second_weight if second_weight else 0.0, common)
