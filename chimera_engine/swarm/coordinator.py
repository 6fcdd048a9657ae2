"""SwarmCoordinator: the one API of the swarm, whatever the backend.

>>> # typical use (see tests/engine/swarm for complete, runnable examples)
>>> # swarm = SwarmCoordinator(store=SwarmStore(db), tools=RegistryToolSource(registry),
>>> #                          audit=security.audit, bus=bus,
>>> #                          credentials=ApiKeyNodeCredentials(security.api_keys),
>>> #                          settings=SwarmSettings())
>>> # await swarm.start(); await swarm.spawn_agent(AgentSpec(role="executor"), principal)
>>> # info = await swarm.run(Task(tool="greet", inputs={"name": "ada"}), principal)

It owns the agents (through a :class:`Backend`), the task queue and the task
history (through :class:`SwarmStore`). It does not check permissions: callers
(the facade, :mod:`.ops`) authorise first and pass the acting principal, which
the coordinator writes to the audit log with every state change it makes.
All methods must be called on the event-loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chimera_engine.errors import AuthenticationError, NotFoundError, ValidationError
from chimera_engine.events import EventBus
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.backend import Backend
from chimera_engine.swarm.consensus import ConsensusEngine, Outcome, Vote
from chimera_engine.swarm.credentials import NodeCredentials
from chimera_engine.swarm.decomposer import Job, Planner, TaskDecomposer
from chimera_engine.swarm.errors import SwarmCapacityError, SwarmNotRunningError
from chimera_engine.swarm.events import AgentChanged
from chimera_engine.swarm.graph import TaskGraph, topological, with_references
from chimera_engine.swarm.lifecycle import SYSTEM, TaskLifecycle
from chimera_engine.swarm.models import AgentInfo, AgentSpec, ConsensusPolicy, Task, TaskInfo
from chimera_engine.swarm.models import TaskState as TaskState
from chimera_engine.swarm.runs import AttemptQueues, TaskRun, stored_info
from chimera_engine.swarm.settings import SwarmSettings, parse_initial_agents
from chimera_engine.swarm.store import SwarmStore, task_row
from chimera_engine.swarm.tools import ToolSource

log = logging.getLogger(__name__)
Spawner = Callable[[Coroutine[Any, Any, Any], str], object]


class AuditSink(Protocol):
    def record(
        self,
        principal: Principal | None,
        action: str,
        *,
        target: str = "",
        outcome: str = "ok",
        actor: str | None = None,
        **detail: Any,
    ) -> Awaitable[Any]: ...


@dataclass(frozen=True, kw_only=True)
class SwarmStats:
    backend: str
    agents: int
    agents_ready: int
    queued: int
    unfinished: int
    completed: int
    late_replies: int
    duplicates_suppressed: int
    respawns: int


@dataclass(frozen=True, kw_only=True)
class GraphInfo:
    """A submitted task graph: its tasks in dependency order and its output tasks."""

    id: str
    tasks: tuple[TaskInfo, ...]
    outputs: tuple[str, ...]


class SwarmCoordinator(TaskLifecycle):
    def __init__(
        self,
        *,
        store: SwarmStore,
        tools: ToolSource,
        audit: AuditSink,
        bus: EventBus,
        credentials: NodeCredentials,
        settings: SwarmSettings,
        backend: Backend | None = None,
        spawn: Spawner | None = None,
        planner: Planner | None = None,
    ) -> None:
        self.settings = settings.validate()
        self.store = store
        self.tools = tools
        self.audit = audit
        self.bus = bus
        self.credentials = credentials
        self.backend = backend if backend is not None else make_backend(settings)
        self.consensus = ConsensusEngine()
        self.decomposer = TaskDecomposer(tools.describe, planner)
        self._spawn = spawn
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runs: dict[str, TaskRun] = {}
        self._finished: OrderedDict[str, TaskRun] = OrderedDict()
        self._by_key: dict[str, str] = {}
        self._dep_values: dict[str, list[Any]] = {}
        self._queues = AttemptQueues()
        self._deadlines: list[tuple[float, str]] = []
        self._succeeded_on: dict[str, set[str]] = {}
        self._specs: dict[str, AgentSpec] = {}
        self._respawned: deque[float] = deque()
        self._reserved = 0
        self._pump_scheduled = False
        self._stopping = True
        self.started = False
        self.late_replies = self.duplicates_suppressed = self.completed = self.respawns = 0

    # -- plumbing -----------------------------------------------------------------------
    def spawn_task(self, coro: Coroutine[Any, Any, Any], name: str) -> Any:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("swarm task %s failed", task.get_name(), exc_info=task.exception())

    def _audit(
        self,
        principal: Principal | None,
        action: str,
        *,
        target: str = "",
        outcome: str = "ok",
        **detail: Any,
    ) -> None:
        async def write() -> None:
            await self.audit.record(principal, action, target=target, outcome=outcome, **detail)

        self.spawn_task(write(), f"swarm-audit-{action}")

    def authenticate(self, key: str) -> Principal:
        """Check an agent's node credentials (every refusal is audited)."""
        try:
            principal = self.credentials.authenticate(key)
        except AuthenticationError as exc:
            self._audit(None, "swarm.agent.authenticate", outcome="denied", reason=str(exc))
            raise
        return principal

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect the backend, resume unfinished tasks, spawn ``initial_agents``."""
        if self.started:
            return
        key = await self.credentials.issue()
        await self.backend.start(self, key)
        self._stopping, self.started = False, True
        resumed = await self._resume()
        sweeper = self._sweep_loop()
        if self._spawn is not None:
            self._spawn(sweeper, "swarm-sweeper")
        else:
            self.spawn_task(sweeper, "swarm-sweeper")
        if resumed:
            self._audit(SYSTEM, "swarm.resume", resumed=resumed)
        wanted = [(role, n) for role, n in parse_initial_agents(self.settings.initial_agents)]
        results = await asyncio.gather(
            *(
                self.spawn_agent(AgentSpec(role=role), SYSTEM)
                for role, n in wanted
                for _ in range(n)
            ),
            return_exceptions=True,
        )
        for failure in (r for r in results if isinstance(r, BaseException)):
            log.error("initial agent not started: %s", failure)

    async def stop(self) -> None:
        """Stop agents gracefully, record everything queued and revoke the node key.
        Unfinished tasks stay in the store and resume at the next start."""
        if not self.started:
            return
        self._stopping, self.started = True, False
        await self.backend.stop()
        for run in list(self._runs.values()):
            for waiter in run.waiters:
                if not waiter.done():
                    waiter.set_exception(SwarmNotRunningError("the swarm stopped"))
            run.waiters.clear()
        tasks = [t for t in self._tasks if not t.get_name().startswith("swarm-finish-")]
        for task in tasks:
            if task.get_name() == "swarm-sweeper" or task.get_name().startswith("swarm-agent-"):
                task.cancel()
        await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
        await self.store.flush()
        with contextlib.suppress(Exception):
            await self.credentials.revoke()

    async def _sweep_loop(self) -> None:
        interval = min(0.25, self.settings.heartbeat_interval)
        while not self._stopping:
            await asyncio.sleep(interval)
            self.backend.sweep(time.monotonic())
            self._sweep_deadlines()

    async def _resume(self) -> int:
        stored = await self.store.load_unfinished()
        if not stored:
            return 0
        runs = [TaskRun.from_stored(s) for s in stored]
        for run in runs:
            run.persisted = False
            self._runs[run.id] = run
            self._by_key[run.task.key] = run.id
            if run.state is not TaskState.PENDING:
                self._set_state(run, TaskState.REASSIGNED)
        await self._link(runs)
        return len(runs)

    # -- agents -------------------------------------------------------------------------------
    async def spawn_agent(self, spec: AgentSpec, principal: Principal) -> AgentInfo:
        """Start one agent and return it once ready. SwarmCapacityError past ``max_agents``,
        AgentStartError if it does not come up."""
        spec.validate()
        if not self.started:
            raise SwarmNotRunningError("the swarm is not running")
        limit = self.settings.max_agents
        if self.backend.live_count() + self._reserved >= limit:
            self._audit(
                principal,
                "swarm.agent.spawn",
                target=spec.role,
                outcome="denied",
                reason=f"maximum of {limit} agents reached",
            )
            raise SwarmCapacityError(
                f"the swarm already has {self.backend.live_count() + self._reserved} agents "
                f"(swarm.max_agents is {limit})"
            )
        self._reserved += 1
        try:
            info = await self.backend.spawn(spec)
        except Exception as exc:
            self._audit(
                principal, "swarm.agent.spawn", target=spec.role, outcome="error", reason=str(exc)
            )
            raise
        finally:
            self._reserved -= 1
        self._specs[info.id] = spec
        self._audit(
            principal,
            "swarm.agent.spawn",
            target=info.id,
            role=spec.role,
            concurrency=spec.concurrency,
            pid=info.pid,
        )
        return info

    async def stop_agent(
        self, agent_id: str, principal: Principal, *, kill: bool = False
    ) -> AgentInfo:
        """Stop an agent after its running work (``kill``: at once; its work is reassigned)."""
        info = await self.backend.stop_agent(
            agent_id, kill=kill, reason=f"{'killed' if kill else 'stopped'} by {principal.actor}"
        )
        self._specs.pop(agent_id, None)
        self._audit(
            principal,
            "swarm.agent.kill" if kill else "swarm.agent.stop",
            target=agent_id,
            state=info.state.value,
        )
        return info

    def agents(self) -> list[AgentInfo]:
        return self.backend.agents()

    def on_agent(self, agent: AgentInfo, change: str) -> None:
        self.bus.publish(AgentChanged(agent=agent, change=change))
        self.store.agent(
            (
                agent.id,
                agent.role,
                json.dumps(list(agent.capabilities)),
                agent.concurrency,
                agent.backend,
                agent.host,
                agent.pid,
                agent.state.value,
                agent.reason,
                agent.started_at,
                agent.ready_at,
                time.time() if agent.state.final else None,
                agent.completed,
                agent.failed,
                agent.reputation,
            )
        )
        if change in ("died", "hung", "recycled", "refused", "killed"):
            self._audit(
                SYSTEM,
                f"swarm.agent.{change}",
                target=agent.id,
                outcome="ok" if change in ("recycled", "killed") else "error",
                reason=agent.reason,
                pid=agent.pid,
            )
        if change in ("died", "hung", "recycled"):
            spec = self._specs.pop(agent.id, None)
            if spec is not None and self._may_respawn():
                self.spawn_task(self._respawn(spec, agent.id), f"swarm-respawn-{agent.id}")

    def _may_respawn(self) -> bool:
        if not self.settings.respawn or self._stopping:
            return False
        now = time.monotonic()
        while self._respawned and now - self._respawned[0] > 60.0:
            self._respawned.popleft()
        if len(self._respawned) >= self.settings.respawn_per_minute:
            log.error(
                "swarm: respawn limit (%d a minute) reached", self.settings.respawn_per_minute
            )
            return False
        self._respawned.append(now)
        return True

    async def _respawn(self, spec: AgentSpec, replaced: str) -> None:
        try:
            info = await self.spawn_agent(spec, SYSTEM)
        except Exception as exc:
            log.error("swarm: could not replace agent %s: %s", replaced, exc)
            return
        self.respawns += 1
        self.bus.publish(AgentChanged(agent=info, change="respawned"))

    # -- tasks ---------------------------------------------------------------------------
    def _check(self, task: Task, batch: dict[str, Task], unknown: set[str]) -> None:
        task.validate()
        if task.prompt is not None and not self.settings.prompt_tool:
            raise ValidationError(
                "a prompt task needs swarm.prompt_tool (a workspace tool that "
                "answers prompts), or decompose it into tool tasks first"
            )
        name = task.tool if task.tool is not None else self.settings.prompt_tool
        ref = self.tools.resolve(name, task.tool_version)
        if ref.check is not None and not task.references():
            inputs = dict(task.inputs)
            if task.prompt is not None:
                inputs = {"prompt": task.prompt, **inputs}
            ref.check(inputs)
        for dep in task.depends_on:
            if dep not in batch and dep not in self._runs and dep not in self._finished:
                unknown.add(dep)

    async def submit(self, task: Task, principal: Principal) -> TaskInfo:
        """Queue one task (see :meth:`submit_many`)."""
        return (await self.submit_many([task], principal))[0]

    async def submit_many(self, tasks: Sequence[Task], principal: Principal) -> list[TaskInfo]:
        """Validate, persist (awaited) and queue tasks. A task whose idempotency key is
        already known is not queued again: the earlier task is returned with
        ``duplicate=True``. Unknown tools, inputs that do not fit the tool's signature and
        unknown dependencies raise ValidationError/NotFoundError and nothing is queued."""
        if not self.started:
            raise SwarmNotRunningError("the swarm is not running")
        tasks = [with_references(t) for t in tasks]
        batch: dict[str, Task] = {}
        unknown: set[str] = set()
        for task in tasks:
            if task.id in batch:
                raise ValidationError(f"two submitted tasks have the id {task.id!r}")
            self._check(task, batch, unknown)
            batch[task.id] = task
        topological(batch, known=lambda _dep: True)  # a cycle among them is refused
        if unknown:
            found = await self.store.load(sorted(unknown))
            missing = unknown - set(found)
            if missing:
                raise ValidationError(f"unknown dependencies: {', '.join(sorted(missing))}")
            for stored in found.values():
                self._finished.setdefault(stored.task.id, TaskRun.from_stored(stored))
        infos: dict[str, TaskInfo] = {}
        fresh: list[Task] = []
        for task in tasks:
            known = self._by_key.get(task.key)
            if known is not None:
                infos[task.id] = self._info(known, duplicate=True)
            else:
                fresh.append(task)
        now = time.time()
        results = await self.store.insert_tasks(
            [task_row(t, TaskState.PENDING, principal.actor, now) for t in fresh]
        )
        runs: list[TaskRun] = []
        duplicates = {
            t.id: existing
            for t, existing in zip(fresh, results, strict=True)
            if existing is not None
        }
        if duplicates:
            found = await self.store.load(sorted(set(duplicates.values())))
            for task_id, existing in duplicates.items():
                infos[task_id] = (
                    self._info(existing, duplicate=True)
                    if existing in self._runs
                    else stored_info(found[existing], duplicate=True)
                )
        for task in fresh:
            if task.id in duplicates:
                continue
            run = TaskRun(task=task, submitted_by=principal.actor, created_at=now)
            self._runs[task.id] = run
            self._by_key[task.key] = task.id
            runs.append(run)
            infos[task.id] = run.info()
        if runs:
            self._audit(
                principal,
                "swarm.task.submit",
                target=runs[0].id,
                count=len(runs),
                tasks=[r.id for r in runs[:20]],
                tools=sorted({r.task.tool or "<prompt>" for r in runs}),
            )
            await self._link(runs)
        return [infos[t.id] for t in tasks]

    async def _link(self, runs: Iterable[TaskRun]) -> None:
        """Connect dependencies, then queue what is ready (in the order given)."""
        runs = list(runs)
        outside = {
            d
            for r in runs
            for d in r.task.depends_on
            if d not in self._runs and d not in self._finished
        }
        if outside:
            for stored in (await self.store.load(sorted(outside))).values():
                self._finished.setdefault(stored.task.id, TaskRun.from_stored(stored))
        for run in runs:
            if run.task.deadline is not None:
                heapq.heappush(self._deadlines, (run.task.deadline, run.id))
            failed_dep = None
            for dep in run.task.depends_on:
                parent = self._runs.get(dep)
                if parent is not None and not parent.persisted:
                    run.waiting.add(dep)
                    parent.dependants.append(run.id)
                    continue
                parent = parent or self._finished.get(dep)
                if parent is None or parent.state is not TaskState.SUCCEEDED:
                    failed_dep = (dep, parent.state.value if parent else "missing")
                    continue
                entry = self._dep_values.setdefault(dep, [parent.result, 0])
                entry[1] += 1
            if failed_dep is not None:
                self._finish(
                    run,
                    TaskState.CANCELLED,
                    code="dependency_failed",
                    error=f"dependency {failed_dep[0]} ended {failed_dep[1]}",
                )
            elif not run.waiting:
                self._make_ready(run)

    async def submit_graph(self, graph: TaskGraph, principal: Principal) -> GraphInfo:
        """Check the graph (cycles, unknown dependencies) and submit all of it at once."""
        ordered = graph.order(known=lambda t: t in self._runs or t in self._finished)
        infos = await self.submit_many(ordered, principal)
        return GraphInfo(
            id=graph.id, tasks=tuple(infos), outputs=tuple(graph.outputs or graph.sinks())
        )

    async def submit_job(self, job: Job, principal: Principal) -> GraphInfo:
        """Decompose ``job`` (rules, or the planner for prompts) and submit the graph."""
        return await self.submit_graph(await self.decomposer.decompose(job), principal)

    def _info(self, task_id: str, *, duplicate: bool = False) -> TaskInfo:
        run = self._runs.get(task_id) or self._finished.get(task_id)
        if run is None:
            raise NotFoundError(f"no task {task_id!r}")
        return run.info(duplicate=duplicate)

    async def task(self, task_id: str) -> TaskInfo:
        """The task's current snapshot (from memory, else from the history)."""
        try:
            return self._info(task_id)
        except NotFoundError:
            found = await self.store.load([task_id])
            if task_id not in found:
                raise
            return stored_info(found[task_id])

    async def wait(self, task_id: str, timeout: float | None = None) -> TaskInfo:
        """Wait until the task's final state is recorded; TimeoutError after ``timeout``."""
        run = self._runs.get(task_id)
        if run is None or run.persisted:
            return await self.task(task_id)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        run.waiters.append(waiter)
        await asyncio.wait_for(waiter, timeout)
        return run.info()

    async def run(self, task: Task, principal: Principal, timeout: float | None = None) -> TaskInfo:
        """Submit and wait for the final state."""
        info = await self.submit(task, principal)
        return await self.wait(info.id, timeout)

    async def wait_graph(self, graph: GraphInfo, timeout: float | None = None) -> list[TaskInfo]:
        """Wait for every task of the graph; returns the output tasks' final snapshots."""
        await asyncio.wait_for(asyncio.gather(*(self.wait(t.id) for t in graph.tasks)), timeout)
        return [await self.task(tid) for tid in graph.outputs]

    async def cancel(self, task_id: str, principal: Principal) -> TaskInfo:
        """Cancel an unfinished task (its running attempts are told to stop)."""
        run = self._runs.get(task_id)
        if run is None:
            info = await self.task(task_id)
            if info.state.final:
                return info
            raise NotFoundError(f"no task {task_id!r}")
        self._finish(
            run, TaskState.CANCELLED, code="cancelled", error=f"cancelled by {principal.actor}"
        )
        self._audit(principal, "swarm.task.cancel", target=task_id)
        return await self.wait(task_id)

    async def history(
        self, *, limit: int = 100, state: TaskState | None = None, graph_id: str | None = None
    ) -> list[TaskInfo]:
        """Recorded tasks, newest first (survives restarts)."""
        await self.store.flush()
        return [
            stored_info(s)
            for s in await self.store.history(limit=limit, state=state, graph_id=graph_id)
        ]

    # -- consensus on request --------------------------------------------------------------
    async def decide(
        self,
        votes: Sequence[Vote],
        policy: ConsensusPolicy,
        principal: Principal,
        *,
        expected: int | None = None,
        subject: str = "",
    ) -> Outcome:
        """Decide ad-hoc votes (the ``swarm.consensus`` operation); every vote and the
        outcome are audited."""
        policy.validate()
        outcome = self.consensus.decide(votes, policy, expected=expected)
        for vote in votes:
            await self.audit.record(
                principal,
                "swarm.vote",
                target=subject,
                agent=vote.agent,
                value=vote.value,
                confidence=vote.confidence,
                reputation=vote.reputation,
            )
        await self.audit.record(
            principal,
            "swarm.consensus",
            target=subject,
            outcome="ok" if outcome.agreed else "error",
            **outcome.to_json(),
        )
        return outcome

    def stats(self) -> SwarmStats:
        agents = self.backend.agents()
        return SwarmStats(
            backend=self.backend.name,
            agents=sum(1 for a in agents if not a.state.final),
            agents_ready=sum(1 for a in agents if a.state.value == "ready"),
            queued=len(self._queues),
            unfinished=len(self._runs),
            completed=self.completed,
            late_replies=self.late_replies,
            duplicates_suppressed=self.duplicates_suppressed,
            respawns=self.respawns,
        )


def make_backend(settings: SwarmSettings) -> Backend:
    """The backend ``settings.backend`` names (Dask is imported only when chosen)."""
    if settings.backend == "dask":
        from chimera_engine.swarm.dask_backend import DaskBackend

        return DaskBackend(settings)
    from chimera_engine.swarm.local import LocalBackend

    return LocalBackend(settings)
