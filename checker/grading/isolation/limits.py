"""Limits a process puts on itself before it runs code it does not trust.

* ``restrict``: Linux's Landlock, which lets an unprivileged process give up file
  access for good: afterwards it may read only under ``read_paths`` and write only
  under ``write_paths``, and so may every process it starts.
* ``die_with_parent``: the kernel kills this process when the one that started it
  ends (``PR_SET_PDEATHSIG``), so that a killed grader leaves nothing running.
* ``limit_memory``: a cap on the address space.
* ``threads_only``: a seccomp filter under which the process may start threads but
  no process (a fork bomb is refused at its first fork) and open no network socket.

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
_SYSCALL_NUMBERS = {  # aarch64 has no fork nor vfork: a number no call has stands for them
    "x86_64": {"clone": 56, "clone3": 435, "fork": 57, "vfork": 58, "socket": 41, "io_uring_setup": 425},
    "aarch64": {
        "clone": 220,
        "clone3": 435,
        "fork": 0xFFFFFFFF,
        "vfork": 0xFFFFFFFF,
        "socket": 198,
        "io_uring_setup": 425,
    },
}
_METADATA_CALLS = {  # chmod, chown, utime, xattr and mknod calls, every variant each machine has
    "x86_64": (90, 91, 268, 452, 92, 93, 94, 260, 132, 235, 261, 280, 188, 189, 190, 197, 198, 199, 133, 259),
    "aarch64": (52, 53, 452, 55, 54, 88, 5, 6, 7, 14, 15, 16, 33),
}
"""Calls that change a file's mode, owner, times or attributes, or make a device: Landlock does not rule them,
and a root process owns every root-owned file, its rights dropped or not."""
_X32_SYSCALL_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_NUMBER, _FIRST_ARGUMENT = 0, 16  # offsets in seccomp_data (the first argument's low half, little-endian)


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _call_filter(arch: int, numbers: dict[str, int], metadata: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """The BPF program of ``threads_only``, its jumps written as labels and resolved here.

    ``clone`` of a thread passes, ``clone`` of a process, ``fork`` and ``vfork`` get
    EPERM; ``clone3`` gets ENOSYS, so that the C library falls back to ``clone`` (whose
    flags a filter can read); a new ``socket`` of any family gets EPERM (a Unix socket
    too: one bound to a path outside the engine's tree may be a daemon's), and so does
    ``io_uring_setup`` (io_uring can open sockets and processes' files without a system
    call of its own), and so do the ``metadata`` calls (``_METADATA_CALLS``).
    """
    steps: list[tuple] = [
        ("load", 4),  # arch
        ("jeq", arch, "next", "allow"),  # another architecture's calls: not this filter's business
        ("load", _NUMBER),
        ("jge", _X32_SYSCALL_BIT, "refuse", "next"),  # x32 calls
        ("jeq", numbers["clone3"], "absent", "next"),
        ("jeq", numbers["clone"], "next", "not clone"),
        ("load", _FIRST_ARGUMENT),  # clone's flags
        ("jset", _CLONE_THREAD, "allow", "refuse"),
        ("label", "not clone"),
        ("jeq", numbers["fork"], "refuse", "next"),
        ("jeq", numbers["vfork"], "refuse", "next"),
        ("jeq", numbers["io_uring_setup"], "refuse", "next"),
        ("jeq", numbers["socket"], "refuse", "next"),
        *(("jeq", number, "refuse", "next") for number in metadata),
        ("label", "allow"),
        ("return", _RET_ALLOW),
        ("label", "refuse"),
        ("return", _RET_ERRNO | errno.EPERM),
        ("label", "absent"),
        ("return", _RET_ERRNO | errno.ENOSYS),
    ]
    places: dict[str, int] = {}
    count = 0
    for step in steps:
        if step[0] == "label":
            places[step[1]] = count
        else:
            count += 1

    def offset(label: str, here: int) -> int:  # a jump counts from the instruction after it
        return 0 if label == "next" else places[label] - here - 1

    program: list[tuple[int, int, int, int]] = []
    for step in steps:
        kind, here = step[0], len(program)
        if kind == "load":
            program.append((_LD_W_ABS, 0, 0, step[1]))
        elif kind == "return":
            program.append((_RET, 0, 0, step[1]))
        elif kind != "label":
            code = {"jeq": _JEQ, "jge": _JGE, "jset": _JSET}[kind]
            program.append((code, offset(step[2], here), offset(step[3], here), step[1]))
    return program


def threads_only() -> str:
    """From now on this process and its threads may start threads, but no process and no socket.

    Nor may they change a file's mode, owner, times or extended attributes, or make a device node.

    A seccomp filter (Linux, x86-64 and arm64): ``os.fork``, ``subprocess`` and
    ``multiprocessing`` raise ``PermissionError``, and so does opening a socket of any
    family. Threads started before the call are not covered: call it
    before starting any. Returns what holds, for the report.
    """
    libc = _libc()
    machine = platform.machine()
    if libc is None or machine not in _SECCOMP_ARCH:
        return "not available here"
    program = _call_filter(_SECCOMP_ARCH[machine], _SYSCALL_NUMBERS[machine], _METADATA_CALLS[machine])
    filters = (_SockFilter * len(program))(*(_SockFilter(*instruction) for instruction in program))
    fprog = _SockFprog(len(program), filters)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
        return "not in force (no_new_privs was refused)"
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0):
        return f"not in force (seccomp refused the filter: {os.strerror(ctypes.get_errno())})"
    return "threads only, no network, no change of file modes or owners (seccomp)"
