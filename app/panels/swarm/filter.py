"""Filtering the Swarm panel's tasks: by state, by role or tool, and by text."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel

from app.shared.records import RecordRole, SortRole
from chimera_engine.swarm.models import UNFINISHED, TaskInfo, TaskState

#: The state filter's choices: a label and the states it shows (empty: every state).
STATE_FILTERS: list[tuple[str, frozenset[TaskState]]] = [
    ("All states", frozenset()),
    ("Unfinished", frozenset(UNFINISHED)),
    ("Running", frozenset({TaskState.ASSIGNED, TaskState.RUNNING})),
    ("Reassigned", frozenset({TaskState.REASSIGNED})),
    ("Succeeded", frozenset({TaskState.SUCCEEDED})),
    ("Failed", frozenset({TaskState.FAILED, TaskState.QUARANTINED})),
    ("Cancelled", frozenset({TaskState.CANCELLED})),
]


def state_counts(tasks: Iterable[TaskInfo]) -> list[int]:
    """How many of ``tasks`` each choice of :data:`STATE_FILTERS` shows."""
    states = [t.state for t in tasks]
    return [sum(1 for s in states if not wanted or s in wanted) for _, wanted in STATE_FILTERS]


def scope_choices(tasks: Iterable[TaskInfo]) -> list[str]:
    """The role/tool filter's choices for ``tasks``: ``role:<name>`` then ``tool:<name>``.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class T:
    ...     role: str
    ...     tool: str | None
    >>> scope_choices([T("executor", "add"), T("analyzer", None), T("executor", "count")])
    ['role:analyzer', 'role:executor', 'tool:add', 'tool:count']
    """
    listed = list(tasks)
    roles = sorted({t.role for t in listed})
    tools = sorted({t.tool for t in listed if t.tool})
    return [f"role:{r}" for r in roles] + [f"tool:{t}" for t in tools]


def matches(task: TaskInfo, scope: str, text: str) -> bool:
    """Whether ``task`` is in ``scope`` (``role:x``, ``tool:x`` or "") and mentions
    ``text`` (lower case) in its id, tool, prompt, agent, graph or error."""
    if scope:
        kind, _, name = scope.partition(":")
        if (kind == "role" and task.role != name) or (kind == "tool" and task.tool != name):
            return False
    if not text:
        return True
    haystack = " ".join(
        (task.id, task.tool or "", task.prompt or "", task.agent, task.graph_id, task.error)
    ).lower()
    return all(word in haystack for word in text.split())


class TaskFilter(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.states: frozenset[TaskState] = frozenset()
        self.scope = ""
        self.text = ""
        self.setSortRole(SortRole)

    def set_filter(
        self,
        *,
        states: frozenset[TaskState] | None = None,
        scope: str | None = None,
        text: str | None = None,
    ) -> None:
        """Change any of the three filters (None: leave it as it is)."""
        changing = hasattr(self, "beginFilterChange")  # Qt 6.9 and later
        if changing:
            self.beginFilterChange()
        if states is not None:
            self.states = states
        if scope is not None:
            self.scope = scope
        if text is not None:
            self.text = text.strip().lower()
        if changing:
            self.endFilterChange()
        else:
            self.invalidateRowsFilter()

    def filterAcceptsRow(
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        task = self.sourceModel().index(source_row, 0, source_parent).data(RecordRole)
        if not isinstance(task, TaskInfo):
            return False
        if self.states and task.state not in self.states:
            return False
        return matches(task, self.scope, self.text)
