"""The engine process runs the student's code from its source, and no code smuggled in as data.

A student release ships the reference compiled to bytecode (so that a student's
day runs beside the reference of the others), and bytecode is only bytes: a
submission could carry the graded day's compiled reference in a string and load
it with ``marshal``. Once ``guard_code`` has run, an audit hook (PEP 578: no
Python code can remove one) refuses, with ``PermissionError``:

* unmarshalling, but by the import system loading a compiled module that is a
  file of a folder the engine process may not write (Python's own, or its tree
  but the graded days), whose bytes are exactly the data loaded;
* making or changing a code object (``types.CodeType``, ``code.replace``), but
  by the standard library itself (``types.coroutine``, which ``import asyncio``
  runs, changes only the flags of a function's own code), and changing the hook;
* what could switch the hook off or reach around it: ``ctypes``, trace and
  profile functions (which may rewrite the hook's variables), and the modules
  that read and write raw memory (cffi, numpy, the interpreter's test modules).

Only the standard library is used, since this module is copied into the engine
process's own tree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

REFUSED_MODULES = ("_cffi_backend", "numpy", "_test", "_xxtest")
"""Modules (or prefixes of their names) the graded code may not import: each can read and write raw memory."""

REFUSED_EVENTS = ("marshal.load", "sys.settrace", "sys.setprofile")
"""Audit events refused whoever raises them (``marshal.loads`` and ``code.__new__`` are looked at more closely)."""

_IMPORT_SYSTEM = "<frozen importlib._bootstrap_external>"


def guard_code(read_only_roots: Sequence[str], writable_roots: Sequence[str]) -> str:
    """From now on this process unmarshals only compiled modules read from ``read_only_roots``.

    ``writable_roots`` (the graded days' folders, the scratch folder) are left out
    of ``read_only_roots`` even where they lie below one. Returns what holds, for
    the report.
    """
    trusted = tuple(os.path.join(os.path.realpath(root), "") for root in read_only_roots)
    untrusted = tuple(os.path.join(os.path.realpath(root), "") for root in writable_roots)

    # Everything the hook uses is bound as a default now: the graded code could later
    # replace a global of this module, or a builtin, but not a default of a function
    # whose attributes the hook refuses to change.
    def hook(
        event: str,
        args: tuple,
        _frame=sys._getframe,
        _realpath=os.path.realpath,
        _isabs=os.path.isabs,
        _type=type,
        _bytes=bytes,
        _memoryview=memoryview,
        _str=str,
        _open=open,
        _refused_events=REFUSED_EVENTS,
        _refused_modules=REFUSED_MODULES,
        _trusted=trusted,
        _untrusted=untrusted,
        _import_system=_IMPORT_SYSTEM,
    ) -> None:
        if event == "marshal.loads":
            data = args[0]
            if _type(data) is _memoryview and _type(data.obj) is _bytes:
                data = _bytes(data)
            caller = _frame(1)
            path = caller.f_locals.get("bytecode_path")
            if _type(data) is not _bytes or caller.f_code.co_filename != _import_system or _type(path) is not _str:
                raise PermissionError("the code graded may not unmarshal data: it runs from its source only")
            real = _realpath(path)
            if not real.startswith(_trusted) or real.startswith(_untrusted):
                raise PermissionError(f"the code graded may not load compiled code from {path}")
            with _open(real, "rb") as file:
                if file.read()[16:] != data:
                    raise PermissionError(f"the code loaded is not the compiled module {path}")
        elif event == "code.__new__":
            made_by = _frame(1).f_code.co_filename
            real = _realpath(made_by) if _isabs(made_by) else ""
            if not real.startswith(_trusted) or real.startswith(_untrusted):
                raise PermissionError("the code graded may not use code.__new__ (see the course's grading page)")
        elif event in _refused_events or event.startswith("ctypes."):
            raise PermissionError(f"the code graded may not use {event} (see the course's grading page)")
        elif event == "import":
            name = _str(args[0]).rpartition(".")[2] if args[0] else ""
            root = _str(args[0]).partition(".")[0] if args[0] else ""
            if root in _refused_modules or name.startswith(_refused_modules):
                raise PermissionError(f"the code graded may not import {args[0]}: it can read and write raw memory")
        elif event == "object.__setattr__" and args[0] is hook:
            raise PermissionError("the code graded may not change the engine process's guard")

    sys.addaudithook(hook)
    return "own code only: no bytecode loaded as data, no ctypes, no tracing (audit hook)"
