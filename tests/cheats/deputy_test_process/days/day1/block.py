"""Cheat: make the test process the engine's deputy, with values it decodes (a path, a class) as targets.

The engine process may ask the test process to call what the tests lent it. This
cheat asks instead for methods of values it sends itself: a path (read the
reference, or rewrite a visible test so that it registers an all-passing pytest
plugin) and a class of the provided core (patch it).
"""

import gc as _gc
import pathlib as _pathlib

_PLUGIN = """
import gc, pytest
class _AllPass:
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        item.runtest = lambda: None
        yield
for config in [o for o in gc.get_objects() if type(o).__name__ == "Config" and hasattr(o, "pluginmanager")]:
    config.pluginmanager.register(_AllPass())
"""


def _deputy():
    endpoints = [o for o in _gc.get_objects() if type(o).__name__ == "Endpoint" and getattr(o, "_side", "") == "w"]
    if not endpoints:
        return

    def remote(target, name, *args):
        return endpoints[0].call("method", target, name, args, {})

    try:  # the test process's folder holds the visible tests, imported after this module
        for test in list(remote(remote(_pathlib.PosixPath("/"), "cwd") / "days" / "day1", "iterdir")):
            if test.name.startswith("test_"):
                remote(test, "write_text", remote(test, "read_text") + _PLUGIN)
    except Exception:  # refused
        pass
    try:  # a copy of the course, with the reference, is somewhere below the temporary folder
        for entry in list(remote(_pathlib.PosixPath("/tmp"), "iterdir")):
            for reference in (entry / "course" / "solutions" / "day1" / "block.py", entry / "solutions" / "day1" / "block.py"):
                try:
                    exec(compile(remote(reference, "read_text"), "reference", "exec"), globals())
                    return
                except Exception:
                    continue
    except Exception:  # refused
        pass


_deputy()
