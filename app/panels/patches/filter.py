"""Filtering the patch queue by state, with a count per choice."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel

from app.shared.records import RecordRole, SortRole
from chimera_engine.patches.models import Patch, PatchState

#: The filter's choices: a label and the states it shows (empty: every state).
FILTERS: list[tuple[str, frozenset[PatchState]]] = [
    ("All states", frozenset()),
    ("Ready for review", frozenset({PatchState.READY})),
    ("In progress", frozenset({PatchState.PROPOSED, PatchState.TESTING, PatchState.APPROVED})),
    ("Applied or kept", frozenset({PatchState.APPLIED, PatchState.KEPT})),
    ("Rejected", frozenset({PatchState.REJECTED})),
    ("Rolled back", frozenset({PatchState.ROLLED_BACK})),
    ("Superseded", frozenset({PatchState.SUPERSEDED})),
]


def filter_counts(patches: Iterable[Patch]) -> list[int]:
    """How many of ``patches`` each choice of :data:`FILTERS` shows."""
    states = [p.state for p in patches]
    return [sum(1 for s in states if not wanted or s in wanted) for _, wanted in FILTERS]


class PatchFilter(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.states: frozenset[PatchState] = frozenset()
        self.setSortRole(SortRole)

    def set_states(self, states: frozenset[PatchState]) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9 and later
            self.beginFilterChange()
            self.states = states
            self.endFilterChange()
        else:
            self.states = states
            self.invalidateRowsFilter()

    def filterAcceptsRow(
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        if not self.states:
            return True
        patch = self.sourceModel().index(source_row, 0, source_parent).data(RecordRole)
        return isinstance(patch, Patch) and patch.state in self.states
