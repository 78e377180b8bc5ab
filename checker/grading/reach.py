"""Code that reaches into the process that runs it is not graded.

The graded code runs in an engine process beside the server that answers the
tests (``checker.grading.isolation.worker``): whatever the tests learn of an
engine object (its fields, whether it is an instance of a class, which threads
run) that server tells them. Python cannot wall one module off from another in a
process, so code that walks frames, the garbage collector, ``sys.modules`` or a
function's globals could reach the server and change what it says. An LSM engine
never needs any of that, so a day whose modules name such a thing is refused
before its tests run, with the file, the line and what was found.

The audit hook of the engine process (``isolation.code_guard``) refuses what runs
(``ctypes``, ``marshal``, code objects); this module refuses what is written. It
reads the source with ``ast``, so the names it refuses cannot hide in a string
either: an attribute name given to ``getattr`` must be written out.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from checker.grading.submission import is_student_module

REFUSED_MODULES = frozenset(
    {
        # the process's insides: objects, frames, raw memory, the interpreter's own namespaces
        "gc",
        "ctypes",
        "inspect",
        "builtins",
        "posix",
        # modules, or code, found by a name computed at run time
        "importlib",
        "pkgutil",
        "runpy",
        "zipimport",
        "pydoc",
        "unittest",
        "logging.config",
        "code",
        "codeop",
        "doctest",
        "timeit",
        "cProfile",
        "profile",
        "pdb",
        "bdb",
        "trace",
        # objects rebuilt from data by calling what the data names
        "marshal",
        "pickle",
        "copyreg",
        "shelve",
        "multiprocessing",
        "checker",
    }
)
"""Modules (and their submodules) whose import reaches into the process or runs code given as data."""

REFUSED_NAMES = frozenset({"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "breakpoint"})
"""Builtins that run code given as data or hand out a scope: refused wherever they are named."""

ATTRIBUTE_FUNCTIONS = frozenset({"getattr", "setattr", "delattr", "hasattr", "attrgetter", "methodcaller"})
"""Functions that read an attribute by name: the name must be written out, and not be a refused one."""

REFUSED_ATTRIBUTES = frozenset(
    {
        "modules",
        "__globals__",
        "__closure__",
        "__code__",
        "__builtins__",
        "__dict__",
        "__getattribute__",
        "__subclasses__",
        "__traceback__",
        "__self__",
        "tb_frame",
        "tb_next",
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "gi_frame",
        "cr_frame",
        "ag_frame",
        "_getframe",
        "_current_frames",
        "walk_stack",
        "walk_tb",
        "get_type_hints",
        "ForwardRef",
        # what an object is rebuilt from, or a wrapper wraps, hands out the objects inside it
        "__reduce__",
        "__reduce_ex__",
        "__getstate__",
        "__getnewargs__",
        "__getnewargs_ex__",
        "__wrapped__",
        "cell_contents",
        # the process's threads, and what each runs: the wire's own threads serve the tests
        "enumerate",
        "_active",
        "_limbo",
        "_target",
        "_args",
        "_kwargs",
    }
)
"""Attributes that lead from an object to the frames, scopes, threads and modules of the process, or run strings."""


def reaching_code(day_dir: Path) -> list[str]:
    """Where the student modules of ``day_dir`` reach into the process that runs them: ``file:line: what``."""
    found = []
    for path in sorted(day_dir.glob("*.py")):
        if not is_student_module(path):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=path.name)
        except SyntaxError:
            continue  # the tests report a module that does not compile
        found += [f"{path.name}:{line}: {what}" for line, what in _reaches(tree)]
    return found


def _reaches(tree: ast.AST) -> list[tuple[int, str]]:
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if _refused_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if _refused_module(node.module or ""):
                found.append((node.lineno, f"from {node.module} import ..."))
            found += [
                (node.lineno, f"from {node.module} import {a.name}")
                for a in node.names
                if a.name in REFUSED_NAMES | REFUSED_ATTRIBUTES
                or _refused_module(f"{node.module}.{a.name}")
                or (a.name in ATTRIBUTE_FUNCTIONS and a.asname not in (None, a.name))  # renamed, it hides
            ]
        elif isinstance(node, ast.Attribute) and node.attr in REFUSED_ATTRIBUTES:
            found.append((node.lineno, f".{node.attr}"))
        elif isinstance(node, ast.Attribute) and node.attr in ATTRIBUTE_FUNCTIONS and id(node) not in called:
            found.append((node.lineno, f".{node.attr}, passed on instead of called"))
        elif isinstance(node, ast.Name) and node.id in REFUSED_NAMES:
            found.append((node.lineno, f"{node.id}"))
        elif isinstance(node, ast.Name) and node.id in ATTRIBUTE_FUNCTIONS and id(node) not in called:
            found.append((node.lineno, f"{node.id}, passed on instead of called"))
        elif isinstance(node, ast.Call):
            found += _attribute_by_name(node)
    return sorted(set(found))


def _refused_module(name: str) -> bool:
    """A refused module, or a private one that is not Python's own (the engine process's server is one)."""
    top = name.partition(".")[0]
    refused = any(name == module or name.startswith(module + ".") for module in REFUSED_MODULES)
    return refused or (top.startswith("_") and top not in sys.stdlib_module_names)


def _attribute_by_name(call: ast.Call) -> list[tuple[int, str]]:
    """``getattr(obj, name)`` and its kin: the name must be a string written out, and not a refused attribute."""
    function = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
    if function not in ATTRIBUTE_FUNCTIONS:
        return []
    position = 0 if function in ("attrgetter", "methodcaller") else 1
    if len(call.args) <= position:
        return []
    name = call.args[position]
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        return [(call.lineno, f"{function}() with an attribute name that is not written out")]
    if set(name.value.split(".")) & REFUSED_ATTRIBUTES:
        return [(call.lineno, f"{function}(..., {name.value!r})")]
    return []
