"""Landlock (Linux >= 5.13): restrict a process and all its children to some paths.

Applied in the sandbox child just before it executes Python: afterwards no
process in that tree, Python or not, can read outside the granted read roots
or create, change or delete anything outside the work directory. Unprivileged
and inherited; where the kernel lacks Landlock, :func:`restrict` returns False
and the in-process guards remain the only file barrier.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterable

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # x86_64 and aarch64 share these
_PR_SET_NO_NEW_PRIVS = 38
_RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_ABI1_ALL = (1 << 13) - 1
_ABI_EXTRA = {2: 1 << 13, 3: 1 << 14, 5: 1 << 15}  # REFER, TRUNCATE, IOCTL_DEV
_FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | (1 << 14) | (1 << 15)


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 when unavailable."""
    libc = ctypes.CDLL(None, use_errno=True)
    version = int(libc.syscall(_CREATE_RULESET, None, 0, 1))
    return max(0, version)


def _handled(abi: int) -> int:
    mask = _ABI1_ALL
    for version, bit in _ABI_EXTRA.items():
        if abi >= version:
            mask |= bit
    return mask


def restrict(
    read_roots: Iterable[str], exec_roots: Iterable[str], write_roots: Iterable[str]
) -> bool:
    """Apply the rules to the calling process (irreversible). True when in force."""
    libc = ctypes.CDLL(None, use_errno=True)
    abi = abi_version()
    if abi < 1:
        return False
    handled = _handled(abi)
    attr = struct.pack("Q", handled)
    ruleset = int(libc.syscall(_CREATE_RULESET, attr, len(attr), 0))
    if ruleset < 0:
        return False
    try:
        grants: list[tuple[str, int]] = []
        grants += [(p, READ_FILE | READ_DIR) for p in read_roots]
        grants += [(p, READ_FILE | READ_DIR | EXECUTE) for p in exec_roots]
        grants += [(p, handled) for p in write_roots]
        for path, access in grants:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not os.path.isdir(path):
                    access &= _FILE_ONLY
                rule = struct.pack("=Qi", access & handled, fd)
                libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, rule, 0)
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False
        return int(libc.syscall(_RESTRICT_SELF, ruleset, 0)) == 0
    finally:
        os.close(ruleset)
