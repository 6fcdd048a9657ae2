"""DemoWorkload: calls the demo workspace's tools at a steady, configurable rate.

Calls go through the same path as every other caller (``ToolRuntime.call``,
or a swarm task for ``swarm_share`` of them), so their metrics, anomalies and
failures are real. The loop never waits on a call: each call is its own task
(at most ``max_in_flight`` at once; beyond that a tick's calls are skipped and
counted). While a fault is active, its stream of fault-shaped calls is added
on top of the normal traffic (see :mod:`chimera_engine.demo.faults`).

Threading: everything runs on the engine's event loop; the counters are
plain attributes read by :meth:`DemoWorkload.status`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chimera_engine.demo import inputs
from chimera_engine.demo.faults import Fault, FaultCall

TICK_S = 0.05


class WorkloadState(StrEnum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"


@dataclass(frozen=True, kw_only=True)
class SwarmOutcome:
    """What became of one swarm task: its final state, result and error."""

    state: str
    result: Any = None
    error: str = ""
    version: int | None = None


CallTool = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
"""Call a tool through the runtime as the workload's principal; raises on failure."""
RunTask = Callable[[str, Mapping[str, Any], str], Awaitable[SwarmOutcome]]
"""Run ``tool`` with ``inputs`` as a swarm task for ``role`` and wait for its end."""


@dataclass
class ToolCounters:
    calls: int = 0
    failures: int = 0
    last_error: str = ""


@dataclass(frozen=True, kw_only=True)
class WorkloadStatus:
    state: str
    rate: float
    calls: int
    failures: int
    fault_calls: int
    skipped: int
    in_flight: int
    per_tool: dict[str, ToolCounters] = field(default_factory=dict)
    swarm_submitted: int = 0
    swarm_succeeded: int = 0
    swarm_failed: int = 0
    swarm_pending: int = 0


class DemoWorkload:
    def __init__(
        self,
        call: CallTool,
        *,
        tools: Callable[[], Collection[str]],
        health_url: Callable[[], str] = lambda: "",
        run_task: Callable[[], RunTask | None] = lambda: None,
        faults: Callable[[], Sequence[Fault]] = tuple,
        version_of: Callable[[str], int | None] = lambda tool: None,
        rate: float = 5.0,
        swarm_share: float = 0.1,
        seed: int | None = None,
        max_in_flight: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._call = call
        self._tools = tools
        self._health_url = health_url
        self._run_task = run_task
        self._faults = faults
        self._version_of = version_of
        self.rate = rate
        self.swarm_share = swarm_share
        self.max_in_flight = max_in_flight
        self._rng = random.Random(seed)
        self._clock = clock
        self.state = WorkloadState.STOPPED
        self._resumed = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._credit: dict[str, float] = {}
        self.per_tool: dict[str, ToolCounters] = {}
        self.calls = self.failures = self.fault_calls = self.skipped = 0
        self.swarm_submitted = self.swarm_succeeded = self.swarm_failed = 0

    # -- control -----------------------------------------------------------------------------
    def resume(self) -> None:
        self.state = WorkloadState.RUNNING
        self._resumed.set()

    def pause(self) -> None:
        """Stop sending new calls; calls already running finish."""
        self.state = WorkloadState.PAUSED
        self._resumed.clear()

    async def until_running(self) -> float:
        """Return once the workload runs (at once if it does); the seconds waited.
        What only matters while calls are sent (the fault watch, the schedule) waits
        here, so a paused demo wakes nothing up."""
        if self._resumed.is_set():
            return 0.0
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self._resumed.wait()
        return loop.time() - start

    async def drain(self, timeout: float = 10.0) -> int:
        """Wait for running calls to finish (cancel those still running after
        ``timeout``); returns how many were cancelled."""
        pending = set(self._inflight)
        if not pending:
            return 0
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        return len(late)

    async def run(self) -> None:
        """The generator loop; runs until cancelled (pause/resume gate it)."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        try:
            while True:
                if not self._resumed.is_set():
                    await self._resumed.wait()
                    last = loop.time()
                await asyncio.sleep(TICK_S)
                now = loop.time()
                self._tick(now - last)
                last = now
        finally:
            for task in tuple(self._inflight):
                task.cancel()
            await asyncio.gather(*self._inflight, return_exceptions=True)

    # -- generation --------------------------------------------------------------------------
    def _tick(self, dt: float) -> None:
        wall = self._clock()
        streams: list[tuple[str, float, Fault | None]] = [("normal", self.rate, None)]
        streams += [(f.name, f.rate, f) for f in self._faults() if f.injecting(wall)]
        active = {name for name, _, _ in streams}
        for name in list(self._credit):
            if name not in active:
                del self._credit[name]
        for name, rate, fault in streams:
            credit = self._credit.get(name, 0.0) + rate * dt
            while credit >= 1.0:
                credit -= 1.0
                if len(self._inflight) >= self.max_in_flight:
                    self.skipped += 1
                    continue
                self._launch(fault)
            self._credit[name] = min(credit, 5.0)

    def _launch(self, fault: Fault | None) -> None:
        job = self._fault_call(fault) if fault is not None else self._normal_call()
        if job is None:
            return
        task = asyncio.get_running_loop().create_task(job, name="demo-call")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    def _normal_call(self) -> Coroutine[Any, Any, None] | None:
        available = self._tools()
        rng = self._rng
        choices: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("clean_csv", lambda: {"text": inputs.orders_csv(rng, rng.randrange(5, 40))}),
            ("parse_log", lambda: {"text": inputs.app_log(rng, rng.randrange(20, 80))}),
            ("validate_json", lambda: inputs.json_check(rng)),
        ]
        url = self._health_url()
        if url:
            choices.append(("check_http", lambda: {"url": url, "timeout": 2.0}))
        choices = [c for c in choices if c[0] in available]
        if not choices:
            return None
        tool, make = rng.choice(choices)
        args = make()
        run_task = self._run_task()
        if run_task is not None and tool != "check_http" and rng.random() < self.swarm_share:
            role = "analyzer" if tool == "validate_json" else "executor"
            return self._swarm_call(run_task, tool, args, role, None)
        return self._local_call(tool, args, None)

    def _fault_call(self, fault: Fault) -> Coroutine[Any, Any, None] | None:
        args = fault.arguments(self._rng)
        self.fault_calls += 1
        if fault.via == "swarm":
            run_task = self._run_task()
            if run_task is None:
                fault.detail = "the swarm is not running"
                return None
            return self._swarm_call(run_task, fault.tool, args, fault.role, fault)
        return self._local_call(fault.tool, args, fault)

    def _count(self, tool: str, ok: bool, error: str) -> None:
        counters = self.per_tool.setdefault(tool, ToolCounters())
        counters.calls += 1
        self.calls += 1
        if not ok:
            counters.failures += 1
            counters.last_error = error[:200]
            self.failures += 1

    def _report(self, fault: Fault | None, tool: str, call: FaultCall) -> None:
        self._count(tool, call.ok, call.error)
        if fault is not None:
            fault.observe(call)
        else:
            for f in self._faults():
                f.observe_normal(tool, call.ok)

    async def _local_call(self, tool: str, args: Mapping[str, Any], fault: Fault | None) -> None:
        started = time.perf_counter()
        at = self._clock()
        version = self._version_of(tool)  # the version a call starts on is the one it runs on
        try:
            result = await self._call(tool, args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure is counted, none may end the loop
            error = f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - started
            call = FaultCall(at=at, ok=False, duration_s=elapsed, error=error, version=version)
        else:
            elapsed = time.perf_counter() - started
            call = FaultCall(at=at, ok=True, duration_s=elapsed, result=result, version=version)
        self._report(fault, tool, call)

    async def _swarm_call(
        self,
        run_task: RunTask,
        tool: str,
        args: Mapping[str, Any],
        role: str,
        fault: Fault | None,
    ) -> None:
        started = time.perf_counter()
        at = self._clock()
        self.swarm_submitted += 1
        try:
            outcome = await run_task(tool, args, role)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = SwarmOutcome(state="error", error=f"{type(exc).__name__}: {exc}")
        ok = outcome.state == "succeeded"
        self.swarm_succeeded += ok
        self.swarm_failed += not ok
        call = FaultCall(
            at=at,
            ok=ok,
            duration_s=time.perf_counter() - started,
            result=outcome.result,
            error=outcome.error,
            version=outcome.version,
        )
        self._report(fault, tool, call)

    # -- status ------------------------------------------------------------------------------
    def status(self) -> WorkloadStatus:
        pending = self.swarm_submitted - self.swarm_succeeded - self.swarm_failed
        return WorkloadStatus(
            state=self.state.value,
            rate=self.rate,
            calls=self.calls,
            failures=self.failures,
            fault_calls=self.fault_calls,
            skipped=self.skipped,
            in_flight=len(self._inflight),
            per_tool={k: ToolCounters(**vars(v)) for k, v in sorted(self.per_tool.items())},
            swarm_submitted=self.swarm_submitted,
            swarm_succeeded=self.swarm_succeeded,
            swarm_failed=self.swarm_failed,
            swarm_pending=pending,
        )
