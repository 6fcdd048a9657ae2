"""SwarmCoordinator: the one API of the swarm, whatever the backend.

Typical use (tests/engine/swarm has complete, runnable examples)::

    swarm = SwarmCoordinator(store=SwarmStore(db), tools=RegistryToolSource(registry),
                             audit=security.audit, bus=bus,
                             credentials=ApiKeyNodeCredentials(security.api_keys),
                             settings=SwarmSettings())
    await swarm.start()
    await swarm.spawn_agent(AgentSpec(role="executor"), principal)
    info = await swarm.run(Task(tool="greet", inputs={"name": "ada"}), principal)

It owns the agents (through a :class:`Backend`), the task queue and the task
history (through :class:`SwarmStore`). It does not check permissions: callers
(the facade, :mod:`.ops`) authorise first and pass the acting principal, which
the coordinator writes to the audit log with every state change it makes.
All methods must be called on the event-loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chimera_engine.errors import NotFoundError
from chimera_engine.events import EventBus
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.backend import Backend
from chimera_engine.swarm.consensus import ConsensusEngine, Outcome, Vote
from chimera_engine.swarm.core import SYSTEM, AuditSink
from chimera_engine.swarm.credentials import NodeCredentials
from chimera_engine.swarm.decomposer import Planner, TaskDecomposer
from chimera_engine.swarm.errors import SwarmNotRunningError
from chimera_engine.swarm.fleet import AgentFleet
from chimera_engine.swarm.lifecycle import TaskLifecycle
from chimera_engine.swarm.models import (
    AgentSpec,
    ConsensusPolicy,
    Task,
    TaskInfo,
    TaskState,
    new_id,
)
from chimera_engine.swarm.runs import AttemptQueues, TaskRun, stored_info
from chimera_engine.swarm.settings import SwarmSettings, parse_initial_agents
from chimera_engine.swarm.store import SwarmStore
from chimera_engine.swarm.submission import GraphInfo, TaskSubmission
from chimera_engine.swarm.tools import ToolSource

log = logging.getLogger(__name__)
Spawner = Callable[[Coroutine[Any, Any, Any], str], object]
_SERVICES = ("swarm-sweeper", "swarm-agent-", "swarm-dask-", "swarm-respawn-")


@dataclass(frozen=True, kw_only=True)
class SwarmStats:
    """Counters for the console. ``round_trip_*`` is dispatch to reply, over the last
    10,000 attempts (milliseconds); ``late_replies`` were ignored because their task was
    already decided; ``duplicates_suppressed`` results found their key already recorded."""

    backend: str
    agents: int
    agents_ready: int
    queued: int
    unfinished: int
    completed: int
    late_replies: int
    duplicates_suppressed: int
    respawns: int
    round_trip_p50_ms: float
    round_trip_p99_ms: float
    scheduler: str = ""
    scheduler_unreachable_since: float | None = None
    scheduler_error: str = ""

    def scheduler_note(self) -> str:
        """ "" while the backend is connected, else since when the scheduler is unreachable."""
        if self.scheduler_unreachable_since is None:
            return ""
        since = datetime.fromtimestamp(self.scheduler_unreachable_since).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        why = f" ({self.scheduler_error})" if self.scheduler_error else ""
        return (
            f"scheduler {self.scheduler} unreachable since {since}{why}; "
            "queued work waits, reconnecting"
        )


class SwarmCoordinator(TaskSubmission, AgentFleet, TaskLifecycle):
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
        self.round_trips: deque[float] = deque(maxlen=10_000)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect the backend, resume unfinished tasks, spawn ``initial_agents``."""
        if self.started:
            return
        key = await self.credentials.issue()
        try:
            await self.backend.start(self, key)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.credentials.revoke()
            raise
        self._stopping, self.started = False, True
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
        if not self.started:
            return
        self._stopping, self.started = True, False
        await self.backend.stop()
        for task in tuple(self._tasks):  # services end; recording and auditing complete
            if task.get_name().startswith(_SERVICES):
                task.cancel()
        await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
        await self.store.flush()
        for run in self._runs.values():
            for waiter in run.waiters:
                if not waiter.done():
                    waiter.set_exception(SwarmNotRunningError("the swarm stopped"))
            run.waiters.clear()
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
            run.epoch = f".{new_id()[:8]}"
            self._runs[run.id] = run
            self._by_key[run.task.key] = run.id
            if run.state is not TaskState.PENDING:
                self._set_state(run, TaskState.REASSIGNED)
        await self._link(runs)
        return len(runs)

    def _info(self, task_id: str, *, duplicate: bool = False) -> TaskInfo:
        run = self._runs.get(task_id) or self._finished.get(task_id)
        if run is None:
            raise NotFoundError(f"no task {task_id!r}")
        return run.info(duplicate=duplicate)

    def owner(self, task_id: str) -> str | None:
        """Who submitted the task (its audit actor); None when it is not held in memory."""
        run = self._runs.get(task_id) or self._finished.get(task_id)
        return None if run is None else run.submitted_by

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
            run = await self._adopt(task_id)  # recorded, not resumed here: cancelled in place
        self._finish(
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
        self._runs[run.id] = run
        self._by_key[run.task.key] = run.id
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
            queued=len(self._queues),
            unfinished=len(self._runs),
            completed=self.completed,
            late_replies=self.late_replies,
            duplicates_suppressed=self.duplicates_suppressed,
            respawns=self.respawns,
            round_trip_p50_ms=_percentile(self.round_trips, 0.5) * 1e3,
            round_trip_p99_ms=_percentile(self.round_trips, 0.99) * 1e3,
        )


def _percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def make_backend(settings: SwarmSettings) -> Backend:
    """The backend ``settings.backend`` names (Dask is imported only when chosen)."""
    if settings.backend == "dask":
        from chimera_engine.swarm.dask_backend import DaskBackend

        return DaskBackend(settings)
    from chimera_engine.swarm.local import LocalBackend

    return LocalBackend(settings)
