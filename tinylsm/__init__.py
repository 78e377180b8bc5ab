"""TinyLSM: an LSM-tree key-value storage engine, built day by day.

``tinylsm`` is one package whose modules come from several folders: the provided
core lives here, and each day's modules (``block``, ``sstable``, ``memtable``, ...)
come from ``days/dayN`` (your work) or ``solutions/dayN`` (the reference), as
``TINYLSM_IMPL`` chooses; see ``tinylsm._composition``. Nothing of a day is imported
here, so a broken module of one day cannot break another day's tests.
"""

from tinylsm._composition import from_environment

COMPOSITION = from_environment()
__path__ = [*__path__, *COMPOSITION.module_dirs()]
