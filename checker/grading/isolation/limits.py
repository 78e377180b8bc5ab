"""Limits a process puts on itself before it runs code it does not trust.

* ``restrict``: Linux's Landlock, which lets an unprivileged process give up file
  access for good: afterwards it may read only under ``read_paths`` and write only
  under ``write_paths``, and so may every process it starts.
* ``die_with_parent``: the kernel kills this process when the one that started it
  ends (``PR_SET_PDEATHSIG``), so that a killed grader leaves nothing running.
* ``limit_memory``: a cap on the address space.
* ``forbid_new_processes``: a seccomp filter under which the process may start
  threads but no process (a fork bomb or a process left behind is refused at once).

Only the standard library (``ctypes``) is used, since the engine process imports
this module from its own tree. Each function does nothing on a system without the
feature, and says so in what it returns.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import resource
import signal

_SYSCALLS = {  # landlock_create_ruleset, landlock_add_rule, landlock_restrict_self
    "x86_64": (444, 445, 446),
    "aarch64": (444, 445, 446),
}
_CREATE_RULESET_VERSION = 1
PRETEND_NO_LANDLOCK = "TINYLSM_PRETEND_NO_LANDLOCK"
"""Set (to anything) in the checker's environment, grading behaves as on a kernel without Landlock.

For the course's own tests of that case: nothing a submission runs can set it."""
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1

# Filesystem access rights of Landlock ABI 1 to 3 (later ABIs add rights for ioctl, which files do not need).
_EXECUTE = 1 << 0
_WRITE_FILE = 1 << 1
_READ_FILE = 1 << 2
_READ_DIR = 1 << 3
_REMOVE_DIR = 1 << 4
_REMOVE_FILE = 1 << 5
_MAKE_CHAR = 1 << 6
_MAKE_DIR = 1 << 7
_MAKE_REG = 1 << 8
_MAKE_SOCK = 1 << 9
_MAKE_FIFO = 1 << 10
_MAKE_BLOCK = 1 << 11
_MAKE_SYM = 1 << 12
_REFER = 1 << 13
_TRUNCATE = 1 << 14

_READ = _EXECUTE | _READ_FILE | _READ_DIR
_WRITE = (
    _WRITE_FILE
    | _REMOVE_DIR
    | _REMOVE_FILE
    | _MAKE_CHAR
    | _MAKE_DIR
    | _MAKE_REG
    | _MAKE_SOCK
    | _MAKE_FIFO
    | _MAKE_BLOCK
    | _MAKE_SYM
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _ScopedRulesetAttr(ctypes.Structure):
    """ABI 6 and later: file rights, network rights (none handled here), and scopes."""

    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def abi_version() -> int:
    """The Landlock ABI this kernel offers; 0 when it has none (or this is not Linux)."""
    if os.environ.get(PRETEND_NO_LANDLOCK):
        return 0
    libc = _libc()
    numbers = _SYSCALLS.get(platform.machine())
    if libc is None or numbers is None:
        return 0
    version = libc.syscall(numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(version, 0)


def restrict(read_paths: list[str], write_paths: list[str], *, scoped: bool = True) -> str:
    """Allow reads only below ``read_paths`` and writes only below ``write_paths``, for good.

    ``scoped`` (Landlock ABI 6 and later) also forbids signals to, and abstract sockets of,
    processes outside the sandbox: right for the engine process, wrong for the test
    process, which must still be able to kill the engine processes it started before.

    Returns what is in force, for the report: ``"landlock ABI N"`` or why not.
    """
    version = abi_version()
    if version == 0:
        return "not available (no Landlock in this kernel)"
    libc = _libc()
    create, add_rule, restrict_self = _SYSCALLS[platform.machine()]
    handled = _READ | _WRITE | (_REFER if version >= 2 else 0) | (_TRUNCATE if version >= 3 else 0)
    write_rights = _WRITE | (_REFER if version >= 2 else 0) | (_TRUNCATE if version >= 3 else 0)
    # from ABI 6 on, also no signal to, and no abstract socket of, any process outside the sandbox
    attr = (
        _ScopedRulesetAttr(handled, 0, _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL)
        if version >= 6 and scoped
        else _RulesetAttr(handled)
    )
    ruleset = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"not in force (creating the ruleset failed: {os.strerror(ctypes.get_errno())})"
    try:
        for paths, rights in ((read_paths, _READ), (write_paths, _READ | write_rights)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # a path this system does not have
                try:
                    # a rule on a file (not a folder) may only carry file rights
                    allowed = (
                        rights if os.path.isdir(path) else rights & (_EXECUTE | _READ_FILE | _WRITE_FILE | _TRUNCATE)
                    )
                    rule = _PathBeneathAttr(allowed, fd)
                    if libc.syscall(add_rule, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)):
                        return f"not in force (a rule for {path} was refused: {os.strerror(ctypes.get_errno())})"
                finally:
                    os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
            return "not in force (no_new_privs was refused)"
        if libc.syscall(restrict_self, ruleset, ctypes.c_uint32(0)):
            return f"not in force (restrict_self failed: {os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    return f"landlock ABI {version}" + (" (signals and abstract sockets scoped too)" if version >= 6 and scoped else "")


def die_with_parent() -> bool:
    """Have the kernel kill this process when its parent ends (Linux); whether it is in force."""
    libc = _libc()
    if libc is None:
        return False
    parent = os.getppid()
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0):
        return False
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(1)
    return True


def become_subreaper() -> bool:
    """Adopt every orphaned descendant (Linux), so that none can slip out of ``kill_descendants``."""
    libc = _libc()
    return libc is not None and libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space (where the platform supports it)."""
    limit = megabytes * 1024 * 1024
    # macOS does not enforce RLIMIT_AS; there the time limits still apply.
    with contextlib.suppress(ValueError, OSError, AttributeError):
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


# seccomp: struct seccomp_data is nr (u32), arch (u32), instruction_pointer (u64), args (6 x u64)
_SECCOMP_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}  # AUDIT_ARCH_*
_PROCESS_SYSCALLS = {  # clone, clone3, fork, vfork (aarch64 has no fork nor vfork: numbers no call has)
    "x86_64": (56, 435, 57, 58),
    "aarch64": (220, 435, 0xFFFFFFFF, 0xFFFFFFFF),
}
_X32_SYSCALL_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _process_filter(arch: int, clone: int, clone3: int, fork: int, vfork: int) -> list[tuple[int, int, int, int]]:
    """The BPF program: ``clone`` of a thread passes; ``clone`` of a process, ``fork`` and ``vfork`` get EPERM;
    ``clone3`` gets ENOSYS, so that the C library falls back to ``clone`` (whose flags a filter can read)."""
    allow, refuse, absent = 10, 11, 12  # the program's last three instructions
    program = [
        (_LD_W_ABS, 0, 0, 4),  # 0: arch
        (_JEQ, 0, allow - 2, arch),  # 1: another architecture's calls: not this filter's business
        (_LD_W_ABS, 0, 0, 0),  # 2: the call's number
        (_JGE, refuse - 4, 0, _X32_SYSCALL_BIT),  # 3: x32 calls
        (_JEQ, absent - 5, 0, clone3),  # 4
        (_JEQ, 0, 2, clone),  # 5: clone: read its flags (6, 7); any other call: go on (8)
        (_LD_W_ABS, 0, 0, 16),  # 6: the low half of the first argument: clone's flags
        (_JSET, allow - 8, refuse - 8, _CLONE_THREAD),  # 7: a thread passes, a process does not
        (_JEQ, refuse - 9, 0, fork),  # 8
        (_JEQ, refuse - 10, allow - 10, vfork),  # 9
        (_RET, 0, 0, _RET_ALLOW),  # 10
        (_RET, 0, 0, _RET_ERRNO | errno.EPERM),  # 11
        (_RET, 0, 0, _RET_ERRNO | errno.ENOSYS),  # 12
    ]
    return program


def forbid_new_processes() -> str:
    """From now on, this process and its threads may start threads but no process (Linux, seccomp); what holds.

    ``fork``, ``vfork`` and a ``clone`` without ``CLONE_THREAD`` fail with ``EPERM``,
    so ``os.fork``, ``subprocess`` and ``multiprocessing`` raise ``PermissionError``.
    Threads created before the call are not covered: call it before starting any.
    """
    libc = _libc()
    machine = platform.machine()
    if libc is None or machine not in _SECCOMP_ARCH:
        return "not available here"
    program = _process_filter(_SECCOMP_ARCH[machine], *_PROCESS_SYSCALLS[machine])
    filters = (_SockFilter * len(program))(*(_SockFilter(*instruction) for instruction in program))
    fprog = _SockFprog(len(program), filters)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
        return "not in force (no_new_privs was refused)"
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0):
        return f"not in force (seccomp refused the filter: {os.strerror(ctypes.get_errno())})"
    return "threads only (seccomp)"
