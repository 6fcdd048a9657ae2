"""The Attempts tab of the Patches panel: every answer asked of a model, usable or not.

Top: a filter (failed attempts by default, or all, or one kind of failure) and a
count. Middle: one row per attempt with its verdict, the reason, tokens in/out
("unknown" when the server did not report them), cost, latency, provider and
why the fix was asked for. Bottom: the selected attempt's facts (trigger and
evidence), the prompt that was sent and the answer that came back. Refreshed
when the engine records an attempt.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge
from app.panels.patches.attempts_model import ATTEMPT_COLUMNS, ATTEMPT_FILTERS, facts, shows
from app.shared.records import RecordRole, RecordTableModel, SortRole
from app.shared.refresh_gate import RefreshGate
from app.widgets.badges import badge_table
from app.widgets.code_view import CodeView
from app.widgets.labels import show_failure
from app.widgets.style import set_severity
from chimera_engine.patches.attempts import Attempt

#: How many attempts are read from the engine (newest first).
LIMIT = 500


class AttemptsView(QWidget):
    """:attr:`loaded` (attempts shown) after each refresh; :attr:`failedCount` (all failed
    attempts read) so the panel can put it on its tab."""

    loaded = Signal(int)
    failedCount = Signal(int)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patchAttempts")
        self._bridge = bridge
        self._all: list[Attempt] = []

        self.filter_combo = QComboBox(self)
        self.filter_combo.setObjectName("attemptFilter")
        self.filter_combo.setToolTip("Show only these attempts")
        for label, verdicts in ATTEMPT_FILTERS:
            self.filter_combo.addItem(label, verdicts)
        self.count_label = QLabel(self)
        self.count_label.setObjectName("attemptCountLabel")
        set_severity(self.count_label, "muted")
        top = QHBoxLayout()
        top.addWidget(self.filter_combo)
        top.addWidget(self.count_label, 1)

        self.model: RecordTableModel[Attempt] = RecordTableModel(
            ATTEMPT_COLUMNS, key=lambda a: a.id, parent=self
        )
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SortRole)
        self.table = badge_table("attemptTable", self.proxy, self.model.widths(), self)

        self.facts_view = CodeView("attemptFacts", "Select an attempt", self)
        self.facts_view.setLineWrapMode(CodeView.LineWrapMode.WidgetWidth)
        self.prompt_view = CodeView("attemptPrompt", "No prompt was sent", self)
        self.answer_view = CodeView("attemptAnswer", "No answer came back", self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("attemptTabs")
        self.tabs.addTab(self.facts_view, "Why and verdict")
        self.tabs.addTab(self.answer_view, "Answer")
        self.tabs.addTab(self.prompt_view, "Prompt")
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.table)
        splitter.addWidget(self.tabs)
        splitter.setSizes([260, 320])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

        self._gate = RefreshGate(self.refresh, 100, self, restart=True)
        self.filter_combo.currentIndexChanged.connect(lambda _i: self._show())
        self.table.selectionModel().selectionChanged.connect(self._selected)
        bridge.patchAttempt.connect(lambda *_: self._gate.schedule())
        bridge.sessionChanged.connect(lambda s: self.refresh() if s is not None else None)
        self.refresh()

    def refresh(self) -> None:
        """Read the attempts from the engine (coalesced while a read runs)."""
        if self._bridge.closed or self._bridge.session is None or not self._gate.begin():
            return
        self._bridge.run(
            self._bridge.patches.list_attempts(limit=LIMIT),
            on_success=self._loaded,
            on_error=self._failed,
            title="Could not load the generation attempts",
        )

    def _loaded(self, attempts: list[Attempt]) -> None:
        self._all = attempts
        self._gate.finish()
        self._show()
        self.failedCount.emit(sum(not a.ok for a in attempts))

    def _failed(self, exc: Exception) -> None:
        self._gate.finish()
        show_failure(self.count_label, "Could not load the attempts", exc)

    def _show(self) -> None:
        verdicts = self.filter_combo.currentData()
        rows = [a for a in self._all if shows(a, verdicts)]
        selected = self.selected()
        self.model.set_rows(rows)
        failed = sum(not a.ok for a in self._all)
        self.count_label.setText(
            f"{len(rows)} shown · {failed} failed of {len(self._all)} attempts "
            "(a failed attempt made no usable patch; nothing of it was applied)"
        )
        set_severity(self.count_label, "muted")
        row = self.model.row_of(selected.id) if selected is not None else -1
        if row < 0 and rows:
            row = 0
        if row >= 0:
            self.table.selectRow(self.proxy.mapFromSource(self.model.index(row, 0)).row())
        else:
            self._render(None)
        self.loaded.emit(len(rows))

    def selected(self) -> Attempt | None:
        rows = self.table.selectionModel().selectedRows()
        attempt = rows[0].data(RecordRole) if rows else None
        return attempt if isinstance(attempt, Attempt) else None

    def _selected(self, _a: QItemSelection, _b: QItemSelection) -> None:
        self._render(self.selected())

    def _render(self, attempt: Attempt | None) -> None:
        if attempt is None:
            for view in (self.facts_view, self.prompt_view, self.answer_view):
                view.setPlainText("")
            return
        self.facts_view.setPlainText(facts(attempt))
        self.prompt_view.setPlainText(attempt.prompt)
        self.answer_view.setPlainText(attempt.answer)
