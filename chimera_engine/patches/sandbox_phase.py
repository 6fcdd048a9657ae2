"""One sandbox phase: a subprocess, under bwrap where the kernel allows, observed by the parent.

The parent trusts only what it observes itself: the exit status (a signal or a
timeout is a failure), and the first line on the child's channel, which the
runner writes before any code of the patch is imported (so it says honestly
which in-process layers were applied). Everything the child says afterwards
is treated as a claim to be checked against what the parent knows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pwd
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chimera_engine.patches import isolation, seccomp
from chimera_engine.patches.isolation import Isolation


@dataclass(frozen=True, kw_only=True)
class SandboxLimits:
    """Bounds for every process of one phase (children included).

    ``guards`` switches the in-process audit-hook guards and the static
    tamper screen; with them off only the kernel layers stand (used to show
    that those alone hold). ``sandbox`` is ``"strict"`` (refuse without full
    kernel isolation) or ``"reduced"`` (test anyway, flagged, never auto-approved).
    """

    wall_seconds: float = 60.0
    cpu_seconds: int = 60
    memory_bytes: int = 2 << 30
    processes: int = 64
    file_bytes: int = 64 << 20
    open_files: int = 256
    isolate_network: bool = True
    landlock: bool = True
    guards: bool = True
    sandbox: str = "strict"
    bwrap: str = "bwrap"


@dataclass(frozen=True, kw_only=True)
class TestOutcome:
    nodeid: str
    outcome: str  # passed, failed, error, skipped
    duration: float
    output: str = ""


@dataclass(frozen=True, kw_only=True)
class RunReport:
    phase: str
    tests: list[TestOutcome]
    collection_errors: list[str]
    module_problem: str
    violations: list[str]
    timed_out: bool
    exit_code: int | None
    duration_s: float
    stderr: str
    layers: dict[str, bool] = field(default_factory=dict)
    collected: list[str] = field(default_factory=list)
    reports: int = 0  # how many report lines arrived (more than one: forged)
    uid: int = 0  # the host user the phase ran as (root engines), 0 if none of its own

    @property
    def killed(self) -> bool:
        """Ended by a signal (bwrap reports a signalled child as 128 + the signal)."""
        code = self.exit_code
        return code is None or code < 0 or code > 128

    @property
    def signal(self) -> int:
        code = self.exit_code or 0
        return -code if code < 0 else code - 128 if code > 128 else 0


_READ = ("/dev/null", "/dev/urandom", "/proc/self", "/etc/localtime", "/usr/share/zoneinfo")
_LIBS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache")


def _rlimits(limits: SandboxLimits) -> dict[str, int]:
    return {
        "RLIMIT_CPU": limits.cpu_seconds,
        "RLIMIT_AS": limits.memory_bytes,
        "RLIMIT_CORE": 0,
        "RLIMIT_FSIZE": limits.file_bytes,
        "RLIMIT_NPROC": limits.processes,
        "RLIMIT_NOFILE": limits.open_files,
    }


def _outer_limits(limits: SandboxLimits) -> None:
    """For the bwrap process itself (or the bare runner): CPU, memory, file size."""
    os.setsid()
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))


def run_phase(
    phase: str,
    work: Path,
    targets: list[str],
    *,
    iso: Isolation,
    limits: SandboxLimits,
    module_check: dict[str, str] | None = None,
    proxy: tuple[Path, str] | None = None,
) -> RunReport:
    """Run one phase to the end (blocking; call from a worker thread).

    ``proxy`` (a patched copy and a module name) makes the tests reach that
    module through a separate process (the *trusted* phase).
    """
    with tempfile.TemporaryDirectory(prefix="chimera-scratch-") as host_scratch:
        scratch = "/tmp" if iso.kernel else host_scratch
        inside = isolation.SANDBOX_WORK if iso.kernel else str(work)
        mod_root = ""
        if proxy is not None:
            mod_root = isolation.SANDBOX_MODULE if iso.kernel else str(proxy[0])
        python = isolation.python_roots()
        config = {
            "phase": phase,
            "workdir": inside,
            "scratch": scratch,
            "targets": targets,
            "module_check": module_check,
            "proxy": {"root": mod_root, "name": proxy[1]} if proxy else None,
            "guards": limits.guards,
            "limits": _rlimits(limits),
            "unshare_net": limits.isolate_network and not iso.kernel,
            "landlock": limits.landlock,
            "read_roots": [*python, *_READ],
            "landlock_read": [*python, *_READ, *_LIBS, inside, *([mod_root] if mod_root else [])],
            "exec_roots": [*python, *_LIBS],
            "write_roots": [scratch, "/dev/null"],
        }
        argv = [sys.executable, "-I", "-m", "chimera_engine.patches.sandbox_runner"]
        env: dict[str, str] | None = None
        if iso.kernel:
            extra = {str(proxy[0]): isolation.SANDBOX_MODULE} if proxy else {}
            uid = pick_uid()
            with contextlib.ExitStack() as stack:
                fds: tuple[int, ...] = ()
                if seccomp.supported():
                    filter_file = stack.enter_context(tempfile.TemporaryFile())
                    filter_file.write(seccomp.program())
                    filter_file.seek(0)
                    fds = (filter_file.fileno(),)
                argv = isolation.command(
                    iso, work, argv, uid=uid, extra=extra, seccomp_fd=fds[0] if fds else None
                )
                try:
                    report = _spawn(phase, argv, env, work, config, limits, iso, fds)
                    layers = {**report.layers, "seccomp": bool(fds)}
                    uid_seen = uid if iso.as_root else 0
                    return dataclasses.replace(report, uid=uid_seen, layers=layers)
                finally:
                    if iso.as_root:
                        reap(uid)
        env = {**isolation.sandbox_env(), "HOME": scratch, "TMPDIR": scratch}
        return _spawn(phase, argv, env, work, config, limits, iso)


def _spawn(
    phase: str,
    argv: list[str],
    env: dict[str, str] | None,
    work: Path,
    config: dict[str, Any],
    limits: SandboxLimits,
    iso: Isolation,
    pass_fds: tuple[int, ...] = (),
) -> RunReport:
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=work,
        env=env if env is not None else {"PATH": "/usr/bin:/bin"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: _outer_limits(limits),
        pass_fds=pass_fds,
    )
    assert proc.stdout is not None and proc.stderr is not None
    channel: list[tuple[list[str], list[dict[str, Any]], dict[str, bool]]] = []
    errors: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: channel.append(_read_channel(proc.stdout))),
        threading.Thread(target=lambda: errors.append(_tail(proc.stderr))),
    ]
    for reader in readers:
        reader.start()
    with contextlib.suppress(OSError):
        proc.stdin.write((json.dumps(config) + "\n").encode())  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    timed_out = not _wait(proc, limits.wall_seconds)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # bwrap dies; the PID namespace goes with it
    proc.wait()
    for reader in readers:
        reader.join(timeout=10)
    stderr = errors[0] if errors else b""
    violations, reports, layers = channel[0] if channel else (["the channel hung"], [], {})
    report: dict[str, Any] = reports[-1] if reports else {}
    return RunReport(
        phase=phase,
        tests=[TestOutcome(**t) for t in report.get("tests", []) if isinstance(t, dict)],
        collection_errors=[str(e.get("output", "")) for e in report.get("collection_errors", [])],
        module_problem=str(report.get("module_problem", "")),
        violations=sorted(set(violations)),
        timed_out=timed_out,
        exit_code=proc.returncode,
        duration_s=time.perf_counter() - started,
        stderr=stderr.decode(errors="replace")[-3000:],
        layers=layers,
        collected=[str(i) for i in report.get("collected", [])],
        reports=len(reports),
    )


def _uids_in_use() -> set[int]:
    """Host users that own a process now."""
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                found.add(entry.stat(follow_symlinks=False).st_uid)
    return found


def pick_uid(draw: Callable[[int], int] = secrets.randbelow) -> int:
    """A random host user for one phase that no account and no running process has.

    :func:`reap` kills every process of that user when the phase ends, so it
    must not be, say, a subordinate uid of a rootless container on the host.
    """
    busy = _uids_in_use()
    while True:
        uid = 100000 + draw(60000)
        if uid in busy:
            continue
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid


def reap(uid: int, seconds: float = 5.0) -> list[int]:
    """Kill and wait out every process of a phase's own host user (root engines only).

    The PID namespace already takes them down with the phase; this makes the
    end of the phase the moment they are gone, not a moment later.
    """
    killed: list[int] = []
    deadline = time.monotonic() + seconds
    while True:
        left = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_uid == uid:
                        left.append(int(entry.name))
        if not left or time.monotonic() > deadline:
            return killed
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.02)


def _wait(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


#: The most the engine keeps of a phase's output: a flood must not fill its memory.
MAX_LINE = 16 << 20
MAX_LINES = 200
_GARBAGE = "the test run wrote garbage to the sandbox's report channel"


def _tail(pipe: Any, keep: int = 3000) -> bytes:
    """The last ``keep`` bytes of a pipe, read to its end in bounded chunks."""
    tail = b""
    with pipe:
        while chunk := pipe.read1(1 << 16):
            tail = (tail + chunk)[-keep:]
    return tail


def _lines(pipe: Any) -> Any:
    """Lines of at most MAX_LINE bytes; a longer one is drained and given as ``b""``."""
    while raw := pipe.readline(MAX_LINE):
        if raw.endswith(b"\n") or len(raw) < MAX_LINE:
            yield raw
            continue
        while (rest := pipe.readline(MAX_LINE)) and not rest.endswith(b"\n"):
            pass
        yield b""


def _read_channel(pipe: Any) -> tuple[list[str], list[dict[str, Any]], dict[str, bool]]:
    """``L`` (first line only: the layers), ``V`` violations, ``R`` reports.

    Bounded: a line longer than MAX_LINE is garbage, and only MAX_LINES
    violations and reports are kept (the count of reports is what matters).
    """
    violations: list[str] = []
    reports: list[dict[str, Any]] = []
    layers: dict[str, bool] = {}
    first = True
    with pipe:
        for raw in _lines(pipe):
            if len(violations) + len(reports) >= MAX_LINES:
                if len(reports) > 1:  # forged anyway: keep "more than one" and the last
                    reports = [{}, reports[-1]]
                violations = [*violations[: MAX_LINES // 2], _GARBAGE]
            kind, _, payload = raw.decode(errors="replace").partition(" ")
            try:
                value = json.loads(payload)
            except ValueError:
                violations.append(_GARBAGE)
                first = False
                continue
            if first and kind == "L" and isinstance(value, dict):
                layers = {str(k): bool(v) for k, v in value.items()}
            elif kind == "V":
                violations.append(str(value)[:1000])
            elif kind == "R" and isinstance(value, dict):
                reports.append(value)
            else:
                violations.append(_GARBAGE)
            first = False
    return violations, reports, layers
