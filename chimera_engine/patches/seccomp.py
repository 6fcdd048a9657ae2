"""A small seccomp filter for sandbox phases, handed to bubblewrap (``--seccomp FD``).

Namespaces and rlimits leave one way to hold memory outside any process's
address space: System V shared memory and message queues (a segment lives on
after it is detached, for as long as the IPC namespace does) and ``memfd``
files. The filter makes ``shmget``, ``msgget`` and ``memfd_create`` fail with
``EPERM``; everything else is allowed. It is a classic BPF program built by
hand, for x86-64 only (elsewhere there is no filter and no ``seccomp`` layer).
"""

from __future__ import annotations

import errno
import platform
import struct

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
#: x86-64 numbers: shmget, msgget, memfd_create
DENIED = {"shmget": 29, "msgget": 68, "memfd_create": 319}

_LD_W_ABS, _JEQ_K, _AND_K, _RET_K = 0x20, 0x15, 0x54, 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000


def supported() -> bool:
    return platform.machine() in ("x86_64", "AMD64")


def program() -> bytes:
    """The filter as ``struct sock_filter[]`` bytes (what ``bwrap --seccomp`` reads)."""
    numbers = list(DENIED.values())
    allow_at = 4 + len(numbers)  # then "deny" right after it
    code = [
        (_LD_W_ABS, 0, 0, 4),  # arch
        (_JEQ_K, 0, allow_at - 2, _AUDIT_ARCH_X86_64),  # another arch: allow
        (_LD_W_ABS, 0, 0, 0),  # syscall number
        (_AND_K, 0, 0, ~_X32_BIT & 0xFFFFFFFF),  # x32 calls are the same calls
    ]
    for i, number in enumerate(numbers):
        here = 4 + i
        code.append((_JEQ_K, allow_at - here, 0, number))
    code.append((_RET_K, 0, 0, _ALLOW))
    code.append((_RET_K, 0, 0, _ERRNO | errno.EPERM))
    return b"".join(struct.pack("=HBBI", *insn) for insn in code)
