"""Kernel isolation for one sandbox phase: a bubblewrap (``bwrap``) command line.

Each phase of a patch test runs as ``bwrap ... python -I -m
chimera_engine.patches.sandbox_runner``. bwrap gives the phase its own PID,
mount, network, IPC and UTS namespaces, a root file system holding only the
interpreter, its site-packages, the engine package and the read-only
workspace copy, a private size-limited ``/tmp``, a fresh ``/proc`` (so no host
process is visible, let alone signalled) and no host sockets. ``--die-with-parent``
and the PID namespace make sure nothing started inside outlives the phase:
when the phase's first process ends, the kernel kills every other process in
the namespace.

The phase never runs with a privileged user ID: started by root, bwrap drops
to the host user ``nobody`` (65534) through ``setpriv`` before Python starts
(so ``RLIMIT_NPROC`` holds, which the kernel does not enforce for root);
started by anyone else, bwrap adds a user namespace mapping only that user and
forbids nested ones.

:func:`probe` tries the real command once and names what is missing and how
to get it; callers fail closed on it.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import chimera_engine
from chimera_engine.patches import landlock

NOBODY = 65534
#: Where a phase sees its workspace copy (outside its writable /tmp).
SANDBOX_WORK = "/sandbox/ws"
#: Where the trusted phase's module process sees the patched copy.
SANDBOX_MODULE = "/sandbox/mod"
TMP_BYTES = 64 << 20
_SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
_ETC = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives")
#: Kernel layers a full-strength sandbox has; ``landlock`` is applied inside the phase.
FULL_LAYERS = ("bwrap", "pidns", "mountns", "netns", "ipcns", "unprivileged", "landlock")
HOW_TO = {
    "bwrap": "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; "
    "Fedora: dnf install bubblewrap)",
    "userns": "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 "
    "and user.max_user_namespaces > 0; on Ubuntu 24.04 also "
    "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap)",
    "landlock": "boot a Linux kernel >= 5.13 with Landlock enabled (lsm=...,landlock)",
    "setpriv": "install util-linux (setpriv) so a root engine can drop to an unprivileged user",
}


def python_roots() -> list[str]:
    """Directories the interpreter, its libraries and the engine package live in."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(site.getsitepackages())
    roots.update(p for p in sysconfig.get_paths().values() if p)
    roots.add(str(Path(chimera_engine.__file__).resolve().parent))
    roots.add(str(Path(sys.executable).resolve().parent.parent))
    real = {os.path.realpath(r) for r in roots if r and os.path.exists(r)}
    # the smallest set: drop a root that sits inside another
    return sorted(r for r in real if not any(r.startswith(o + os.sep) for o in real if o != r))


@dataclass(frozen=True, kw_only=True)
class Isolation:
    """What the kernel can give a phase on this machine."""

    bwrap: str  # path to bwrap, "" when unusable
    as_root: bool
    layers: tuple[str, ...]  # expected to hold (landlock is confirmed by each phase)
    missing: tuple[str, ...]  # names from HOW_TO / FULL_LAYERS
    problem: str  # why bwrap is unusable ("" when usable)

    @property
    def kernel(self) -> bool:
        return bool(self.bwrap)

    def explain(self) -> str:
        """The missing pieces and how to get each."""
        parts = [f"{name}: {HOW_TO[name]}" for name in self.missing if name in HOW_TO]
        text = "; ".join(parts) or ", ".join(self.missing)
        return f"{self.problem} ({text})" if self.problem else text


def command(
    iso: Isolation,
    workdir: Path,
    python_argv: list[str],
    *,
    uid: int = NOBODY,
    extra: dict[str, str] | None = None,
    seccomp_fd: int | None = None,
) -> list[str]:
    """The bwrap argv running ``python_argv`` on a read-only ``workdir``.

    ``uid`` is the host user a root engine drops to: give each phase its own,
    so that one phase's processes do not eat another's ``RLIMIT_NPROC``.
    """
    argv = [
        iso.bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--clearenv",
    ]
    drop_with_setpriv = iso.as_root and "setpriv" not in iso.missing
    if not iso.as_root:
        argv += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    elif not drop_with_setpriv:  # root-mapped user namespace: no RLIMIT_NPROC
        argv += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
        argv += ["--disable-userns", "--cap-drop", "ALL"]
    for path in (*_SYSTEM, *_ETC):
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            argv += ["--ro-bind", path, path]
    argv += ["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    work = SANDBOX_WORK
    roots = python_roots()
    for parent in _ancestors([*roots, work]):
        argv += ["--perms", "0755", "--dir", parent]
    for root in roots:
        argv += ["--ro-bind", root, root]
    argv += ["--ro-bind", str(workdir), work, "--chdir", work]
    for host, inside in (extra or {}).items():
        argv += ["--ro-bind", host, inside]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for key, value in sandbox_env().items():
        argv += ["--setenv", key, value]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    argv.append("--")
    if drop_with_setpriv:
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        argv += [
            setpriv,
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
    return argv + python_argv


def _ancestors(paths: list[str]) -> list[str]:
    """Directories above ``paths`` that bwrap must create (world-traversable)."""
    found: set[str] = set()
    for path in paths:
        for parent in Path(path).parents:
            text = str(parent)
            if text not in ("/", "/tmp") and not any(
                text == s or text.startswith(s + "/") for s in _SYSTEM
            ):
                found.add(text)
    return sorted(found)


def sandbox_env() -> dict[str, str]:
    """The whole environment of a phase: nothing inherited, nothing secret."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


def probe(bwrap: str | None = None, *, want_landlock: bool = True) -> Isolation:
    """Find bwrap and run it once with the real options; never raises."""
    as_root = os.geteuid() == 0
    path = shutil.which(bwrap or "bwrap") or ""
    missing: list[str] = []
    if (want_landlock and landlock.abi_version() < 1) or not want_landlock:
        missing.append("landlock")
    if as_root and not shutil.which("setpriv"):
        missing.append("setpriv")
    if not path:
        return Isolation(
            bwrap="",
            as_root=as_root,
            layers=(),
            missing=("bwrap", *missing),
            problem=f"bubblewrap ({bwrap or 'bwrap'}) is not installed",
        )
    iso = Isolation(bwrap=path, as_root=as_root, layers=(), missing=tuple(missing), problem="")
    argv = command(iso, Path("/usr"), [sys.executable, "-I", "-S", "-c", "pass"])
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
        problem = "" if done.returncode == 0 else done.stderr.decode(errors="replace").strip()
    except (OSError, subprocess.SubprocessError) as exc:
        problem = str(exc)
    if problem:
        hint = "userns" if "namespace" in problem.lower() or "permission" in problem.lower() else ""
        return Isolation(
            bwrap="",
            as_root=as_root,
            layers=(),
            missing=("bwrap", *([hint] if hint else []), *missing),
            problem=f"bubblewrap cannot create a sandbox here: {problem[-300:]}",
        )
    layers = [name for name in FULL_LAYERS if name not in missing]
    if "setpriv" in missing:
        layers.remove("unprivileged")
        missing.append("unprivileged")
    return Isolation(
        bwrap=path, as_root=as_root, layers=tuple(layers), missing=tuple(missing), problem=""
    )
