"""TaskGraph: tasks with dependencies, checked to be a DAG before anything runs.

A task depends on the ids in its ``depends_on`` and on every task its inputs
reference with ``{"$ref": id}`` / ``{"$refs": [ids]}``. :meth:`TaskGraph.order`
returns a topological order or raises :class:`DecompositionError` naming the
cycle, so a bad decomposition is refused as a whole and nothing is submitted.

>>> g = TaskGraph("g1")
>>> a = g.add(Task(id="a", tool="t"))
>>> b = g.add(Task(id="b", tool="t", inputs={"x": {"$ref": "a"}}))
>>> [t.id for t in g.order()], b.depends_on
(['a', 'b'], ('a',))
>>> _ = g.add(Task(id="c", tool="t", depends_on=("d",)))
>>> _ = g.add(Task(id="d", tool="t", depends_on=("c",)))
>>> g.order()
Traceback (most recent call last):
...
chimera_engine.swarm.errors.DecompositionError: the task graph has a cycle: c -> d -> c
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from chimera_engine.errors import ValidationError
from chimera_engine.swarm.errors import DecompositionError
from chimera_engine.swarm.models import ConsensusPolicy, Task, new_id

MAX_TASKS = 100_000


class TaskGraph:
    """An ordered collection of tasks forming a DAG. ``outputs`` are the tasks whose
    results are the graph's result (by default: every task nothing depends on)."""

    def __init__(self, graph_id: str | None = None) -> None:
        self.id = graph_id or new_id()
        self.tasks: dict[str, Task] = {}
        self.outputs: list[str] = []

    def __len__(self) -> int:
        return len(self.tasks)

    def add(self, task: Task) -> Task:
        """Add ``task`` (validated; dependencies from ``$ref`` inputs made explicit)."""
        if len(self.tasks) >= MAX_TASKS:
            raise DecompositionError(f"a task graph holds at most {MAX_TASKS} tasks")
        try:
            task.validate()
        except ValidationError as exc:
            raise DecompositionError(f"task {task.id}: {exc}") from None
        if task.id in self.tasks:
            raise DecompositionError(f"two tasks of the graph have the id {task.id!r}")
        stored = dataclasses.replace(with_references(task), graph_id=self.id)
        self.tasks[task.id] = stored
        return stored

    def sinks(self) -> list[str]:
        needed = {d for t in self.tasks.values() for d in t.depends_on}
        return [tid for tid in self.tasks if tid not in needed]

    def order(self, known: Callable[[str], bool] | None = None) -> list[Task]:
        """Tasks in dependency order. A dependency outside the graph must satisfy
        ``known`` (an existing task), else :class:`DecompositionError`."""
        return topological(self.tasks, known)

    @classmethod
    def from_plan(
        cls,
        plan: Sequence[Mapping[str, Any]],
        *,
        graph_id: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> TaskGraph:
        """Build a graph from plain step dicts (an LLM's plan or an API request):
        ``{"id", "tool" | "prompt", "inputs", "depends_on", "role", "priority",
        "redundancy", "consensus": {...}, "timeout", "retries", "tool_version"}``.
        The graph is checked (including for cycles) before it is returned."""
        graph = cls(graph_id)
        if not isinstance(plan, Sequence) or isinstance(plan, str | bytes) or not plan:
            raise DecompositionError("a plan must be a non-empty list of steps")
        for n, step in enumerate(plan):
            graph.add(task_from_step(step, n, defaults or {}))
        graph.order()
        return graph


_STEP_FIELDS = frozenset(
    {
        "id",
        "tool",
        "prompt",
        "inputs",
        "depends_on",
        "role",
        "priority",
        "redundancy",
        "consensus",
        "timeout",
        "retries",
        "tool_version",
        "requires",
        "idempotency_key",
        "max_attempts",
        "deadline",
    }
)


def task_from_step(step: Mapping[str, Any], n: int, defaults: Mapping[str, Any]) -> Task:
    """One plan step as a :class:`Task`; :class:`DecompositionError` says what is wrong."""
    if not isinstance(step, Mapping):
        raise DecompositionError(f"step {n} is not an object")
    unknown = set(step) - _STEP_FIELDS
    if unknown:
        raise DecompositionError(f"step {n} has unknown fields: {', '.join(sorted(unknown))}")
    merged = {**defaults, **step}
    try:
        consensus = merged.get("consensus")
        fields: dict[str, Any] = {
            "id": str(merged.get("id") or f"step{n}"),
            "tool": merged.get("tool"),
            "prompt": merged.get("prompt"),
            "inputs": dict(merged.get("inputs") or {}),
            "depends_on": tuple(str(d) for d in _strings(merged.get("depends_on", ()))),
            "requires": frozenset(_strings(merged.get("requires", ()))),
            "consensus": ConsensusPolicy.from_json(consensus) if consensus else ConsensusPolicy(),
        }
        for name, kind in (
            ("role", str),
            ("priority", int),
            ("redundancy", int),
            ("retries", int),
            ("idempotency_key", str),
        ):
            if name in merged:
                fields[name] = kind(merged[name])
        for name in ("timeout", "deadline"):
            if merged.get(name) is not None:
                fields[name] = float(merged[name])
        for name in ("tool_version", "max_attempts"):
            if merged.get(name) is not None:
                fields[name] = int(merged[name])
        return Task(**fields)
    except (TypeError, ValueError, ValidationError) as exc:
        raise DecompositionError(f"step {n}: {exc}") from None


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError("expected a list of strings")
    return [str(v) for v in value]


def topological(
    tasks: Mapping[str, Task], known: Callable[[str], bool] | None = None
) -> list[Task]:
    """``tasks`` (by id) in dependency order; DecompositionError names a cycle or a
    dependency that is neither in ``tasks`` nor ``known``."""
    for task in tasks.values():
        for dep in task.depends_on:
            if dep not in tasks and (known is None or not known(dep)):
                raise DecompositionError(f"task {task.id} depends on unknown task {dep!r}")
    state: dict[str, int] = {}  # 1 visiting, 2 done
    ordered: list[Task] = []
    for root in tasks:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            tid, index = stack.pop()
            if index == 0:
                state[tid] = 1
                path.append(tid)
            deps = [d for d in tasks[tid].depends_on if d in tasks]
            if index < len(deps):
                stack.append((tid, index + 1))
                dep = deps[index]
                mark = state.get(dep)
                if mark == 1:
                    cycle = [*path[path.index(dep) :], dep]
                    raise DecompositionError(f"the task graph has a cycle: {' -> '.join(cycle)}")
                if mark is None:
                    stack.append((dep, 0))
                continue
            state[tid] = 2
            path.pop()
            ordered.append(tasks[tid])
    return ordered


def with_references(task: Task) -> Task:
    """``task`` with the dependencies its ``$ref`` inputs imply made explicit."""
    deps = tuple(dict.fromkeys((*task.depends_on, *sorted(task.references()))))
    return task if deps == task.depends_on else dataclasses.replace(task, depends_on=deps)
