"""SwarmCoordinator: the one API of the swarm, whatever the backend.

Typical use (tests/swarm has complete, runnable examples)::

    swarm = SwarmCoordinator(store=SwarmStore(db), tools=RegistryToolSource(registry),
                             audit=security.audit, bus=bus,
                             credentials=ApiKeyNodeCredentials(security.api_keys),
                             settings=SwarmSettings())
    await swarm.start()
    await swarm.spawn_agent(AgentSpec(role="executor"), principal)
    info = await swarm.run(Task(tool="greet", inputs={"name": "ada"}), principal)

It owns the agents (through a :class:`Backend`), the task queue and the task
history (through :class:`SwarmStore`). Its constructor wires its parts, which
share one :class:`~.core.SwarmState`: :class:`~.fleet.AgentFleet` (agents),
:class:`~.submission.TaskSubmission` (accepting tasks),
:class:`~.lifecycle.TaskLifecycle` (queueing, dispatch, replies) and
:class:`~.completion.TaskCompletion` (final states); it is itself the
:class:`~.backend.Sink` the backend reports to. It does not check permissions: callers
(the facade, :mod:`.ops`) authorise first and pass the acting principal, which
the coordinator writes to the audit log with every state change it makes.
All methods must be called on the event-loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from chimera_engine.errors import NotFoundError
from chimera_engine.events import EventBus
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.backend import Attempt, Backend
from chimera_engine.swarm.completion import TaskCompletion
from chimera_engine.swarm.consensus import ConsensusEngine, Outcome, Vote
from chimera_engine.swarm.core import SYSTEM, AuditSink, Background, SwarmState
from chimera_engine.swarm.credentials import NodeCredentials
from chimera_engine.swarm.decomposer import Job, Planner, TaskDecomposer
from chimera_engine.swarm.errors import SwarmNotRunningError
from chimera_engine.swarm.fleet import AgentFleet
from chimera_engine.swarm.graph import TaskGraph
from chimera_engine.swarm.lifecycle import TaskLifecycle
from chimera_engine.swarm.models import (
    AgentInfo,
    AgentSpec,
    ConsensusPolicy,
    Task,
    TaskInfo,
    TaskState,
    new_id,
)
from chimera_engine.swarm.runs import TaskRun, stored_info
from chimera_engine.swarm.settings import SwarmSettings, parse_initial_agents
from chimera_engine.swarm.stats import SwarmStats, percentile
from chimera_engine.swarm.store import SwarmStore
from chimera_engine.swarm.submission import GraphInfo, TaskSubmission
from chimera_engine.swarm.tools import ToolSource

__all__ = ["SwarmCoordinator", "SwarmStats", "make_backend"]

log = logging.getLogger(__name__)
Spawner = Callable[[Coroutine[Any, Any, Any], str], object]
_SERVICES = ("swarm-sweeper", "swarm-agent-", "swarm-dask-", "swarm-respawn-")


class SwarmCoordinator:
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
        self._state = state = SwarmState()
        self._background = background = Background(audit)
        self._audit = background.record
        self._completion = TaskCompletion(
            state=state,
            settings=self.settings,
            backend=self.backend,
            consensus=self.consensus,
            store=store,
            bus=bus,
            background=background,
            ready=lambda run: self._lifecycle.make_ready(run),
        )
        self._lifecycle = TaskLifecycle(
            state=state,
            settings=self.settings,
            tools=tools,
            backend=self.backend,
            store=store,
            bus=bus,
            background=background,
            completion=self._completion,
        )
        self._submission = TaskSubmission(
            state=state,
            settings=self.settings,
            tools=tools,
            store=store,
            decomposer=self.decomposer,
            background=background,
            completion=self._completion,
            lifecycle=self._lifecycle,
        )
        self._fleet = AgentFleet(
            state=state,
            settings=self.settings,
            backend=self.backend,
            credentials=credentials,
            store=store,
            bus=bus,
            background=background,
        )

    # -- counters ---------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._state.started

    @property
    def completed(self) -> int:
        return self._state.completed

    @property
    def late_replies(self) -> int:
        return self._state.late_replies

    @property
    def duplicates_suppressed(self) -> int:
        return self._state.duplicates_suppressed

    @property
    def respawns(self) -> int:
        return self._state.respawns

    @property
    def round_trips(self) -> deque[float]:
        return self._state.round_trips

    # -- the backend's sink -------------------------------------------------------------------
    def spawn_task(self, coro: Coroutine[Any, Any, Any], name: str) -> Any:
        return self._background.spawn(coro, name)

    def authenticate(self, key: str) -> Principal:
        """Check an agent's node credentials (every refusal is audited)."""
        return self._fleet.authenticate(key)

    def on_agent(self, agent: AgentInfo, change: str) -> None:
        self._fleet.on_agent(agent, change)

    def on_started(self, attempt: Attempt) -> None:
        self._lifecycle.on_started(attempt)

    def on_done(self, attempt: Attempt, reply: dict[str, Any]) -> None:
        self._lifecycle.on_done(attempt, reply)

    def on_lost(
        self, attempt: Attempt, reason: str, crash: bool, *, poisoned: bool = False
    ) -> None:
        self._lifecycle.on_lost(attempt, reason, crash, poisoned=poisoned)

    def capacity_changed(self) -> None:
        self._lifecycle.capacity_changed()

    # -- agents ---------------------------------------------------------------------------
    async def spawn_agent(self, spec: AgentSpec, principal: Principal) -> AgentInfo:
        """Start one agent and return it once ready. SwarmCapacityError past ``max_agents``,
        AgentStartError if it does not come up."""
        return await self._fleet.spawn_agent(spec, principal)

    async def stop_agent(
        self, agent_id: str, principal: Principal, *, kill: bool = False
    ) -> AgentInfo:
        """Stop an agent after its running work (``kill``: at once; its work is reassigned)."""
        return await self._fleet.stop_agent(agent_id, principal, kill=kill)

    def agents(self) -> list[AgentInfo]:
        return self.backend.agents()

    # -- submitting -------------------------------------------------------------------------
    async def submit(self, task: Task, principal: Principal) -> TaskInfo:
        """Queue one task (see :meth:`submit_many`)."""
        return await self._submission.submit(task, principal)

    async def submit_many(self, tasks: Sequence[Task], principal: Principal) -> list[TaskInfo]:
        """Validate, persist (awaited) and queue tasks; see :meth:`.TaskSubmission.submit_many`."""
        return await self._submission.submit_many(tasks, principal)

    async def submit_graph(self, graph: TaskGraph, principal: Principal) -> GraphInfo:
        """Check the graph (cycles, unknown dependencies) and submit all of it at once."""
        return await self._submission.submit_graph(graph, principal)

    async def submit_job(self, job: Job, principal: Principal) -> GraphInfo:
        """Decompose ``job`` (rules, or the planner for prompts) and submit the graph."""
        return await self._submission.submit_job(job, principal)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect the backend, resume unfinished tasks, spawn ``initial_agents``."""
        if self._state.started:
            return
        key = await self.credentials.issue()
        try:
            await self.backend.start(self, key)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.credentials.revoke()
            raise
        self._state.stopping, self._state.started = False, True
        resumed = await self._resume() if self.settings.resume else 0
        sweeper = self._sweep_loop()
        if self._spawn is not None:
            self._spawn(sweeper, "swarm-sweeper")
        else:
            self.spawn_task(sweeper, "swarm-sweeper")
        if resumed:
            self._audit(SYSTEM, "swarm.resume", resumed=resumed)
        wanted = parse_initial_agents(self.settings.initial_agents)
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
        if not self._state.started:
            return
        self._state.stopping, self._state.started = True, False
        await self.backend.stop()
        for task in tuple(self._background.tasks):  # services end; recording and auditing complete
            if task.get_name().startswith(_SERVICES):
                task.cancel()
        await asyncio.gather(*tuple(self._background.tasks), return_exceptions=True)
        await self.store.flush()
        for run in self._state.runs.values():
            for waiter in run.waiters:
                if not waiter.done():
                    waiter.set_exception(SwarmNotRunningError("the swarm stopped"))
            run.waiters.clear()
        with contextlib.suppress(Exception):
            await self.credentials.revoke()

    async def _sweep_loop(self) -> None:
        # As often as agents beat: a hung agent is still found within a beat of its
        # timeout, and an idle host is not woken more often than its agents wake it.
        interval = min(0.5, self.settings.heartbeat_interval)
        while not self._state.stopping:
            await asyncio.sleep(interval)
            self.backend.sweep(time.monotonic())
            self._completion.sweep_deadlines()

    async def _resume(self) -> int:
        stored = await self.store.load_unfinished()
        if not stored:
            return 0
        runs = [TaskRun.from_stored(s) for s in stored]
        for run in runs:
            run.persisted = False
            run.epoch = f".{new_id()[:8]}"
            self._state.runs[run.id] = run
            self._state.by_key[run.task.key] = run.id
            if run.state is not TaskState.PENDING:
                self._lifecycle.set_state(run, TaskState.REASSIGNED)
        await self._submission.link(runs)
        return len(runs)

    def owner(self, task_id: str) -> str | None:
        """Who submitted the task (its audit actor); None when it is not held in memory."""
        run = self._state.held(task_id)
        return None if run is None else run.submitted_by

    async def task(self, task_id: str) -> TaskInfo:
        """The task's current snapshot (from memory, else from the history)."""
        try:
            return self._state.info(task_id)
        except NotFoundError:
            found = await self.store.load([task_id])
            if task_id not in found:
                raise
            return stored_info(found[task_id])

    async def wait(self, task_id: str, timeout: float | None = None) -> TaskInfo:
        """Wait until the task's final state is recorded; TimeoutError after ``timeout``."""
        run = self._state.runs.get(task_id)
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
        run = self._state.runs.get(task_id)
        if run is None:
            info = await self.task(task_id)
            if info.state.final:
                return info
            run = await self._adopt(task_id)  # recorded, not resumed here: cancelled in place
        self._completion.finish(
            run, TaskState.CANCELLED, code="cancelled", error=f"cancelled by {principal.actor}"
        )
        self._audit(principal, "swarm.task.cancel", target=task_id)
        return await self.wait(task_id)

    async def _adopt(self, task_id: str) -> TaskRun:
        """An unfinished task of the history that this engine did not resume, taken over
        only to be cancelled (the ``chimera`` command; an engine serving the data dir
        owns its tasks, and the command does not write while one serves)."""
        found = await self.store.load([task_id])
        if task_id not in found:
            raise NotFoundError(f"no task {task_id!r}")
        run = TaskRun.from_stored(found[task_id])
        run.persisted = False
        self._state.runs[run.id] = run
        self._state.by_key[run.task.key] = run.id
        return run

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
        link: dict[str, Any] = {}
        status = getattr(self.backend, "status", None)
        if callable(status):
            link = status()
        return SwarmStats(
            scheduler=str(link.get("scheduler", "")),
            scheduler_unreachable_since=link.get("unreachable_since"),
            scheduler_error=str(link.get("error", "")),
            backend=self.backend.name,
            agents=sum(1 for a in agents if not a.state.final),
            agents_ready=sum(1 for a in agents if a.state.value == "ready"),
            queued=len(self._state.queues),
            unfinished=len(self._state.runs),
            completed=self._state.completed,
            late_replies=self._state.late_replies,
            duplicates_suppressed=self._state.duplicates_suppressed,
            respawns=self._state.respawns,
            round_trip_p50_ms=percentile(self._state.round_trips, 0.5) * 1e3,
            round_trip_p99_ms=percentile(self._state.round_trips, 0.99) * 1e3,
        )


def make_backend(settings: SwarmSettings) -> Backend:
    """The backend ``settings.backend`` names (Dask is imported only when chosen)."""
    if settings.backend == "dask":
        from chimera_engine.swarm.dask_backend import DaskBackend

        return DaskBackend(settings)
    from chimera_engine.swarm.local import LocalBackend

    return LocalBackend(settings)
