"""DemoRunner: the demo workload, its fault injector and the fault schedule,
built and owned by :class:`~chimera_engine.node.HeartNode`.

The workload calls tools as the engine's own service ``system:demo``. The
service also keeps the swarm agents the demo needs (one ``analyzer``, the
rest ``executor``) and records each agent's resident memory as the metric
``agent.rss_mb{agent=<id>,role=<role>}`` every two seconds while the workload
runs (threshold
:data:`~chimera_engine.demo.faults.AGENT_RSS_LIMIT_MB`), so a memory creep in
an agent shows on the dashboard and in forecasts.

Starting and stopping the workload and the faults is audited (``demo.*``);
the facade (:mod:`chimera_engine.demo.service`) checks ``demo.control`` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chimera_engine.audit.log import AuditLog
from chimera_engine.demo.events import DemoFaultChanged, DemoWorkloadChanged
from chimera_engine.demo.faults import (
    AGENT_RSS_LIMIT_MB,
    FAULTS,
    Fault,
    FaultState,
    FaultStatus,
)
from chimera_engine.demo.settings import DemoSettings
from chimera_engine.demo.workload import (
    DemoWorkload,
    RunTask,
    SwarmOutcome,
    WorkloadState,
    WorkloadStatus,
)
from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.events import EventBus
from chimera_engine.metrics.hub import MetricsHub
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.runtime import ToolRuntime
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.models import AgentSpec, Task

log = logging.getLogger(__name__)

SERVICE = Principal.system("demo")
"""Who the workload and the fault schedule act as."""
EVALUATE_S = 0.5
AGENT_METRIC_S = 2.0
TASK_DEADLINE_S = 60.0


@dataclass(frozen=True, kw_only=True)
class DemoStatus:
    workload: WorkloadStatus
    faults: tuple[FaultStatus, ...]
    schedule: bool
    agents: int


class DemoRunner:
    """Needs the tool registry, the runtime, the API's address, the swarm (and whether it
    runs), the audit log (getters: all are built when the engine starts), a way to spawn
    owned tasks, the bus and the metrics hub."""

    def __init__(
        self,
        settings: DemoSettings,
        *,
        registry: Callable[[], VersionedToolRegistry],
        runtime: Callable[[], ToolRuntime],
        api_url: Callable[[], str],
        swarm: Callable[[], SwarmCoordinator],
        swarm_running: Callable[[], bool],
        audit: Callable[[], AuditLog],
        spawn: Callable[..., asyncio.Task[Any]],
        bus: EventBus,
        hub: MetricsHub,
    ) -> None:
        self._registry = registry
        self._runtime = runtime
        self._api_url = api_url
        self._swarm = swarm
        self._swarm_running = swarm_running
        self._audit = audit
        self._spawn = spawn
        self._bus = bus
        self._hub = hub
        self.settings = settings
        self.schedule = settings.faults
        self.faults: dict[str, Fault] = {name: cls() for name, cls in FAULTS.items()}
        self.workload = DemoWorkload(
            self._call,
            tools=lambda: registry().active_tools().keys(),
            health_url=self._health_url,
            run_task=self._task_runner,
            faults=lambda: tuple(self.faults.values()),
            version_of=self._version_of,
            rate=settings.rate,
            swarm_share=settings.swarm_share,
        )
        self._tasks: list[asyncio.Task[Any]] = []
        self._thresholds: set[str] = set()
        #: Rounds of the fault watch so far (it makes none while the workload is paused).
        self.watch_rounds = 0

    # -- wiring ------------------------------------------------------------------------------
    async def _call(self, tool: str, args: Mapping[str, Any]) -> Any:
        return await self._runtime().call(tool, args, SERVICE)

    def _version_of(self, tool: str) -> int | None:
        found = self._registry().active_tools().get(tool)
        return found.version if found is not None else None

    def _health_url(self) -> str:
        url = self._api_url()
        return f"{url}/healthz" if url else ""

    def _ready_roles(self) -> set[str]:
        if not self._swarm_running():
            return set()
        return {a.role for a in self._swarm().agents() if a.state.value == "ready"}

    def _task_runner(self) -> RunTask | None:
        roles = self._ready_roles()
        if not roles:
            return None

        async def run(tool: str, inputs: Mapping[str, Any], role: str) -> SwarmOutcome:
            if role not in roles:
                role = "executor" if "executor" in roles else sorted(roles)[0]
            task = Task(
                tool=tool, inputs=dict(inputs), role=role, deadline=time.time() + TASK_DEADLINE_S
            )
            info = await self._swarm().run(task, SERVICE, TASK_DEADLINE_S + 10)
            return SwarmOutcome(
                state=info.state.value,
                result=info.result,
                error=info.error,
                version=info.tool_version,
            )

        return run

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return bool(self._tasks)

    async def start(
        self, principal: Principal = SERVICE, *, delay: float = 0.0, audit: bool = True
    ) -> DemoStatus:
        """Start the workload (after ``delay`` s), the fault watch and, when the
        schedule is on, the fault schedule. Starting a paused workload resumes it.
        ``audit`` false is for the engine's own start (configuration, not an action)."""
        if self.running:
            if self.workload.state is WorkloadState.PAUSED:
                return await self.resume(principal)
            return self.status()
        spawn = self._spawn
        self._tasks = [
            spawn(self._run(delay), name="demo-workload"),
            spawn(self._watch(), name="demo-watch"),
        ]
        if self.schedule:
            self._tasks.append(spawn(self._scheduled(delay), name="demo-schedule"))
        if audit:
            await self._changed(principal, "demo.workload.start", WorkloadState.RUNNING)
        return self.status()

    async def pause(self, principal: Principal) -> DemoStatus:
        if not self.running:
            raise ValidationError("the demo workload is not running")
        self.workload.pause()
        await self._changed(principal, "demo.workload.pause", WorkloadState.PAUSED)
        return self.status()

    async def resume(self, principal: Principal) -> DemoStatus:
        if not self.running:
            raise ValidationError("the demo workload is not running")
        self.workload.resume()
        await self._changed(principal, "demo.workload.resume", WorkloadState.RUNNING)
        return self.status()

    async def stop(self, principal: Principal = SERVICE, *, audit: bool = True) -> DemoStatus:
        """Stop the schedule, every fault and the workload (running calls finish first)."""
        tasks, self._tasks = self._tasks, []
        self.workload.pause()
        for fault in self.faults.values():
            if fault.active:
                fault.stop()
                self._publish(fault, principal.actor)
        with contextlib.suppress(Exception):
            await self.workload.drain(timeout=5.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.workload.state = WorkloadState.STOPPED
        if audit and tasks:
            await self._changed(principal, "demo.workload.stop", WorkloadState.STOPPED)
        return self.status()

    async def _changed(self, principal: Principal, action: str, state: WorkloadState) -> None:
        self._bus.publish(DemoWorkloadChanged(state=state.value, actor=principal.actor))
        with contextlib.suppress(RuntimeError):  # the engine may be stopping
            await self._audit().record(
                principal, action, rate=self.workload.rate, schedule=self.schedule
            )

    async def _run(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        await self.ensure_agents()
        self.workload.resume()
        await self.workload.run()

    # -- faults ------------------------------------------------------------------------------
    def fault(self, name: str) -> Fault:
        found = self.faults.get(name)
        if found is None:
            raise NotFoundError(f"no fault named {name!r}; faults: {', '.join(self.faults)}")
        return found

    async def trigger(self, name: str, principal: Principal) -> FaultStatus:
        """Start injecting fault ``name`` (the workload must be running to send it)."""
        fault = self.fault(name)
        if fault.via == "swarm" and not self._ready_roles():
            raise ValidationError(f"{name} needs swarm agents and none is ready")
        if not fault.active:
            active = self._registry().active.get(fault.module)
            fault.start(version=active.version if active is not None else None)
            self._publish(fault, principal.actor)
        await self._audit().record(principal, "demo.fault.start", target=name)
        return fault.status()

    async def clear(self, name: str, principal: Principal) -> FaultStatus:
        """Stop injecting fault ``name``; its record (times, counts) stays readable."""
        fault = self.fault(name)
        if fault.active:
            fault.stop()
            self._publish(fault, principal.actor)
        await self._audit().record(
            principal, "demo.fault.stop", target=name, outcome="ok", state=fault.state.value
        )
        return fault.status()

    def _publish(self, fault: Fault, actor: str = "") -> None:
        self._bus.publish(
            DemoFaultChanged(
                name=fault.name, state=fault.state.value, actor=actor, detail=fault.detail
            )
        )

    async def _watch(self) -> None:
        """Move each fault's state on, and record agents' memory as metrics; while the
        workload is paused (or not started yet) it waits, doing nothing."""
        last_metric = 0.0
        while True:
            await self.workload.until_running()
            await asyncio.sleep(EVALUATE_S)
            if self.workload.state is not WorkloadState.RUNNING:
                continue  # paused meanwhile
            self.watch_rounds += 1
            agents = self._agent_rows()
            for fault in self.faults.values():
                before = fault.state
                if fault.evaluate(agents) is not before:
                    log.info("demo fault %s: %s (%s)", fault.name, fault.state, fault.detail)
                    self._publish(fault)
            now = time.time()
            if now - last_metric >= AGENT_METRIC_S:
                last_metric = now
                self._record_agents(agents, now)

    def _agent_rows(self) -> list[dict[str, Any]]:
        if not self._swarm_running():
            return []
        return [
            {"id": a.id, "role": a.role, "state": a.state.value, "rss_bytes": a.rss_bytes}
            for a in self._swarm().agents()
        ]

    def _record_agents(self, agents: list[dict[str, Any]], now: float) -> None:
        hub = self._hub
        for agent in agents:
            if agent["state"] != "ready" or not agent["rss_bytes"]:
                continue
            labels = {"agent": str(agent["id"]), "role": str(agent["role"])}
            key = f"{agent['id']}"
            if key not in self._thresholds:
                self._thresholds.add(key)
                hub.set_thresholds("agent.rss_mb", labels, AGENT_RSS_LIMIT_MB)
            hub.record("agent.rss_mb", agent["rss_bytes"] / 2**20, labels, now)

    async def ensure_agents(self) -> None:
        """Spawn the agents the demo uses (one analyzer, then executors) if missing."""
        wanted = self.settings.agents
        if wanted <= 0 or not self._swarm_running():
            return
        swarm = self._swarm()
        live = [a for a in swarm.agents() if not a.state.final]
        roles = ["analyzer"] + ["executor"] * (wanted - 1)
        for agent in live:
            if agent.role in roles:
                roles.remove(agent.role)
        for role in roles:
            try:
                await swarm.spawn_agent(AgentSpec(role=role, concurrency=4), SERVICE)
            except Exception as exc:  # capacity or start failure: the demo runs without it
                log.warning("demo: could not start a %s agent: %s", role, exc)

    async def _scheduled(self, delay: float) -> None:
        """Trigger each fault in turn; stop it once recovered (after ``fault_hold``)
        or after ``fault_max``; pause ``fault_interval`` between faults."""
        s = self.settings
        await asyncio.sleep(delay + s.first_fault)
        for name in itertools.cycle(self.faults):
            await self.workload.until_running()  # a paused demo injects nothing
            fault = self.faults[name]
            if fault.active:  # triggered by hand: leave it to the operator
                await asyncio.sleep(1.0)
                continue
            try:
                await self.trigger(name, SERVICE)
            except ValidationError as exc:
                log.info("demo schedule skips %s: %s", name, exc)
                await asyncio.sleep(1.0)
                continue
            ends = time.monotonic() + s.fault_max
            while fault.active and time.monotonic() < ends:
                ends += await self.workload.until_running()  # paused time does not count
                await asyncio.sleep(1.0)
                held = fault.recovered_at is not None and time.time() - fault.recovered_at
                if fault.state is FaultState.RECOVERED and held and held >= s.fault_hold:
                    break
            if fault.active:
                await self.clear(name, SERVICE)
            await asyncio.sleep(s.fault_interval)

    # -- status ------------------------------------------------------------------------------
    def status(self) -> DemoStatus:
        agents = len(self._agent_rows())
        return DemoStatus(
            workload=self.workload.status(),
            faults=tuple(f.status() for f in self.faults.values()),
            schedule=self.schedule,
            agents=agents,
        )
