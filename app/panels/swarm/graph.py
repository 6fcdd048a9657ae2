"""Laying out a task graph for the graph view: columns by dependency depth.

A task's column is the length of the longest dependency path leading to it
(roots on the left, the final aggregate on the right); edges run from a
dependency to its dependant. Within a column, tasks are ordered by the mean
row of their dependencies (fewer crossings), then by submission order, and each
column is centred on the tallest one. Pure Python: tested without Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chimera_engine.swarm.models import TaskInfo

NODE_W = 150.0
NODE_H = 44.0
GAP_X = 46.0
GAP_Y = 10.0


@dataclass(frozen=True, slots=True)
class Placed:
    """Where one task's node goes: its column (depth), row and top-left corner."""

    id: str
    depth: int
    row: int
    x: float
    y: float


@dataclass(frozen=True, kw_only=True)
class GraphLayout:
    nodes: dict[str, Placed]
    edges: list[tuple[str, str]]  # (dependency, dependant)
    width: float
    height: float
    columns: int


def depths(tasks: Sequence[TaskInfo]) -> dict[str, int]:
    """The longest dependency path to each task (dependencies outside ``tasks`` ignored;
    a cycle, which the engine refuses anyway, cannot loop here).

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class T:
    ...     id: str
    ...     depends_on: tuple[str, ...] = ()
    >>> depths([T("c", ("a", "b")), T("a"), T("b", ("a",))])
    {'c': 2, 'a': 0, 'b': 1}
    """
    deps = {t.id: [d for d in t.depends_on if d != t.id] for t in tasks}
    known: dict[str, int] = {}

    def depth(tid: str, seen: frozenset[str]) -> int:
        if tid in known:
            return known[tid]
        parents = [d for d in deps.get(tid, ()) if d in deps and d not in seen]
        value = 1 + max((depth(p, seen | {tid}) for p in parents), default=-1)
        known[tid] = value
        return value

    return {t.id: depth(t.id, frozenset()) for t in tasks}


def layout(
    tasks: Sequence[TaskInfo],
    *,
    node_w: float = NODE_W,
    node_h: float = NODE_H,
    gap_x: float = GAP_X,
    gap_y: float = GAP_Y,
) -> GraphLayout:
    """Place ``tasks`` (one graph) in columns by depth."""
    level = depths(tasks)
    order = {t.id: i for i, t in enumerate(sorted(tasks, key=lambda t: (t.created_at, t.id)))}
    by_id = {t.id: t for t in tasks}
    columns: dict[int, list[str]] = {}
    for tid in sorted(level, key=lambda t: order[t]):
        columns.setdefault(level[tid], []).append(tid)
    row: dict[str, int] = {}
    for depth in sorted(columns):
        ids = columns[depth]
        if depth:

            def centre(tid: str) -> tuple[float, int]:
                parents = [row[d] for d in by_id[tid].depends_on if d in row]
                mean = sum(parents) / len(parents) if parents else float("inf")
                return (mean, order[tid])

            ids.sort(key=centre)
        for i, tid in enumerate(ids):
            row[tid] = i
    tallest = max((len(ids) for ids in columns.values()), default=0)
    height = max(0.0, tallest * (node_h + gap_y) - gap_y)
    nodes: dict[str, Placed] = {}
    for depth, ids in columns.items():
        offset = (height - (len(ids) * (node_h + gap_y) - gap_y)) / 2
        for tid in ids:
            nodes[tid] = Placed(
                id=tid,
                depth=depth,
                row=row[tid],
                x=depth * (node_w + gap_x),
                y=offset + row[tid] * (node_h + gap_y),
            )
    edges = [(d, t.id) for t in tasks for d in t.depends_on if d in by_id and d != t.id]
    count = len(columns)
    width = max(0.0, count * (node_w + gap_x) - gap_x)
    return GraphLayout(nodes=nodes, edges=edges, width=width, height=height, columns=count)
