"""What the course's modules promise to return, checked where the engine process's answers arrive.

An object of the engine process crosses as a reference, and a test that only takes
its ``len()``, slices it or hands it back would never notice that ``Block.encode()``
returned an object of the student's own instead of ``bytes``. The test process
therefore knows, from the course's own modules (the reference, or the stubs where
it has none: never the submission), each class's methods and each function with
the type it returns, and follows every object from the module a test imported it
from: the class a test called, or the annotation of the method that returned it,
names its class, whatever the engine process says the class is. An answer whose
annotation is made of plain types only (``bytes``, ``int``, ``bool``, ``None``,
``dict`` ...) must hold no engine object, or the call raises ``TypeError``; one
annotated with scalars only (``bool``, ``bytes | None`` ...) must be of exactly
one of them: a ``float`` is no ``bool``, and a ``bool`` is no ``int``.

A record of a day (a dataclass such as ``Flush`` or ``BlockMeta``) is equal to another
by the field names the contract lists, never by what its class says of itself
(``__dataclass_fields__`` is the student's to overwrite).

The constants a day's module is given (``STALL_FACTOR``, ``RECORD_HEADER`` ...) are
the course's too: a test reads them from the contract, never from the engine
process, so a submission that changes one cannot move what the tests expect.
"""

from __future__ import annotations

import ast
import operator
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLAIN_NAMES = frozenset({"bytes", "int", "bool", "str", "float", "None", "list", "tuple", "dict", "set", "frozenset"})
"""Annotations made of these names only promise a value that crosses by copy."""

SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    "bytes": (bytes,),
    "int": (int,),
    "bool": (bool,),
    "str": (str,),
    "float": (float, int),
    "None": (type(None),),
}
"""What an answer annotated with each scalar name may be, by its exact type (an int is a float, as in typing)."""

MAX_DEPTH = 20
"""How deep a returned container is searched for engine objects."""

NOT_A_CONSTANT = object()
"""What ``Contract.constant`` answers for a name that is no constant of the course."""

_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.LShift: operator.lshift}


@dataclass
class Contract:
    """Per class key (``module.Class``): its methods and what each returns; per function key, what it returns.

    A return is ``"plain"``, ``"plain:"`` and the scalar names it may be (``"plain:bytes|None"``), a class
    key, or ``""`` (anything).
    """

    methods: dict[str, dict[str, str]] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    """Per key ``module.NAME``, the source of its value (a literal, arithmetic on them, or ``struct.Struct``)."""
    records: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per class key of a dataclass, its fields in order: what makes two of its objects equal."""

    def as_json(self) -> dict:
        return {
            "methods": self.methods,
            "functions": self.functions,
            "constants": self.constants,
            "records": {key: list(names) for key, names in self.records.items()},
        }

    @classmethod
    def from_json(cls, document: dict) -> Contract:
        return cls(
            dict(document.get("methods", {})),
            dict(document.get("functions", {})),
            dict(document.get("constants", {})),
            {key: tuple(names) for key, names in document.get("records", {}).items()},
        )

    def constant(self, module: str, name: str) -> Any:
        """The course's value of the constant ``module.name``; ``NOT_A_CONSTANT`` when the contract has none."""
        source = self.constants.get(f"{module.rpartition('.')[2]}.{name}")
        return NOT_A_CONSTANT if source is None else _constant_value(ast.parse(source, mode="eval").body)

    def member(self, module: str, name: str) -> str | None:
        """The key of ``module.name`` when the contract knows it (a class or a function)."""
        key = f"{module.rpartition('.')[2]}.{name}"
        return key if key in self.methods or key in self.functions else None

    def has_method(self, owner: str, name: str) -> bool:
        return name in self.methods.get(owner, {})

    def checked(self, owner: str, method: str | None, result: Any, is_proxy: Any) -> str | None:
        """The class key of ``result`` by the contract, after checking that a plain answer holds no engine object.

        ``method`` is ``None`` when ``owner`` itself was called (a class makes an
        instance; a function returns its annotation).
        """
        if method is None:
            returns = owner if owner in self.methods else self.functions.get(owner, "")
            where = f"{owner.partition('.')[2]}()"
        else:
            returns = self.methods.get(owner, {}).get(method, "")
            where = f"{owner.partition('.')[2]}.{method}()"
        if not returns.startswith("plain"):
            return returns or None
        found = _engine_object_in(result, is_proxy, MAX_DEPTH)
        if found is not None:
            raise TypeError(
                f"{where} returned an object of the class {found} from the engine where the contract "
                "asks for a plain value (bytes, int, bool, None, or lists, tuples and dicts of them)"
            )
        scalars = returns.partition(":")[2]
        if scalars and not any(type(result) in SCALAR_TYPES[name] for name in scalars.split("|")):
            raise TypeError(f"{where} returned {type(result).__name__}, where the contract asks for {scalars}")
        return None


def _engine_object_in(value: Any, is_proxy: Any, depth: int) -> str | None:
    if is_proxy(value):
        return value._proxy_info[1]
    if depth <= 0:
        return None
    if isinstance(value, dict):
        items: Any = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        return None
    for item in items:
        found = _engine_object_in(item, is_proxy, depth - 1)
        if found is not None:
            return found
    return None


def course_contract(root: Path) -> Contract:
    """The contract of the course at ``root``: its reference modules, or its stubs for a day without them."""
    modules: dict[str, ast.Module] = {}
    for day in range(1, 8):
        reference, stubs = root / "solutions" / f"day{day}", root / "days" / f"day{day}"
        folder = reference if any(reference.glob("*.py")) else stubs
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("test_"):
                modules[path.stem] = ast.parse(path.read_text())
    classes = {
        node.name: f"{module}.{node.name}"
        for module, tree in modules.items()
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }
    contract = Contract()
    for module, tree in modules.items():
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                if any(_names_dataclass(decorator) for decorator in node.decorator_list):
                    contract.records[f"{module}.{node.name}"] = tuple(
                        item.target.id
                        for item in node.body
                        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                    )
                contract.methods[f"{module}.{node.name}"] = {
                    item.name: _returns(item.returns, classes)
                    for item in node.body
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and not item.name.startswith("_")
                    and not _is_property(item)
                }
            elif isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                contract.functions[f"{module}.{node.name}"] = _returns(node.returns, classes)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                if not name.startswith("_") and _constant_value(node.value) is not NOT_A_CONSTANT:
                    contract.constants[f"{module}.{name}"] = ast.unparse(node.value)
    return contract


def _constant_value(node: ast.expr) -> Any:
    """The value of a constant's source: a literal, ``+ - * <<`` on them, or ``struct.Struct(<format>)``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bytes)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _constant_value(node.left), _constant_value(node.right)
        if isinstance(left, int) and isinstance(right, int):
            return _ARITHMETIC[type(node.op)](left, right)
    if (
        isinstance(node, ast.Call)
        and ast.unparse(node.func) == "struct.Struct"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return struct.Struct(node.args[0].value)
    return NOT_A_CONSTANT


def _is_union_of_names(annotation: ast.expr) -> bool:
    """``bool``, ``None``, or ``bytes | None``: names and ``None`` joined by ``|``, nothing subscripted."""
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _is_union_of_names(annotation.left) and _is_union_of_names(annotation.right)
    return isinstance(annotation, ast.Name) or (isinstance(annotation, ast.Constant) and annotation.value is None)


def _names_dataclass(decorator: ast.expr) -> bool:
    """``@dataclass`` or ``@dataclass(frozen=True)``."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Name) and target.id == "dataclass"


def _is_property(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """An attribute read, not a method call (``@property``, or its setter)."""
    return any(
        (isinstance(d, ast.Name) and d.id in ("property", "cached_property"))
        or (isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter", "cached_property"))
        for d in function.decorator_list
    )


def _returns(annotation: ast.expr | None, classes: dict[str, str]) -> str:
    """``"plain"``, the key of the one course class it names (``Block`` or ``Block | None``), or ``""``."""
    if annotation is None:
        return ""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    names = [node.id for node in ast.walk(annotation) if isinstance(node, ast.Name)]
    names += ["None" for node in ast.walk(annotation) if isinstance(node, ast.Constant) and node.value is None]
    if names != ["None"] and all(name in SCALAR_TYPES for name in names) and _is_union_of_names(annotation):
        return "plain:" + "|".join(names)  # what "-> None" returns is not checked: no test reads it
    if names and all(name in PLAIN_NAMES for name in names):
        return "plain"
    named = [name for name in names if name != "None"]
    if len(named) == 1 and named[0] in classes and not isinstance(annotation, ast.Subscript):
        return classes[named[0]]
    return ""
