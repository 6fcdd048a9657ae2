"""Run a new version's import-time code first in a short-lived child process.

Code that hangs or spins at import cannot be stopped inside the engine (a
thread cannot be killed), so every new version is imported once in a child
process, in its own session, under CPU, memory and file-size limits and a
wall-clock timeout; on timeout the whole process group is killed. Only a
version whose probe finished cleanly is then loaded into the engine. Probes
run concurrently and outside the reload lock, so one slow module never holds
up another's reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sys
from dataclasses import dataclass, replace

from chimera_engine.modules.import_probe import MARK, VERDICT


@dataclass(frozen=True, kw_only=True)
class ProbeLimits:
    timeout: float = 5.0
    memory_bytes: int = 2 << 30


@dataclass(frozen=True, kw_only=True)
class ProbeResult:
    ok: bool
    #: The module at fault ("" when all are fine).
    module: str = ""
    stage: str = ""
    reason: str = ""
    #: The sibling module an import asked for and did not find ("" if none).
    missing: str = ""
    seconds: float = 0.0


class ImportProber:
    """Runs import probes, keeping one child warm (interpreter started, common imports
    done) so a save does not wait for a Python start-up. :meth:`close` at shutdown."""

    def __init__(self, limits: ProbeLimits, *, warm: bool = True) -> None:
        self.limits = limits
        self._warm = warm
        self._spare: asyncio.subprocess.Process | None = None
        self.probes = 0

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-m",
            "chimera_engine.modules.import_probe",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )

    async def _take(self) -> asyncio.subprocess.Process:
        spare, self._spare = self._spare, None
        if spare is None or spare.returncode is not None:
            spare = await self._spawn()
        if self._warm and self._spare is None:
            with contextlib.suppress(OSError):
                fresh = await self._spawn()
                if self._spare is None:
                    self._spare = fresh
                else:  # a concurrent probe warmed one meanwhile
                    await _discard(fresh)
        return spare

    async def warm_up(self) -> None:
        """Start the spare child now (its interpreter starts while the caller works on)."""
        if self._warm and self._spare is None:
            with contextlib.suppress(OSError):
                self._spare = await self._spawn()

    async def close(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            await _discard(spare)

    async def probe(
        self,
        *,
        package: str,
        directory: str,
        modules: list[str],
        sources: dict[str, str],
        timeout: float | None = None,
    ) -> ProbeResult:
        """Import ``modules`` (in that order, siblings from ``sources``) in one child;
        never raises for anything the modules do (a failure is a result naming the
        module at fault)."""
        limits = self.limits if timeout is None else replace(self.limits, timeout=timeout)
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.probes += 1
        request = {
            "package": package,
            "directory": directory,
            "modules": modules,
            "sources": sources,
            "cpu_seconds": max(1, math.ceil(limits.timeout)),
            "memory_bytes": limits.memory_bytes,
            "environ": dict(os.environ),
        }
        try:
            proc = await self._take()
        except OSError as exc:
            return ProbeResult(
                ok=False, stage="probe", reason=f"cannot start the import probe: {exc}"
            )
        lines: list[str] = []
        try:
            await asyncio.wait_for(
                _exchange(proc, json.dumps(request).encode(), lines), limits.timeout
            )
        except TimeoutError:
            _kill_group(proc.pid)
            await proc.wait()
            culprit = _last_marked(lines, MARK) or (modules[0] if modules else "")
            return ProbeResult(
                ok=False,
                module=culprit,
                stage="import",
                reason=(
                    f"{culprit} did not finish loading within {limits.timeout:g} s "
                    "(its import was stopped)"
                ),
                seconds=loop.time() - started,
            )
        except BaseException:
            _kill_group(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()
            raise
        finally:
            _kill_group(proc.pid)  # anything the modules left running in their session
        return _verdict(lines, proc.returncode, loop.time() - started, modules, limits.timeout)


async def _exchange(proc: asyncio.subprocess.Process, request: bytes, lines: list[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(request)
        await proc.stdin.drain()
        proc.stdin.close()
    while line := await proc.stdout.readline():
        lines.append(line.decode(errors="replace").rstrip("\n"))
    await proc.wait()


def _last_marked(lines: list[str], mark: str) -> str:
    for line in reversed(lines):
        if line.startswith(mark):
            return line[len(mark) :]
    return ""


def _verdict(
    lines: list[str], returncode: int | None, elapsed: float, modules: list[str], timeout: float
) -> ProbeResult:
    raw = _last_marked(lines, VERDICT)
    try:
        verdict = json.loads(raw) if raw else {}
    except ValueError:
        verdict = {}
    if not isinstance(verdict, dict):
        verdict = {}
    if returncode == 0 and verdict.get("ok") is True:
        return ProbeResult(ok=True, seconds=elapsed)
    if verdict.get("ok") is False:
        return ProbeResult(
            ok=False,
            module=str(verdict.get("module", "")),
            stage=str(verdict.get("stage", "import")),
            reason=str(verdict.get("reason", "")),
            missing=str(verdict.get("missing", "")),
            seconds=elapsed,
        )
    culprit = _last_marked(lines, MARK) or (modules[0] if modules else "")
    return ProbeResult(
        ok=False,
        module=culprit,
        stage="import",
        reason=_death(returncode, culprit, timeout),
        seconds=elapsed,
    )


def _death(code: int | None, culprit: str, timeout: float) -> str:
    if code == -signal.SIGXCPU:  # a spinning import spends its CPU limit before the timeout
        cpu = max(1, math.ceil(timeout))
        return (
            f"{culprit} did not finish loading within {timeout:g} s "
            f"(its import used up its {cpu} s of CPU and was stopped)"
        )
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the import was stopped by {name} (a resource limit or a crash)"
    return f"the import ended the process (exit status {code})"


async def _discard(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        _kill_group(proc.pid)
        await proc.wait()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
