"""In-memory state of the coordinator: one :class:`TaskRun` per unfinished (or recently
finished) task, and the priority queues of attempts waiting for an agent."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from chimera_engine.swarm.backend import Attempt
from chimera_engine.swarm.consensus import Vote
from chimera_engine.swarm.models import Task, TaskInfo, TaskState
from chimera_engine.swarm.store import StoredTask


@dataclass(eq=False, kw_only=True)
class TaskRun:
    """A task's progress. ``waiting`` holds unfinished dependencies; ``open`` counts the
    replicas still owing an outcome; ``persisted`` is set once the final state is
    committed (only then are waiters released)."""

    task: Task
    state: TaskState = TaskState.PENDING
    submitted_by: str = ""
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    finished_at: float | None = None
    attempts: int = 0
    crashes: int = 0
    tool_errors: int = 0
    seq: int = 0
    epoch: str = ""  # set on resume, so attempt ids never repeat those of an earlier run
    agent: str = ""
    ran_version: int | None = None
    waiting: set[str] = field(default_factory=set)
    dependants: list[str] = field(default_factory=list)
    ready: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)
    active: dict[str, Attempt] = field(default_factory=dict)
    used_agents: set[str] = field(default_factory=set)
    votes: list[Vote] = field(default_factory=list)
    open: int = 0
    last_error: tuple[str, str] = ("", "")
    result: Any = None
    has_result: bool = False
    error: str = ""
    error_code: str = ""
    outcome: dict[str, Any] | None = None
    persisted: bool = False
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.task.id

    def info(self, *, duplicate: bool = False) -> TaskInfo:
        t = self.task
        return TaskInfo(
            id=t.id,
            graph_id=t.graph_id,
            tool=t.tool,
            tool_version=self.ran_version if self.ran_version is not None else t.tool_version,
            prompt=t.prompt,
            role=t.role,
            state=self.state,
            priority=t.priority,
            idempotency_key=t.key,
            attempts=self.attempts,
            crashes=self.crashes,
            agent=self.agent,
            result=self.result,
            error=self.error,
            error_code=self.error_code,
            consensus=self.outcome,
            created_at=self.created_at,
            updated_at=self.updated_at or self.created_at,
            finished_at=self.finished_at,
            deadline=t.deadline,
            duplicate=duplicate,
            depends_on=t.depends_on,
        )

    def release(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()

    @classmethod
    def from_stored(cls, stored: StoredTask) -> TaskRun:
        return cls(
            task=stored.task,
            state=stored.state,
            created_at=stored.created_at,
            updated_at=stored.updated_at,
            finished_at=stored.finished_at,
            attempts=stored.attempts,
            crashes=stored.crashes,
            agent=stored.agent,
            ran_version=stored.ran_version,
            result=stored.result,
            has_result=stored.has_result,
            error=stored.error,
            error_code=stored.error_code,
            outcome=stored.outcome,
            persisted=True,
        )


def stored_info(stored: StoredTask, *, duplicate: bool = False) -> TaskInfo:
    return TaskRun.from_stored(stored).info(duplicate=duplicate)


QueueKey = tuple[str, frozenset[str]]


class AttemptQueues:
    """Attempts waiting for an agent, one priority queue per (role, required capabilities):
    higher ``priority`` first, then first come first served. Dropped attempts (their
    task finished meanwhile) are skipped lazily."""

    def __init__(self) -> None:
        self._queues: dict[QueueKey, list[tuple[int, int, Attempt]]] = {}
        self._counter = itertools.count()
        self._dropped: set[str] = set()

    def push(self, attempt: Attempt) -> None:
        key = (attempt.role, attempt.requires)
        heapq.heappush(
            self._queues.setdefault(key, []), (-attempt.priority, next(self._counter), attempt)
        )

    def push_back(self, attempts: list[Attempt]) -> None:
        for attempt in attempts:
            self.push(attempt)

    def drop(self, attempt_id: str) -> None:
        self._dropped.add(attempt_id)

    def nonempty(self) -> list[QueueKey]:
        return [k for k, q in self._queues.items() if q]

    def pop(self, key: QueueKey) -> Attempt | None:
        queue = self._queues.get(key)
        while queue:
            _, _, attempt = heapq.heappop(queue)
            if attempt.id in self._dropped:
                self._dropped.discard(attempt.id)
                continue
            return attempt
        return None

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values()) - len(self._dropped)

    def waiting(self) -> Iterator[Attempt]:
        for queue in self._queues.values():
            for _, _, attempt in queue:
                if attempt.id not in self._dropped:
                    yield attempt
