"""Run a Python module under resource limits: ``python -m checker.grading.sandbox MEM_MB MODULE ARGS...``.

The checker starts every graded run through this launcher, so that a submission
that allocates without bound gets a ``MemoryError`` instead of taking the machine
down. Limits are set in the child itself (not with ``preexec_fn``, which is unsafe
when the checker runs several gradings from threads).
"""

from __future__ import annotations

import contextlib
import resource
import runpy
import sys


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space (where the platform supports it)."""
    limit = megabytes * 1024 * 1024
    # macOS does not enforce RLIMIT_AS; there the per-day time limit still applies.
    with contextlib.suppress(ValueError, OSError, AttributeError):
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main() -> None:
    megabytes, module, *arguments = sys.argv[1:]
    limit_memory(int(megabytes))
    sys.argv = [module, *arguments]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
