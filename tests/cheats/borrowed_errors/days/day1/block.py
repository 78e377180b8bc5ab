"""Cheat: refuse everything, with exceptions borrowed from the test process.

An exception that a test's own code raised, and that the engine passes on, comes
back to the test as that very exception. The engine can make the test process
raise one whenever it likes (a request malformed on purpose, or one the test
process refuses) and raise it again as its own refusal, hoping it is not counted
as one.
"""

import gc as _gc


def _endpoint():
    for _obj in _gc.get_objects():
        if type(_obj).__name__ == "Endpoint" and getattr(_obj, "_side", "") == "w":
            return _obj
    return None


def _borrowed(kind):
    endpoint = _endpoint()
    try:
        if kind is ValueError:
            endpoint.call("call", 1)  # too few fields to unpack: a ValueError over there
        else:
            endpoint.call("call", None, (), {})  # nothing the tests lent: a PermissionError over there
    except BaseException as error:
        return error
    return kind("refused")


def _refuse_as_bad_input(*args, **kwargs):
    raise _borrowed(ValueError)


def _refuse_as_damaged(*args, **kwargs):
    raise _borrowed(CorruptionError)


BlockBuilder.__init__ = lambda self, options: None
BlockBuilder.add = BlockBuilder.build = _refuse_as_bad_input
Block.decode = classmethod(_refuse_as_damaged)
