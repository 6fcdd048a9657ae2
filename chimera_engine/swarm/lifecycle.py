"""How a task moves: ready -> queued attempts -> agents -> votes -> final state.

One part of :class:`~chimera_engine.swarm.coordinator.SwarmCoordinator`.
Everything here runs on the loop thread and never blocks: persistence is
queued to :class:`SwarmStore`, audit entries to the audit log.

Rules: a tool error or a timeout reported by the agent fails the replica (retried
on another agent while ``retries`` allow); bad inputs or a version that does not
load fail the task at once; an attempt lost with its agent (death, hang) is
reassigned, and counts towards ``max_attempts``, after which the task is
quarantined. What happens next is :mod:`.completion`'s job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from chimera_engine.errors import ChimeraError
from chimera_engine.events import EventBus
from chimera_engine.swarm.backend import Attempt, Backend
from chimera_engine.swarm.completion import TaskCompletion
from chimera_engine.swarm.consensus import Vote
from chimera_engine.swarm.core import SYSTEM, Background, SwarmState
from chimera_engine.swarm.events import TaskChanged
from chimera_engine.swarm.models import ConsensusMethod, TaskState, as_ref, shape_ref
from chimera_engine.swarm.runs import TaskRun
from chimera_engine.swarm.settings import SwarmSettings
from chimera_engine.swarm.store import SwarmStore
from chimera_engine.swarm.tools import ToolRef, ToolSource

log = logging.getLogger(__name__)
_FATAL = frozenset({"invalid_input", "load_error", "unknown_tool", "not_json", "too_large"})
_MAX_DEFERRED = 32


class TaskLifecycle:
    """Queues the replicas of ready tasks, hands attempts to the backend as it has room,
    and takes the backend's replies; final states are decided by ``completion``."""

    def __init__(
        self,
        *,
        state: SwarmState,
        settings: SwarmSettings,
        tools: ToolSource,
        backend: Backend,
        store: SwarmStore,
        bus: EventBus,
        background: Background,
        completion: TaskCompletion,
    ) -> None:
        self._state = state
        self.settings = settings
        self.tools = tools
        self.backend = backend
        self.store = store
        self.bus = bus
        self._audit = background.record
        self._completion = completion
        self._finish = completion.finish
        self._pump_scheduled = False

    # -- becoming ready --------------------------------------------------------------------
    def _resolve(self, run: TaskRun) -> ToolRef:
        task = run.task
        name = task.tool if task.tool is not None else self.settings.prompt_tool
        version = task.tool_version if task.tool_version is not None else run.ran_version
        return self.tools.resolve(name, version)

    def _inputs(self, run: TaskRun) -> dict[str, Any]:
        task = run.task
        inputs: dict[str, Any] = {}
        for name, value in task.inputs.items():
            ref = as_ref(value)
            if ref is None:
                inputs[name] = value
                continue
            many, ids = ref
            inputs[name] = shape_ref(value, [self._state.dep_values[d][0] for d in ids], many)
        if task.prompt is not None:
            inputs = {"prompt": task.prompt, **inputs}
        return inputs

    def make_ready(self, run: TaskRun) -> None:
        """All dependencies succeeded: resolve the tool, build inputs, queue every replica."""
        run.ready = True
        try:
            ref = self._resolve(run)
            inputs = self._inputs(run)
            if ref.check is not None:
                ref.check(inputs)
        except ChimeraError as exc:
            code = "unknown_tool" if exc.code == "not_found" else "invalid_input"
            self._finish(run, TaskState.FAILED, error=str(exc), code=code)
            return
        finally:
            for dep in run.task.depends_on:
                self._state.unref(dep)
        run.ran_version, run.inputs = ref.version, inputs
        run.open = run.task.redundancy
        for replica in range(run.task.redundancy):
            self.queue_replica(run, replica, ref)

    def queue_replica(self, run: TaskRun, replica: int, ref: ToolRef | None = None) -> None:
        if ref is None:
            try:
                ref = self._resolve(run)
            except ChimeraError as exc:
                self._finish(run, TaskState.FAILED, error=str(exc), code="unknown_tool")
                return
        task = run.task
        timeout = task.timeout or ref.timeout or self.settings.task_timeout
        if task.deadline is not None:
            timeout = min(timeout, max(0.001, task.deadline - time.time()))
        run.seq += 1
        attempt = Attempt(
            id=f"{task.id}#{run.seq}{run.epoch}",
            task_id=task.id,
            replica=replica,
            ref=ref,
            inputs=run.inputs,
            timeout=timeout,
            role=task.role,
            requires=task.requires,
            priority=task.priority,
            isolate=run.crashes > 0,
        )
        run.active[attempt.id] = attempt
        self._state.queues.push(attempt)
        self._schedule_pump()

    # -- dispatching -----------------------------------------------------------------------
    def _schedule_pump(self) -> None:
        if not self._pump_scheduled and not self._state.stopping:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def capacity_changed(self) -> None:
        self._schedule_pump()

    def _pump(self) -> None:
        self._pump_scheduled = False
        if self._state.stopping:
            return
        now = time.time()
        for key in self._state.queues.nonempty():
            deferred: list[Attempt] = []
            while len(deferred) < _MAX_DEFERRED:
                attempt = self._state.queues.pop(key)
                if attempt is None:
                    break
                run = self._state.runs.get(attempt.task_id)
                if run is None or attempt.id not in run.active:
                    continue
                attempt.exclude = frozenset(run.used_agents)  # replicas go to distinct agents
                if run.task.redundancy > 1:
                    attempt.apart = frozenset(
                        {v.agent for v in run.votes}
                        | {a.agent for a in run.active.values() if a is not attempt and a.agent}
                    )
                if not self.backend.place(attempt):
                    deferred.append(attempt)
                    if not attempt.exclude:
                        break
                    continue
                attempt.started_wall = now
                run.attempts += 1
                run.agent = attempt.agent
                run.used_agents.add(attempt.agent)
                if run.state is not TaskState.RUNNING:
                    self.set_state(run, TaskState.ASSIGNED, now)
                else:
                    self.store.update(run.id, attempts=run.attempts, agent=run.agent)
            self._state.queues.push_back(deferred)

    def set_state(self, run: TaskRun, state: TaskState, now: float | None = None) -> None:
        run.state = state
        run.updated_at = now or time.time()
        self.store.update(
            run.id,
            state=state.value,
            attempts=run.attempts,
            crashes=run.crashes,
            agent=run.agent,
            ran_version=run.ran_version,
            updated_at=run.updated_at,
        )
        self.bus.publish(
            TaskChanged(
                task_id=run.id,
                state=state.value,
                agent=run.agent,
                graph_id=run.task.graph_id,
                tool=run.task.tool or "",
            )
        )

    # -- replies from the backend --------------------------------------------------------------
    def _take(self, attempt: Attempt) -> TaskRun | None:
        run = self._state.runs.get(attempt.task_id)
        if run is None or run.state.final or run.active.pop(attempt.id, None) is None:
            self._state.late_replies += 1
            return None
        return run

    def _attempt_row(self, attempt: Attempt, outcome: str, error: str, ms: float | None) -> None:
        self.store.attempt(
            (
                attempt.id,
                attempt.task_id,
                attempt.replica,
                attempt.agent,
                attempt.ref.version,
                outcome,
                error[:2000],
                attempt.started_wall,
                time.time(),
                ms,
            )
        )

    def on_started(self, attempt: Attempt) -> None:
        run = self._state.runs.get(attempt.task_id)
        if run is not None and not run.state.final and run.state is not TaskState.RUNNING:
            self.set_state(run, TaskState.RUNNING)

    def on_done(self, attempt: Attempt, reply: dict[str, Any]) -> None:
        run = self._take(attempt)
        if run is None:
            return
        if attempt.sent_at:
            self._state.round_trips.append(time.monotonic() - attempt.sent_at)
        run.agent = attempt.agent  # a Dask worker is known only once it answers
        rep = self.backend.reputation(attempt.agent)
        ok = bool(reply.get("ok"))
        code = "" if ok else str(reply.get("code") or "tool_error")
        error = "" if ok else str(reply.get("error", ""))
        self._attempt_row(attempt, "ok" if ok else code, error, reply.get("ms"))
        if ok:
            if rep is not None:
                rep.success()
            self._state.succeeded_on.setdefault(attempt.ref.key, set()).add(attempt.agent)
            value = reply.get("value")
            confidence = 1.0
            if (
                run.task.consensus.method is ConsensusMethod.WEIGHTED
                and isinstance(value, dict)
                and set(value) == {"value", "confidence"}
            ):
                confidence = float(value["confidence"])
                value = value["value"]
            run.votes.append(
                Vote(attempt.agent, value, confidence, rep.value if rep is not None else 1.0)
            )
            self._completion.replica_closed(run)
            return
        if code in _FATAL:
            self._finish(run, TaskState.FAILED, error=error, code=code)
            return
        if code == "cancelled":
            return
        others = self._state.succeeded_on.get(attempt.ref.key, set()) - {attempt.agent}
        if rep is not None and others:  # the same tool works elsewhere: the agent is to blame
            rep.failure()
        run.tool_errors += 1
        run.last_error = (code, error)
        if run.tool_errors <= run.task.retries:
            self.set_state(run, TaskState.REASSIGNED)
            self.queue_replica(run, attempt.replica)
        else:
            self._completion.replica_closed(run)

    def on_lost(
        self, attempt: Attempt, reason: str, crash: bool, *, poisoned: bool = False
    ) -> None:
        run = self._take(attempt)
        if run is None:
            return
        self._attempt_row(attempt, "agent_lost", reason, None)
        if crash:
            run.crashes += 1
            limit = run.task.max_attempts or self.settings.max_attempts
            if run.crashes >= limit or poisoned:
                self._completion.quarantine(run, reason, limit)
                return
        self.set_state(run, TaskState.REASSIGNED)
        self._audit(
            SYSTEM,
            "swarm.task.reassign",
            target=run.id,
            reason=reason,
            crashes=run.crashes,
            counted=crash,
        )
        self.queue_replica(run, attempt.replica)
