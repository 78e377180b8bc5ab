"""Cheat: implement nothing, refuse everything. Every test that only checks that bad input is refused (a key out
of order, a damaged block) passes on code that refuses good input as well."""


def _refuse_as_bad_input(*args, **kwargs):
    raise ValueError("refused")


def _refuse_as_damaged(*args, **kwargs):
    raise CorruptionError("refused")


BlockBuilder.__init__ = lambda self, options: None
BlockBuilder.add = BlockBuilder.build = _refuse_as_bad_input
Block.decode = classmethod(_refuse_as_damaged)
