"""Shared state and plumbing of the coordinator, the base of its parts.

:class:`~chimera_engine.swarm.coordinator.SwarmCoordinator` is assembled from
mixins that each do one job (:mod:`.submission`, :mod:`.lifecycle`,
:mod:`.completion`, :mod:`.fleet`); they share the attributes declared here,
which the coordinator's ``__init__`` sets.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Coroutine
from typing import Any, Protocol

from chimera_engine.events import EventBus
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.backend import Backend
from chimera_engine.swarm.consensus import ConsensusEngine
from chimera_engine.swarm.credentials import NodeCredentials
from chimera_engine.swarm.models import AgentSpec
from chimera_engine.swarm.runs import AttemptQueues, TaskRun
from chimera_engine.swarm.settings import SwarmSettings
from chimera_engine.swarm.store import SwarmStore
from chimera_engine.swarm.tools import ToolSource

log = logging.getLogger(__name__)
SYSTEM = Principal.system("swarm")


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


class SwarmCore:
    settings: SwarmSettings
    backend: Backend
    store: SwarmStore
    tools: ToolSource
    bus: EventBus
    audit: AuditSink
    credentials: NodeCredentials
    consensus: ConsensusEngine
    started: bool
    _stopping: bool
    _tasks: set[asyncio.Task[Any]]
    _runs: dict[str, TaskRun]
    _finished: OrderedDict[str, TaskRun]
    _by_key: dict[str, str]
    _dep_values: dict[str, list[Any]]
    _queues: AttemptQueues
    _deadlines: list[tuple[float, str]]
    _succeeded_on: dict[str, set[str]]
    _specs: dict[str, AgentSpec]
    _respawned: deque[float]
    _reserved: int
    _pump_scheduled: bool
    late_replies: int
    duplicates_suppressed: int
    completed: int
    respawns: int
    round_trips: deque[float]

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
