"""Decoding what the engine process sends: the classes a message may name, and objects of the tests it names.

``SafeUnpickler`` builds only the classes in ``ALLOWED_CLASSES`` (value types of the
provided core, exceptions) and references: whatever the engine process sends, no
function of the test process runs because of it, and no object the tests lent it
can be changed by a crafted message.
"""

from __future__ import annotations

import builtins
import importlib
import io
import pathlib
import pickle
from typing import TYPE_CHECKING, Any

from checker.grading.isolation.protocol import DUNDER_OPS
from checker.grading.isolation.protocol import operation as protocol_operation

if TYPE_CHECKING:
    from checker.grading.isolation.client import Client

PROVIDED_VALUE_MODULES = ("tinylsm.options", "tinylsm.errors", "tinylsm.state", "tinylsm.lookup")


def _allowed_classes() -> dict[tuple[str, str], type]:
    allowed: dict[tuple[str, str], type] = {}
    for name in dir(builtins):
        value = getattr(builtins, name)
        if isinstance(value, type) and issubclass(value, Exception):
            allowed[("builtins", name)] = value
    for kind in (complex, bytearray, set, frozenset, slice, range):
        allowed[("builtins", kind.__name__)] = kind
    for kind in (pathlib.PosixPath, pathlib.PurePosixPath):
        allowed[("pathlib", kind.__name__)] = kind
    for module_name in PROVIDED_VALUE_MODULES:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if isinstance(value, type) and value.__module__ == module_name:
                allowed[(module_name, name)] = value
    from tinylsm.testkit import ListIterator

    allowed[("tinylsm.testkit", "ListIterator")] = ListIterator
    return allowed


ALLOWED_CLASSES = _allowed_classes()
"""The only classes a message from the engine process may name: value types of the provided core and exceptions."""

ALLOWED_TYPES = frozenset(ALLOWED_CLASSES.values())

NOT_REBUILT = (BaseException, KeyboardInterrupt, SystemExit, GeneratorExit)
"""Exceptions that would stop the test process itself: they come back as ``RemoteFailure``."""


def public_name(name: str) -> str:
    """``name`` if the engine process may use it: a string not starting with an underscore."""
    if not isinstance(name, str) or name.startswith("_"):
        raise AttributeError(f"{name!r} is not shared with the engine process")
    return name


def public_method(target: Any, name: str) -> Any:
    """``target``'s public method ``name`` (or the operator it names), as the engine process may call it."""
    if name in DUNDER_OPS and name not in ("__repr__", "__str__"):
        operation = protocol_operation(name)
        return lambda *args, **kwargs: operation(target, *args, **kwargs)
    attribute = getattr(type(target), public_name(name), None)
    if not callable(attribute) or isinstance(attribute, type):
        raise AttributeError(f"{name} is not a method the engine process may call")
    return getattr(target, name)


class _Lent:
    """A test's object named in a message, put in its place only once the message is decoded.

    Pickle's own steps act on what is on its stack: BUILD sets attributes, REDUCE calls,
    APPENDS and SETITEMS fill a container. Were the real object there, a crafted message
    could write a test's recorder (``problems = []``) or call it. This stand-in refuses
    every one of them, and ``_put_back`` swaps the real object in afterwards, inside the
    plain containers only.
    """

    __slots__ = ("target",)

    def __init__(self, target: Any) -> None:
        object.__setattr__(self, "target", target)

    def __setattr__(self, name: str, value: Any) -> None:
        raise pickle.UnpicklingError("a message may not change an object of the tests")

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError("a message may not change an object of the tests")


def _put_back(value: Any, seen: dict[int, Any]) -> Any:
    """``value`` with each ``_Lent`` inside lists, tuples, dicts and sets replaced by its object."""
    kind = type(value)
    if kind is _Lent:
        return value.target
    if kind not in (list, tuple, dict, set, frozenset):
        return value
    if id(value) in seen:
        return seen[id(value)]
    if kind is dict:
        result: Any = {}
        seen[id(value)] = result
        result.update((_put_back(k, seen), _put_back(v, seen)) for k, v in value.items())
        return result
    if kind is list:
        result = []
        seen[id(value)] = result
        result.extend(_put_back(item, seen) for item in value)
        return result
    return kind(_put_back(item, seen) for item in value)


class SafeUnpickler(pickle.Unpickler):
    """Decodes what the engine process sends: allowed classes and references, nothing else."""

    def __init__(self, data: bytes, client: Client) -> None:
        super().__init__(io.BytesIO(data))
        self._client = client
        self._lent_named = False

    def load(self) -> Any:
        message = super().load()
        return _put_back(message, {}) if self._lent_named else message

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_CLASSES[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} may not cross from the engine process") from None

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise pickle.UnpicklingError("a malformed reference")
        if pid[0] == "T" and len(pid) == 2:
            self._lent_named = True
            return _Lent(self._client.exports.get(pid[1]))
        if pid[0] == "N" and len(pid) == 3 and type(pid[2]) is str:
            self._lent_named = True
            return _Lent(public_method(self._client.exports.get(pid[1]), pid[2]))
        if pid[0] == "W" and len(pid) == 3 and type(pid[1]) is int and _is_info(pid[2]):
            return self._client.proxy(pid[1], pid[2])
        raise pickle.UnpicklingError("a malformed reference")


def _is_info(info: Any) -> bool:
    return (
        type(info) is tuple
        and len(info) == 4
        and type(info[0]) is str
        and type(info[1]) is str
        and type(info[2]) is tuple
        and all(type(n) is str for n in info[2])
        and type(info[3]) is bool
    )
