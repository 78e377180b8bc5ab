"""Cheat: a module named like one of the provided core's, so that the tests' own value types (``tinylsm.state``:
the expected tree shapes and tasks) would be built in the engine process, where the submission decides what
equals what."""

EQUAL_TO_EVERYTHING = True
