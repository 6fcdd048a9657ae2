"""The Swarm panel's pieces, built and styled in one place: the agents and tasks tables,
the tasks' filter bar, and the swarm's one-line summary."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QTableView,
    QWidget,
)

from app.panels.swarm.filter import STATE_FILTERS
from app.widgets.badges import badge_table
from chimera_engine.swarm.coordinator import SwarmStats
from chimera_engine.swarm.models import TaskState

ALL_SCOPES = "All roles and tools"


def swarm_table(
    name: str, model: QSortFilterProxyModel, widths: dict[int, int], parent: QWidget
) -> QTableView:
    return badge_table(name, model, widths, parent)


def section_label(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("swarmSectionLabel")
    font = label.font()
    font.setWeight(font.Weight.DemiBold)
    label.setFont(font)
    return label


def stats_text(stats: SwarmStats) -> str:
    """The swarm in one line.

    >>> s = SwarmStats(backend="local", agents=3, agents_ready=3, queued=2, unfinished=5,
    ...     completed=120, late_replies=0, duplicates_suppressed=0, respawns=1,
    ...     round_trip_p50_ms=0.8, round_trip_p99_ms=3.2)
    >>> stats_text(s).split(" · ")[1:4]
    ['3 of 3 agents ready', '5 unfinished (2 queued)', '120 done']
    """
    parts = [
        stats.backend,
        f"{stats.agents_ready} of {stats.agents} agents ready",
        f"{stats.unfinished} unfinished ({stats.queued} queued)",
        f"{stats.completed:,} done",
        f"round trip p50 {stats.round_trip_p50_ms:.2f} ms",
    ]
    if stats.respawns:
        parts.append(f"{stats.respawns} respawned")
    note = stats.scheduler_note()
    return " · ".join([note[:1].upper() + note[1:], *parts] if note else parts)


class TaskFilterBar(QWidget):
    """State, role-or-tool and text filters; :attr:`changed` when any of them changes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("swarmTaskFilters")
        self.state_combo = QComboBox(self)
        self.state_combo.setObjectName("swarmStateFilter")
        self.state_combo.setToolTip("Show only the tasks in these states")
        for label, states in STATE_FILTERS:
            self.state_combo.addItem(label, states)
        self.state_combo.setMinimumContentsLength(14)
        self.scope_combo = QComboBox(self)
        self.scope_combo.setObjectName("swarmScopeFilter")
        self.scope_combo.setToolTip("Show only the tasks of one role or one tool")
        self.scope_combo.addItem(ALL_SCOPES, "")
        self.scope_combo.setMinimumContentsLength(16)
        self.text_edit = QLineEdit(self)
        self.text_edit.setObjectName("swarmTextFilter")
        self.text_edit.setPlaceholderText("Search id, tool, agent, graph, error…")
        self.text_edit.setClearButtonEnabled(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.state_combo)
        layout.addWidget(self.scope_combo)
        layout.addWidget(self.text_edit, 1)
        self.state_combo.currentIndexChanged.connect(self.changed)
        self.scope_combo.currentIndexChanged.connect(self.changed)
        self.text_edit.textChanged.connect(self.changed)

    def states(self) -> frozenset[TaskState]:
        return STATE_FILTERS[max(0, self.state_combo.currentIndex())][1]

    def scope(self) -> str:
        return str(self.scope_combo.currentData() or "")

    def text(self) -> str:
        return self.text_edit.text()

    def set_counts(self, counts: list[int]) -> None:
        for row, ((label, _), count) in enumerate(zip(STATE_FILTERS, counts, strict=True)):
            self.state_combo.setItemText(row, f"{label} ({count})")

    def set_scopes(self, scopes: list[str]) -> None:
        """Offer ``scopes`` (``role:x``/``tool:x``), keeping the current choice."""
        current = self.scope()
        wanted = sorted(set(scopes) | ({current} if current else set()))
        have = [str(self.scope_combo.itemData(i)) for i in range(1, self.scope_combo.count())]
        if have == wanted:
            return
        self.scope_combo.blockSignals(True)
        self.scope_combo.clear()
        self.scope_combo.addItem(ALL_SCOPES, "")
        for scope in wanted:
            kind, _, name = scope.partition(":")
            self.scope_combo.addItem(f"{kind} {name}", scope)
        self.scope_combo.setCurrentIndex(max(0, self.scope_combo.findData(current)))
        self.scope_combo.blockSignals(False)
