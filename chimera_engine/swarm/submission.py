"""Submitting tasks: validation, idempotency, persistence, dependencies, graphs and jobs.

One part of :class:`~chimera_engine.swarm.coordinator.SwarmCoordinator`.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chimera_engine.errors import ValidationError
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.completion import TaskCompletion
from chimera_engine.swarm.core import Background, SwarmState
from chimera_engine.swarm.decomposer import Job, TaskDecomposer
from chimera_engine.swarm.errors import SwarmNotRunningError
from chimera_engine.swarm.graph import TaskGraph, topological, with_references
from chimera_engine.swarm.lifecycle import TaskLifecycle
from chimera_engine.swarm.models import Task, TaskInfo, TaskState
from chimera_engine.swarm.runs import TaskRun, stored_info
from chimera_engine.swarm.settings import SwarmSettings
from chimera_engine.swarm.store import SwarmStore, task_row
from chimera_engine.swarm.tools import ToolSource


@dataclass(frozen=True, kw_only=True)
class GraphInfo:
    """A submitted task graph: its tasks in dependency order and its output tasks."""

    id: str
    tasks: tuple[TaskInfo, ...]
    outputs: tuple[str, ...]


class TaskSubmission:
    """Accepts tasks, graphs and jobs: checks them, records them (awaited), links their
    dependencies and queues what is ready through ``lifecycle``."""

    def __init__(
        self,
        *,
        state: SwarmState,
        settings: SwarmSettings,
        tools: ToolSource,
        store: SwarmStore,
        decomposer: TaskDecomposer,
        background: Background,
        completion: TaskCompletion,
        lifecycle: TaskLifecycle,
    ) -> None:
        self._state = state
        self.settings = settings
        self.tools = tools
        self.store = store
        self.decomposer = decomposer
        self._audit = background.record
        self._finish = completion.finish
        self._make_ready = lifecycle.make_ready

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
            if dep not in batch and not self._state.known(dep):
                unknown.add(dep)

    async def submit(self, task: Task, principal: Principal) -> TaskInfo:
        """Queue one task (see :meth:`submit_many`)."""
        return (await self.submit_many([task], principal))[0]

    async def submit_many(self, tasks: Sequence[Task], principal: Principal) -> list[TaskInfo]:
        """Validate, persist (awaited) and queue tasks. A task whose idempotency key is
        already known is not queued again: the earlier task is returned with
        ``duplicate=True``. Unknown tools, inputs that do not fit the tool's signature and
        unknown dependencies raise ValidationError/NotFoundError and nothing is queued."""
        if not self._state.started:
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
                self._state.finished.setdefault(stored.task.id, TaskRun.from_stored(stored))
        infos: dict[str, TaskInfo] = {}
        fresh: list[Task] = []
        for task in tasks:
            known = self._state.by_key.get(task.key)
            if known is not None:
                infos[task.id] = self._state.info(known, duplicate=True)
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
                    self._state.info(existing, duplicate=True)
                    if existing in self._state.runs
                    else stored_info(found[existing], duplicate=True)
                )
        for task in fresh:
            if task.id in duplicates:
                continue
            run = TaskRun(task=task, submitted_by=principal.actor, created_at=now)
            self._state.runs[task.id] = run
            self._state.by_key[task.key] = task.id
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
            await self.link(runs)
        return [infos[t.id] for t in tasks]

    async def link(self, runs: Iterable[TaskRun]) -> None:
        """Connect dependencies, then queue what is ready (in the order given)."""
        runs = list(runs)
        outside = {d for r in runs for d in r.task.depends_on if not self._state.known(d)}
        if outside:
            for stored in (await self.store.load(sorted(outside))).values():
                self._state.finished.setdefault(stored.task.id, TaskRun.from_stored(stored))
        for run in runs:
            if run.task.deadline is not None:
                heapq.heappush(self._state.deadlines, (run.task.deadline, run.id))
            failed_dep = None
            for dep in run.task.depends_on:
                parent = self._state.runs.get(dep)
                if parent is not None and not parent.persisted:
                    run.waiting.add(dep)
                    parent.dependants.append(run.id)
                    continue
                parent = parent or self._state.finished.get(dep)
                if parent is None or parent.state is not TaskState.SUCCEEDED:
                    failed_dep = (dep, parent.state.value if parent else "missing")
                    continue
                entry = self._state.dep_values.setdefault(dep, [parent.result, 0])
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
        ordered = graph.order(known=self._state.known)
        infos = await self.submit_many(ordered, principal)
        return GraphInfo(
            id=graph.id, tasks=tuple(infos), outputs=tuple(graph.outputs or graph.sinks())
        )

    async def submit_job(self, job: Job, principal: Principal) -> GraphInfo:
        """Decompose ``job`` (rules, or the planner for prompts) and submit the graph."""
        return await self.submit_graph(await self.decomposer.decompose(job), principal)
