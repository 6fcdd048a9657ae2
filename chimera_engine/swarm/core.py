"""What the parts of the coordinator share: the task table (:class:`SwarmState`) and
the background work (:class:`Background`: spawned asyncio tasks and audit writes).

:class:`~chimera_engine.swarm.coordinator.SwarmCoordinator` builds one of each and
hands them to its parts (:mod:`.fleet`, :mod:`.submission`, :mod:`.lifecycle`,
:mod:`.completion`), each of which receives only what it uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from chimera_engine.errors import NotFoundError
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.models import TaskInfo
from chimera_engine.swarm.runs import AttemptQueues, TaskRun

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


@dataclass(eq=False)
class SwarmState:
    """The swarm's tasks in memory and its counters. ``runs``: unfinished tasks;
    ``finished``: the latest finished ones (bounded); ``by_key``: idempotency key to
    task id; ``dep_values``: a finished dependency's result and how many dependants
    still need it; ``deadlines``: a heap of (deadline, task id); ``succeeded_on``:
    per tool version, the agents it worked on."""

    runs: dict[str, TaskRun] = field(default_factory=dict)
    finished: OrderedDict[str, TaskRun] = field(default_factory=OrderedDict)
    by_key: dict[str, str] = field(default_factory=dict)
    dep_values: dict[str, list[Any]] = field(default_factory=dict)
    queues: AttemptQueues = field(default_factory=AttemptQueues)
    deadlines: list[tuple[float, str]] = field(default_factory=list)
    succeeded_on: dict[str, set[str]] = field(default_factory=dict)
    started: bool = False
    stopping: bool = True
    late_replies: int = 0
    duplicates_suppressed: int = 0
    completed: int = 0
    respawns: int = 0
    round_trips: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    def known(self, task_id: str) -> bool:
        return task_id in self.runs or task_id in self.finished

    def held(self, task_id: str) -> TaskRun | None:
        """The task if it is held in memory (unfinished, or among the latest finished)."""
        return self.runs.get(task_id) or self.finished.get(task_id)

    def info(self, task_id: str, *, duplicate: bool = False) -> TaskInfo:
        run = self.held(task_id)
        if run is None:
            raise NotFoundError(f"no task {task_id!r}")
        return run.info(duplicate=duplicate)

    def unref(self, dep: str) -> None:
        """One dependant less needs ``dep``'s result; the last one lets it go."""
        entry = self.dep_values.get(dep)
        if entry is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                del self.dep_values[dep]


class Background:
    """The coordinator's asyncio tasks (kept referenced, failures logged) and its audit
    entries, written without making the caller wait."""

    def __init__(self, audit: AuditSink) -> None:
        self.audit = audit
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> Any:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("swarm task %s failed", task.get_name(), exc_info=task.exception())

    def record(
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

        self.spawn(write(), f"swarm-audit-{action}")
