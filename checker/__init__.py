"""The TinyLSM checker: grades each day, runs the mutant catalogue, keeps stubs in sync, and the student tools.

``python -m checker`` dispatches (``cli``) to a package per job: ``grading``,
``instructor``, ``tools``, ``benchmarks``; ``figures`` is the notebooks' code and
``common`` what they all share. CONTRIBUTING.md maps what each may import.
"""

__version__ = "0.1.0"
