"""The exceptions the engine raises on purpose.

Wrong argument types raise the built-in ``TypeError`` and sizes over a limit raise
``ValueError``; everything that is about the engine's own state or files is an
``LsmError``.
"""

from __future__ import annotations


class LsmError(Exception):
    """A misuse of the engine (e.g. a call after ``close``) or a failed operation."""


class CorruptionError(LsmError):
    """Bytes read back are not what the engine wrote: damaged, truncated or foreign.

    The message names the file (and the offset or block, where known) so that the
    damage can be found with ``python -m checker inspect FILE`` (where the course
    ships the inspector).
    """
