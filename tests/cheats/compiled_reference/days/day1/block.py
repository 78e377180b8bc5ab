"""Cheat: carry the graded day's reference, compiled as a student release ships it, and load it from bytes.

The test puts the compiled module (a ``.pyc`` file, header and all) in place of
the marker below. Every way of turning it into running code is tried in turn;
the first that works replaces the stubs above with the reference.
"""

import base64 as _base64
import importlib.machinery as _machinery
import importlib.util as _util
import marshal as _marshal
import os as _os
import sys as _sys
import tempfile as _tempfile

_COMPILED = _base64.b64decode("@COMPILED_REFERENCE@")


def _by_marshal():
    return _marshal.loads(_COMPILED[16:])


def _by_the_import_system_with_a_false_path():
    from importlib import _bootstrap_external

    trusted = _util.cache_from_source(_os.__file__)  # a compiled module the engine may load
    return _bootstrap_external._compile_bytecode(memoryview(_COMPILED)[16:], "block", trusted)


def _by_a_file_written_first():
    path = _os.path.join(_tempfile.gettempdir(), "block_reference.pyc")
    with open(path, "wb") as file:
        file.write(_COMPILED)
    return _machinery.SourcelessFileLoader("block_reference", path).get_code("block_reference")


def _by_ctypes():
    import ctypes

    unmarshal = ctypes.pythonapi.PyMarshal_ReadObjectFromString
    unmarshal.restype, unmarshal.argtypes = ctypes.py_object, (ctypes.c_char_p, ctypes.c_ssize_t)
    return unmarshal(_COMPILED[16:], len(_COMPILED) - 16)


for _route in (
    _by_marshal,
    _by_the_import_system_with_a_false_path,
    _by_a_file_written_first,
    _by_ctypes,
):
    try:
        exec(_route(), globals())
    except BaseException as _error:  # a refused route: try the next
        print(f"route refused: {_route.__name__}: {_error!r}"[:300], file=_sys.stderr)
    else:
        break
