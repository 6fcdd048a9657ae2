"""TaskDecomposer: a complex :class:`Job` -> a :class:`TaskGraph`.

Rules, applied without any LLM:

* **fan-out**: ``map_over`` names a list input; it is split into chunks of
  ``chunk_size`` (or single items with ``map_item=True``), one task per chunk.
* **fan-in**: ``aggregate`` names a tool that receives every chunk's result as
  a list under ``aggregate_param`` (a ``$refs`` input), in order.
* **pipeline**: each job in ``then`` receives the previous stage's result under
  its ``input_from`` input (a list of results if that stage fanned out without
  an aggregate).
* **prompt**: a job with a ``prompt`` and no tool becomes a pipeline of the
  workspace tools it names, in the order it names them; a prompt naming none is
  one prompt task (role ``analyzer``). An optional ``planner`` (an injected async
  callable, e.g. an LLM) is asked first; its plan is checked like any other and
  a bad plan (cycle, unknown field, unknown dependency) is refused.

>>> d = TaskDecomposer()
>>> g = d.decompose_rules(Job(tool="count", inputs={"rows": [1, 2, 3, 4]}, map_over="rows",
...                           chunk_size=2, aggregate="total"))
>>> [(t.tool, t.inputs.get("rows"), len(t.depends_on)) for t in g.order()]
[('count', [1, 2], 0), ('count', [3, 4], 0), ('total', None, 2)]
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chimera_engine.swarm.errors import DecompositionError
from chimera_engine.swarm.graph import MAX_TASKS, TaskGraph
from chimera_engine.swarm.models import ConsensusPolicy, Task


@dataclass(frozen=True, kw_only=True)
class ToolDescription:
    """What the decomposer (and a planner) may know of a workspace tool."""

    name: str
    params: tuple[str, ...] = ()
    description: str = ""


Planner = Callable[[str, Sequence[ToolDescription]], Awaitable[Sequence[Mapping[str, Any]]]]
"""``planner(prompt, tools) -> plan steps`` (see :meth:`TaskGraph.from_plan`)."""


@dataclass(frozen=True, kw_only=True)
class Job:
    """A complex task as a caller states it; the fields mirror :class:`Task` plus the
    decomposition rules (see the module docstring)."""

    tool: str | None = None
    prompt: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    map_over: str | None = None
    map_item: bool = False
    chunk_size: int = 1
    aggregate: str | None = None
    aggregate_param: str = "results"
    aggregate_inputs: Mapping[str, Any] = field(default_factory=dict)
    then: Sequence[Job] = ()
    input_from: str | None = None
    role: str = "executor"
    priority: int = 0
    redundancy: int = 1
    consensus: ConsensusPolicy = field(default_factory=ConsensusPolicy)
    timeout: float | None = None
    retries: int = 0
    deadline: float | None = None
    tool_version: int | None = None


class TaskDecomposer:
    """Turns jobs into task graphs. ``tools`` lists the workspace's tools (used to read
    prompts); ``planner`` is the optional LLM hook."""

    def __init__(
        self,
        tools: Callable[[], Sequence[ToolDescription]] | None = None,
        planner: Planner | None = None,
        *,
        max_tasks: int = MAX_TASKS,
    ) -> None:
        self._tools = tools or (lambda: ())
        self._planner = planner
        self.max_tasks = max_tasks

    async def decompose(self, job: Job) -> TaskGraph:
        """The graph for ``job``; a prompt goes to the planner first when there is one."""
        if job.prompt is not None and job.tool is None and self._planner is not None:
            plan = await self._planner(job.prompt, list(self._tools()))
            return TaskGraph.from_plan(plan, defaults={"role": job.role, "priority": job.priority})
        return self.decompose_rules(job)

    def decompose_rules(self, job: Job) -> TaskGraph:
        """The rule-based graph for ``job`` (no LLM involved). Raises DecompositionError."""
        graph = TaskGraph()
        self._stage(graph, job, previous=None, path="s0")
        graph.outputs = graph.sinks()
        graph.order()
        return graph

    # -- stages -------------------------------------------------------------------------
    def _stage(self, graph: TaskGraph, job: Job, previous: list[str] | None, path: str) -> None:
        if job.tool is None and job.prompt is None:
            raise DecompositionError("a job names a tool or a prompt")
        if job.tool is None and job.prompt is not None:
            job = self._prompt_job(job)
        inputs = dict(job.inputs)
        if previous is not None:
            if not job.input_from:
                raise DecompositionError(
                    f"stage {path} follows another stage but names no input_from"
                )
            inputs[job.input_from] = (
                {"$ref": previous[0]} if len(previous) == 1 else {"$refs": previous}
            )
        outputs = self._fan_out(graph, job, inputs, path)
        for n, stage in enumerate(job.then):
            self._stage(graph, stage, outputs, f"{path}.s{n + 1}")
            outputs = graph.sinks()

    def _fan_out(self, graph: TaskGraph, job: Job, inputs: dict[str, Any], path: str) -> list[str]:
        if job.map_over is None:
            return [self._add(graph, job, inputs, f"{path}", job.tool, job.prompt).id]
        items = inputs.get(job.map_over)
        if not isinstance(items, list):
            raise DecompositionError(f"map_over names {job.map_over!r}, which is not a list input")
        if job.chunk_size < 1:
            raise DecompositionError("chunk_size must be at least 1")
        chunks: list[Any] = (
            list(items)
            if job.map_item
            else [items[i : i + job.chunk_size] for i in range(0, len(items), job.chunk_size)]
        )
        if len(graph) + len(chunks) + 1 > self.max_tasks:
            raise DecompositionError(
                f"fan-out over {len(chunks)} chunks exceeds the limit of {self.max_tasks} tasks"
            )
        ids = [
            self._add(
                graph, job, {**inputs, job.map_over: chunk}, f"{path}.c{n}", job.tool, job.prompt
            ).id
            for n, chunk in enumerate(chunks)
        ]
        if job.aggregate is None:
            return ids
        fan_in = {**job.aggregate_inputs, job.aggregate_param: {"$refs": ids}}
        return [self._add(graph, job, fan_in, f"{path}.agg", job.aggregate, None).id]

    def _add(
        self,
        graph: TaskGraph,
        job: Job,
        inputs: dict[str, Any],
        suffix: str,
        tool: str | None,
        prompt: str | None,
    ) -> Task:
        return graph.add(
            Task(
                id=f"{graph.id[:12]}-{suffix}",
                tool=tool,
                prompt=prompt,
                inputs=inputs,
                role=job.role if prompt is None or tool is not None else "analyzer",
                priority=job.priority,
                redundancy=job.redundancy if tool == job.tool else 1,
                consensus=job.consensus,
                timeout=job.timeout,
                retries=job.retries,
                deadline=job.deadline,
                tool_version=job.tool_version if tool == job.tool else None,
            )
        )

    def _prompt_job(self, job: Job) -> Job:
        """A prompt naming workspace tools becomes a pipeline of them (the first gets the
        job's inputs, each next one the previous result as its first parameter)."""
        assert job.prompt is not None
        tools = {t.name: t for t in self._tools()}
        found: list[tuple[int, str]] = []
        for name in tools:
            match = re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", job.prompt)
            if match:
                found.append((match.start(), name))
        if not found:
            return job  # one prompt task, run by the configured prompt tool
        names = [name for _, name in sorted(found)]
        stages: list[Job] = []
        for name in reversed(names[1:]):
            params = tools[name].params
            if not params:
                raise DecompositionError(
                    f"tool {name} takes no input to receive the previous result"
                )
            stages = [
                Job(
                    tool=name,
                    input_from=params[0],
                    role=job.role,
                    priority=job.priority,
                    then=tuple(stages),
                    timeout=job.timeout,
                    retries=job.retries,
                )
            ]
        return Job(
            tool=names[0],
            inputs=job.inputs,
            role=job.role,
            priority=job.priority,
            redundancy=job.redundancy,
            consensus=job.consensus,
            timeout=job.timeout,
            retries=job.retries,
            deadline=job.deadline,
            then=tuple(stages),
        )
