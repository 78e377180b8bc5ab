"""What keeps a graded run's processes in their box: another user, a PID namespace, and a final sweep.

* When the checker runs as root (the Gradescope container, a grading server), the
  engine process runs without capabilities and in a PID namespace of its own,
  whose every process the kernel kills when the engine process ends.
* Whatever the user, the checker adopts every orphan below it (a child subreaper)
  and, before it writes a report, kills every process it still has below it: a
  double fork and ``setsid`` leave the session, not the family.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from checker.grading.isolation import limits
from checker.grading.isolation.client import WorkerSettings


def pid_namespace_works() -> bool:
    """Whether ``unshare --pid`` can be used here (root on Linux, with util-linux)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(
            ["unshare", "--pid", "--fork", "--kill-child", "true"], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def protect(settings: WorkerSettings) -> None:
    """Choose the protections this machine allows for the engine process, and note them in ``settings``."""
    notes = ["process boundary: the tests and the grade run in a process apart from the student's code"]
    if os.geteuid() == 0:
        # Root, but without any capability: files are guarded by Landlock, processes by the
        # namespace. (A separate user would also need every file the tests hand the engine,
        # made by pytest as private folders, to change hands: not worth its fragility.)
        settings.drop_capabilities = bool(settings.setpriv)
        notes.append(
            "no capabilities (root's powers dropped)"
            if settings.drop_capabilities
            else "ROOT'S POWERS KEPT (no setpriv here to drop them)"
        )
        settings.pid_namespace = bool(settings.unshare) and pid_namespace_works()
        if settings.pid_namespace:
            notes.append("PID namespace (everything it starts dies with it)")
    else:
        notes.append("same user as the checker (run the checker as root for a separate user and a PID namespace)")
    version = limits.abi_version()
    if version:
        notes.append(f"Landlock ABI {version}: reads only the engine's tree and Python, writes only its scratch folder")
        notes.append("the test process reads no file of the course once its tests are loaded (Landlock)")
    else:
        # the engine process is then limited by file permissions alone: it can read the
        # reference and the tests, and write into the course (see ``missing_file_guard``)
        settings.read_paths, settings.write_paths = [], []
        notes.append(f"NO FILE GUARD: {missing_file_guard()}")
    if settings.threads_only:
        notes.append("threads only: the engine process may start no process and open no network socket (seccomp)")
    if settings.code_roots:
        notes.append(
            "own code only: the engine process loads no bytecode given as data and uses no ctypes (audit hook)"
        )
    notes.append(f"memory limit {settings.memory_limit_mb} MiB; import time limit {settings.import_time_limit:g} s")
    settings.protections = notes


def missing_file_guard() -> str | None:
    """Why the files of a graded run are not guarded from the code it grades, or ``None`` when they are."""
    if limits.abi_version():
        return None
    return (
        "this machine has no Landlock (Linux 5.13 or later, with landlock among its security modules), "
        "so the code graded can read every file its user can, the reference and the hidden tests among them, "
        "and write into the course and the tests of the days graded after it"
    )


def refusal_without_file_guard() -> str | None:
    """Why a submission may not be graded on this machine (no file guard), with the way out; ``None`` if it may."""
    unguarded = missing_file_guard()
    if unguarded is None:
        return None
    # a grade the submission could have written itself is worse than no grade
    return (
        f"grading refused: {unguarded}, so no grade could be trusted. Grade on a machine with Landlock, "
        "or pass --without-landlock to grade submissions you trust anyway."
    )


def adopt_orphans() -> bool:
    """Make this process the one that inherits orphaned descendants (Linux)."""
    return limits.become_subreaper()


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (Linux; empty elsewhere)."""
    if not os.path.isdir("/proc"):
        return []
    children = _children_map()
    found, stack = [], list(children.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children.get(child, []))
    return found


def kill_descendants(rounds: int = 20) -> int:
    """Kill every process below this one, again until none is left; how many were found."""
    killed = 0
    for _ in range(rounds):
        found = descendants(os.getpid())
        if not found:
            break
        killed += len(found)
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)  # stopped first, so that none forks while its siblings die
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                reaped, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if reaped == 0:
                time.sleep(0.01)
    return killed
