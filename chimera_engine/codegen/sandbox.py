"""PatchTester: proves a patch in a throwaway copy of the workspace, in subprocesses.

Two runs, in parallel, each in its own copy of the workspace:

- *before*: the original code with the patch's new tests. Every new test must
  fail here (otherwise it proves nothing about the fix);
- *after*: the patched code with every test, old and new. Everything must
  pass, and the module must still load and expose the same tools with
  compatible signatures.

Each run is a subprocess with a wall-clock timeout (its whole process group is
killed), CPU, memory and file-size rlimits, a scrubbed environment with no API
keys, Landlock file limits enforced by the kernel (read only the interpreter
and the work dir, write only the work dir), a private network namespace where
the OS allows it, and the audit-hook guards of
:mod:`chimera_engine.codegen.sandbox_runner` (no new processes at all, no
network beyond loopback, no secret environment variables). Configuration goes
in on stdin and results come back on a pipe, so the work dir holds nothing of
the sandbox's own. A static scan refuses code that reaches for the sandbox's
machinery. Any violation fails the patch with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import site
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chimera_engine
from chimera_engine.codegen import landlock
from chimera_engine.codegen.patchformat import PatchContent

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000


@dataclass(frozen=True, kw_only=True)
class SandboxLimits:
    wall_seconds: float = 60.0
    cpu_seconds: int = 60
    memory_bytes: int = 2 << 30
    isolate_network: bool = True
    landlock: bool = True


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


@dataclass(frozen=True, kw_only=True)
class PatchResult:
    """The verdict on a patch, with everything needed to review it."""

    ok: bool
    reason: str
    fail_to_pass: list[TestOutcome] = field(default_factory=list)
    pass_to_pass: list[TestOutcome] = field(default_factory=list)
    before: list[TestOutcome] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    module_problem: str = ""
    duration_s: float = 0.0
    timed_out: bool = False
    output_excerpt: str = ""

    def as_dict(self) -> dict[str, Any]:
        import dataclasses

        return dataclasses.asdict(self)


def _python_roots() -> set[str]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(site.getsitepackages())
    roots.update(p for p in sysconfig.get_paths().values() if p)
    roots.add(str(Path(chimera_engine.__file__).resolve().parent))
    roots.add(str(Path(sys.executable).resolve().parent.parent))
    return {r for r in roots if r}


def _read_roots() -> list[str]:
    roots = _python_roots()
    roots.update(
        {
            "/dev/null",
            "/dev/urandom",
            "/proc/self",
            "/etc/localtime",
            "/usr/share/zoneinfo",
            "/etc/timezone",
        }
    )
    return sorted(roots)


_SYSTEM_LIBS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache")


def _unshare_network() -> None:
    """Give the child its own network namespace with only loopback up (best effort)."""
    libc = ctypes.CDLL(None, use_errno=True)
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWNET | CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        return
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        iff_up, iff_loopback, iff_running = 0x1, 0x8, 0x40
        ifr = struct.pack("16sH14x", b"lo", iff_up | iff_loopback | iff_running)
        fcntl.ioctl(s.fileno(), 0x8914, ifr)  # SIOCSIFFLAGS


def _limits(limits: SandboxLimits, workdir: str) -> None:
    os.setsid()
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 20, 256 << 20))
    if os.geteuid() != 0:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))
    if limits.isolate_network:
        with contextlib.suppress(Exception):
            _unshare_network()
    if limits.landlock:
        python = sorted(_python_roots())
        landlock.restrict(
            read_roots=[*_read_roots(), *_SYSTEM_LIBS],
            exec_roots=[*python, *_SYSTEM_LIBS],
            write_roots=[workdir, "/dev/null"],
        )


def scrubbed_env(workdir: Path) -> dict[str, str]:
    """No inherited variables at all: nothing secret can leak in."""
    tmp = workdir / ".tmp"
    tmp.mkdir(exist_ok=True)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


class PatchTester:
    """Runs :class:`PatchContent` against a copy of the workspace; never touches the original."""

    def __init__(self, workspace_root: Path, limits: SandboxLimits | None = None) -> None:
        self.workspace_root = workspace_root
        self.limits = limits or SandboxLimits()

    def _copy(self, into: Path, files: dict[str, str], tests: dict[str, str]) -> Path:
        work = into / "ws"
        shutil.copytree(
            self.workspace_root,
            work,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".git", "data"),
        )
        for path, content in (*files.items(), *tests.items()):
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        if not any((work / n).exists() for n in ("pytest.ini", "pyproject.toml", "setup.cfg")):
            (work / "pytest.ini").write_text("[pytest]\n")
        return work

    async def _run(
        self, phase: str, work: Path, targets: list[str], module_check: dict[str, str] | None
    ) -> RunReport:
        """One sandboxed run. The fork and the waiting happen in a worker thread: forking
        a large process (the console) from the loop thread would stall the GUI."""
        return await asyncio.to_thread(self._run_blocking, phase, work, targets, module_check)

    def _run_blocking(
        self, phase: str, work: Path, targets: list[str], module_check: dict[str, str] | None
    ) -> RunReport:
        read_fd, write_fd = os.pipe()
        config = {
            "workdir": str(work),
            "read_roots": _read_roots(),
            "targets": targets,
            "report_fd": write_fd,
            "module_check": module_check,
        }
        started = time.perf_counter()
        workdir = str(work)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "chimera_engine.codegen.sandbox_runner"],
                cwd=work,
                env=scrubbed_env(work),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                preexec_fn=lambda: _limits(self.limits, workdir),
            )
        finally:
            os.close(write_fd)
        channel: list[tuple[list[str], list[dict[str, Any]]]] = []
        reader = threading.Thread(target=lambda: channel.append(_read_channel(read_fd)))
        reader.start()
        timed_out = False
        try:
            _, stderr = proc.communicate(
                (json.dumps(config) + "\n").encode(), timeout=self.limits.wall_seconds
            )
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything a test may have left behind
        reader.join(timeout=10)
        violations, reports = channel[0] if channel else (["the report channel hung"], [])
        report: dict[str, Any] = reports[-1] if len(reports) == 1 else {}
        if len(reports) > 1:
            violations.append("the test run forged its own report")
        return RunReport(
            phase=phase,
            tests=[TestOutcome(**t) for t in report.get("tests", [])],
            collection_errors=[e["output"] for e in report.get("collection_errors", [])],
            module_problem=report.get("module_problem", ""),
            violations=sorted(set(violations)),
            timed_out=timed_out,
            exit_code=proc.returncode,
            duration_s=time.perf_counter() - started,
            stderr=stderr.decode(errors="replace")[-3000:],
        )

    async def test(self, patch: PatchContent, module: str) -> PatchResult:
        """Run both phases and decide."""
        started = time.perf_counter()
        tampering = find_tampering(patch)
        if tampering:
            return PatchResult(
                ok=False,
                reason=f"the patch or its tests tamper with the sandbox: {tampering}",
                violations=[tampering],
            )
        module_path = next(iter(patch.files))
        with tempfile.TemporaryDirectory(prefix="chimera-sandbox-") as tmp:
            before_dir = self._copy(Path(tmp) / "before", {}, patch.tests)
            after_dir = self._copy(Path(tmp) / "after", patch.files, patch.tests)
            check = {
                "name": module,
                "old": patch.originals[module_path],
                "new": patch.files[module_path],
                "filename": module_path,
            }
            before, after = await asyncio.gather(
                self._run("before", before_dir, sorted(patch.tests), None),
                self._run(
                    "after",
                    after_dir,
                    ["tests"] if (after_dir / "tests").is_dir() else sorted(patch.tests),
                    check,
                ),
            )
        return decide(patch, before, after, time.perf_counter() - started)


_TAMPER = re.compile(
    r"os\._exit|\bgc\.|sys\.addaudithook|sys\.audit\b|sys\._getframe|_current_frames|"
    r"settrace|setprofile|/proc/self/fd|os\.write\(|os\.dup2?\(|os\.close\(|"
    r"sandbox_runner|\bGuard\b|GuardedEnviron|__builtins__|builtins\.|importlib\.reload|"
    r"sys\.modules\[[^]]*\]\s*="
)


def find_tampering(patch: PatchContent) -> str:
    """A static look for code that reaches for the sandbox's own machinery ("" if none).

    Crude on purpose: a fix for a tool and a test of it have no business with
    these names, so any match is refused outright.
    """
    for path, content in (*patch.files.items(), *patch.tests.items()):
        for number, line in enumerate(content.splitlines(), 1):
            match = _TAMPER.search(line)
            if match:
                return f"{path} line {number} uses {match.group(0)!r}"
    return ""


def _read_channel(fd: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Read the child's ``V``/``R`` lines until it and its children close the pipe."""
    violations: list[str] = []
    reports: list[dict[str, Any]] = []
    with os.fdopen(fd, "rb") as pipe:
        for raw in pipe:
            kind, _, payload = raw.decode(errors="replace").partition(" ")
            try:
                value = json.loads(payload)
            except ValueError:
                violations.append("the test run wrote garbage to the sandbox's report channel")
                continue
            if kind == "V":
                violations.append(str(value))
            elif kind == "R" and isinstance(value, dict):
                reports.append(value)
            else:
                violations.append("the test run wrote garbage to the sandbox's report channel")
    return violations, reports


def decide(
    patch: PatchContent, before: RunReport, after: RunReport, duration: float
) -> PatchResult:
    new_ids = {t.nodeid for t in after.tests if t.nodeid.split("::")[0] in patch.tests}
    fail_to_pass = [t for t in after.tests if t.nodeid in new_ids]
    pass_to_pass = [t for t in after.tests if t.nodeid not in new_ids]
    violations = sorted(set(before.violations) | set(after.violations))
    excerpt = "\n".join(
        [t.output for t in after.tests if t.outcome in ("failed", "error")][:3]
        + after.collection_errors[:2]
    )[-4000:]

    def result(ok: bool, reason: str) -> PatchResult:
        return PatchResult(
            ok=ok,
            reason=reason,
            fail_to_pass=fail_to_pass,
            pass_to_pass=pass_to_pass,
            before=before.tests,
            violations=violations,
            module_problem=after.module_problem,
            duration_s=duration,
            timed_out=before.timed_out or after.timed_out,
            output_excerpt=excerpt or after.stderr[-2000:],
        )

    if violations:
        return result(False, f"sandbox violation: {violations[0]}")
    if before.timed_out or after.timed_out:
        return result(False, "the tests did not finish in time (an infinite loop or a hang)")
    if after.exit_code not in (0,) and not after.tests and not after.collection_errors:
        return result(False, f"the sandbox run failed: {after.stderr.strip()[-300:]}")
    if after.module_problem:
        return result(False, f"the patched module is not acceptable: {after.module_problem}")
    if after.collection_errors:
        return result(False, "the tests cannot be collected after the patch")
    if not fail_to_pass:
        return result(False, "the new tests did not run")
    passing_before = [t.nodeid for t in before.tests if t.outcome == "passed"]
    if passing_before:
        return result(
            False,
            f"new tests pass without the patch too, so they prove nothing: {passing_before[0]}",
        )
    skipped_before = [t.nodeid for t in before.tests if t.outcome == "skipped"]
    if skipped_before:
        return result(
            False, f"a new test is skipped without the patch; it must fail: {skipped_before[0]}"
        )
    broken_new = [t.nodeid for t in fail_to_pass if t.outcome != "passed"]
    if broken_new:
        return result(False, f"a new test fails with the patch: {broken_new[0]}")
    broken_old = [t.nodeid for t in pass_to_pass if t.outcome not in ("passed", "skipped")]
    if broken_old:
        return result(False, f"an existing test breaks with the patch: {broken_old[0]}")
    return result(
        True,
        f"{len(fail_to_pass)} new test(s) fail before and pass after; "
        f"{len(pass_to_pass)} existing test(s) still pass",
    )
