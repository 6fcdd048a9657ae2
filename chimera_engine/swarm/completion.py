"""Deciding a task: consensus over replicas, the final state, recording it once,
releasing dependants, and deadlines.

One part of :class:`~chimera_engine.swarm.coordinator.SwarmCoordinator`. A final
state is decided once, in memory, at once (later replies are ignored and
counted); it is then recorded (one result per idempotency key) and only after
the commit are waiters and dependants released.
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from chimera_engine.events import EventBus
from chimera_engine.swarm.backend import Backend
from chimera_engine.swarm.ballots import ballots_json
from chimera_engine.swarm.consensus import ConsensusEngine
from chimera_engine.swarm.core import SYSTEM, Background, SwarmState
from chimera_engine.swarm.events import ConsensusDecided, TaskChanged, TaskQuarantined
from chimera_engine.swarm.models import TaskState
from chimera_engine.swarm.runs import TaskRun
from chimera_engine.swarm.settings import SwarmSettings
from chimera_engine.swarm.store import SwarmStore

log = logging.getLogger(__name__)
FINISHED_KEPT = 10_000
"""Finished tasks kept in memory for fast lookups (older ones are read from the store)."""


class TaskCompletion:
    """Decides and records final states. ``ready`` is called for a dependant whose last
    dependency succeeded (it queues the dependant's replicas)."""

    def __init__(
        self,
        *,
        state: SwarmState,
        settings: SwarmSettings,
        backend: Backend,
        consensus: ConsensusEngine,
        store: SwarmStore,
        bus: EventBus,
        background: Background,
        ready: Callable[[TaskRun], None],
    ) -> None:
        self._state = state
        self.settings = settings
        self.backend = backend
        self.consensus = consensus
        self.store = store
        self.bus = bus
        self._background = background
        self._audit = background.record
        self._make_ready = ready

    def quarantine(self, run: TaskRun, reason: str, limit: int) -> None:
        message = (
            f"quarantined: {run.crashes} of its attempts lost their agent "
            f"(limit {limit}); last: {reason}"
        )
        self.finish(run, TaskState.QUARANTINED, error=message, code="quarantined")
        self.bus.publish(TaskQuarantined(task_id=run.id, crashes=run.crashes, reason=reason))

    # -- deciding ----------------------------------------------------------------------------
    def replica_closed(self, run: TaskRun) -> None:
        run.open -= 1
        if run.open > 0:
            return
        if run.task.redundancy == 1:
            if run.votes:
                self.finish(run, TaskState.SUCCEEDED, value=run.votes[0].value, has_value=True)
            else:
                code, error = run.last_error
                self.finish(run, TaskState.FAILED, error=error, code=code or "tool_error")
            return
        outcome = self.consensus.decide(run.votes, run.task.consensus, expected=run.task.redundancy)
        for vote in run.votes:
            rep = self.backend.reputation(vote.agent)
            if rep is not None and outcome.agreed:
                (rep.agreed if vote.agent in outcome.winners else rep.dissented)()
            self._audit(
                SYSTEM,
                "swarm.vote",
                target=run.id,
                agent=vote.agent,
                value=vote.value,
                confidence=vote.confidence,
                reputation=round(vote.reputation, 4),
            )
        summary = outcome.to_json()
        recorded = {**summary, "ballots": ballots_json(run.votes, outcome)}
        self.bus.publish(ConsensusDecided(task_id=run.id, outcome=recorded))
        self._audit(
            SYSTEM,
            "swarm.consensus",
            target=run.id,
            outcome="ok" if outcome.agreed else "error",
            **summary,
        )
        if outcome.agreed:
            self.finish(
                run, TaskState.SUCCEEDED, value=outcome.value, has_value=True, outcome=recorded
            )
        else:
            code, error = run.last_error
            detail = outcome.reason + (f"; failed replicas: {error}" if error else "")
            self.finish(
                run, TaskState.FAILED, error=detail, code=outcome.status.value, outcome=recorded
            )

    def finish(
        self,
        run: TaskRun,
        state: TaskState,
        *,
        value: Any = None,
        has_value: bool = False,
        error: str = "",
        code: str = "",
        outcome: dict[str, Any] | None = None,
    ) -> None:
        """Decide ``run``'s final state now; persisting and releasing waiters follow."""
        if run.state.final:
            return
        if not run.ready:  # dependencies already released count this task: let go of them
            for dep in run.task.depends_on:
                if dep not in run.waiting:
                    self._state.unref(dep)
            run.ready = True
        for attempt in run.active.values():
            if attempt.agent:
                self.backend.cancel(attempt)
            else:
                self._state.queues.drop(attempt.id)
        run.active.clear()
        now = time.time()
        run.state, run.updated_at, run.finished_at = state, now, now
        run.result, run.has_result = value, has_value
        run.error, run.error_code, run.outcome = error, code, outcome
        self.bus.publish(
            TaskChanged(
                task_id=run.id,
                state=state.value,
                agent=run.agent,
                error_code=code,
                graph_id=run.task.graph_id,
                tool=run.task.tool or "",
            )
        )
        if state is not TaskState.SUCCEEDED:
            self._audit(
                SYSTEM,
                f"swarm.task.{state.value}",
                target=run.id,
                outcome="ok" if state is TaskState.CANCELLED else "error",
                code=code,
                error=error[:500],
                attempts=run.attempts,
                crashes=run.crashes,
            )
        elif self.settings.audit_results:
            self._audit(SYSTEM, "swarm.task.succeeded", target=run.id, agent=run.agent)
        self._background.spawn(self._persist(run), f"swarm-finish-{run.id}")

    async def _persist(self, run: TaskRun) -> None:
        fields = {
            "state": run.state.value,
            "attempts": run.attempts,
            "crashes": run.crashes,
            "agent": run.agent,
            "error": run.error[:4000],
            "error_code": run.error_code,
            "ran_version": run.ran_version,
            "updated_at": run.updated_at,
            "finished_at": run.finished_at,
            "outcome": None if run.outcome is None else json.dumps(run.outcome, default=str),
        }
        agents = sorted({v.agent for v in run.votes})
        result = (run.task.key, run.result, agents, time.time()) if run.has_result else None
        try:
            recorded = await self.store.finish(run.id, fields, result)
        except Exception as exc:  # the task stays unfinished on disk and resumes at restart
            log.error("could not record task %s: %s", run.id, exc)
        else:
            if result is not None and not recorded:
                self._state.duplicates_suppressed += 1
        self._state.completed += 1
        run.persisted = True
        self._state.runs.pop(run.id, None)
        self._state.finished[run.id] = run
        while len(self._state.finished) > FINISHED_KEPT:
            _, old = self._state.finished.popitem(last=False)
            if self._state.by_key.get(old.task.key) == old.id:
                # the store still refuses the key a second time
                del self._state.by_key[old.task.key]
        run.release()
        self._release_dependants(run)

    def _release_dependants(self, run: TaskRun) -> None:
        if not run.dependants:
            return
        if run.state is TaskState.SUCCEEDED:
            self._state.dep_values[run.id] = [run.result, len(run.dependants)]
        for dep_id in run.dependants:
            child = self._state.runs.get(dep_id)
            if child is None or child.state.final:
                self._state.unref(run.id)
                continue
            if run.state is not TaskState.SUCCEEDED:
                self._state.unref(run.id)
                self.finish(
                    child,
                    TaskState.CANCELLED,
                    code="dependency_failed",
                    error=f"dependency {run.id} ended {run.state.value}",
                )
                continue
            child.waiting.discard(run.id)
            if not child.waiting:
                self._make_ready(child)
        run.dependants = []

    def sweep_deadlines(self) -> None:
        now = time.time()
        while self._state.deadlines and self._state.deadlines[0][0] <= now:
            _, task_id = heapq.heappop(self._state.deadlines)
            run = self._state.runs.get(task_id)
            if run is not None and not run.state.final:
                self.finish(
                    run,
                    TaskState.FAILED,
                    code="deadline",
                    error=f"missed its deadline ({run.task.deadline:.3f})",
                )
