"""AnomaliesPane: the anomalies list (most recent first), live, with Acknowledge.

The list is read from the engine when the pane is created (and after each sign-in),
then kept up to date from the bridge's events: new anomalies are inserted in
batches (:data:`BATCH_MS`), acknowledgements made anywhere update their row.

Several selected anomalies, or every open one ("Acknowledge all open"), are
acknowledged in one request (one transaction, one audit entry).

Acknowledging goes through the authorised facade as the signed-in user: the
engine checks ``anomaly.acknowledge`` and writes the audit entry. The button is
disabled, with a tooltip naming that permission, for users who lack it; the
engine would refuse them anyway.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge, describe_error
from app.panels.metrics.anomalies_model import (
    ACKED,
    EXPECTED,
    KIND,
    METRIC,
    SCORE,
    TIME,
    VALUE,
    AnomalyRecord,
    AnomalyRole,
    AnomalyTableModel,
)
from app.shared.permissions import missing_permission
from app.theme import set_themed_style
from app.widgets.style import set_severity
from app.widgets.tables import configure_view
from chimera_engine.anomaly.engine import AnomalyEvent
from chimera_engine.metrics.hub import StoredAnomaly
from chimera_engine.security.permissions import Permission

#: Anomalies read from the engine when the pane opens.
INITIAL_LOAD = 500
#: Anomalies arriving within this many milliseconds are inserted as one batch.
BATCH_MS = 50

_WIDTHS = {TIME: 80, METRIC: 168, KIND: 96, SCORE: 58, VALUE: 70, EXPECTED: 84, ACKED: 106}


class AnomaliesPane(QWidget):
    """:attr:`anomalySelected` (record) when the current row changes;
    :attr:`acknowledged` (anomaly id, or -1 for a bulk request; ok, message) after each
    acknowledgement made here;
    :attr:`recordUpdated` (record) after an acknowledgement made anywhere;
    :attr:`loaded` (rows) after the engine's list was read."""

    anomalySelected = Signal(object)
    acknowledged = Signal(int, bool, str)
    recordUpdated = Signal(object)
    loaded = Signal(int)

    def __init__(
        self, bridge: EngineBridge, model: AnomalyTableModel, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("dashboardAnomalies")
        self._bridge = bridge
        self.model = model
        self._pending: set[int] = set()
        self._arrived: list[AnomalyRecord] = []
        self._batch_timer = QTimer(self)
        self._batch_timer.setSingleShot(True)
        self._batch_timer.setInterval(BATCH_MS)
        self._batch_timer.timeout.connect(self._insert_arrived)

        title = QLabel("Anomalies", self)
        set_themed_style(title, "font-weight: 600; color: #323f4b;")
        self.summary_label = QLabel("", self)
        self.summary_label.setObjectName("dashboardAnomalySummary")
        set_severity(self.summary_label, "muted")
        self.ack_button = QPushButton("Acknowledge", self)
        self.ack_button.setObjectName("dashboardAckButton")
        self.ack_button.clicked.connect(self.acknowledge_selected)
        self.ack_all_button = QPushButton("Acknowledge all open", self)
        self.ack_all_button.setObjectName("dashboardAckAllButton")
        self.ack_all_button.clicked.connect(self.acknowledge_all)
        header = QHBoxLayout()
        header.setSpacing(8)
        header.addWidget(title)
        header.addWidget(self.summary_label, 1)
        # the buttons get a row of their own: beside the title they were squeezed until
        # their labels were cut in a narrow window
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addStretch(1)
        buttons.addWidget(self.ack_button)
        buttons.addWidget(self.ack_all_button)

        self.table = QTableView(self)
        self.table.setObjectName("dashboardAnomalyTable")
        self.table.setModel(model)
        configure_view(self.table, _WIDTHS)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)

        model.rowsInserted.connect(self._rows_changed)
        model.rowsRemoved.connect(self._rows_changed)
        model.dataChanged.connect(self._rows_changed)
        model.modelReset.connect(self._rows_changed)
        bridge.sessionChanged.connect(self.update_buttons)
        bridge.anomalyDetected.connect(self._detected)
        bridge.anomalyAcknowledged.connect(self._acknowledged_elsewhere)
        self._rows_changed()

    # -- loading and live updates ------------------------------------------------------------
    def load(self) -> None:
        """Read the latest :data:`INITIAL_LOAD` anomalies from the engine (merged in)."""
        if self._bridge.closed or self._bridge.session is None:
            return

        def done(rows: list[StoredAnomaly]) -> None:
            self.model.merge(AnomalyRecord.from_stored(a) for a in rows)
            self.loaded.emit(self.model.rowCount())

        self._bridge.run(
            self._bridge.metrics.list_anomalies(limit=INITIAL_LOAD),
            on_success=done,
            title="Could not load the anomalies",
        )

    def _detected(self, anomaly_id: int, event: AnomalyEvent) -> None:
        self._arrived.append(AnomalyRecord.from_event(anomaly_id, event))
        if not self._batch_timer.isActive():
            self._batch_timer.start()

    def _insert_arrived(self) -> None:
        arrived, self._arrived = self._arrived, []
        self.model.merge(arrived)

    def _acknowledged_elsewhere(self, anomaly_id: int, actor: str) -> None:
        self._insert_arrived()
        if self.model.acknowledge(anomaly_id, actor, time.time()):
            record = self.model.get(anomaly_id)
            if record is not None:
                self.recordUpdated.emit(record)

    # -- selection -------------------------------------------------------------------------
    def selected(self) -> list[AnomalyRecord]:
        rows = self.table.selectionModel().selectedRows()
        return [r.data(AnomalyRole) for r in rows if isinstance(r.data(AnomalyRole), AnomalyRecord)]

    def select(self, anomaly_id: int) -> bool:
        row = self.model.row_of(anomaly_id)
        if row < 0:
            return False
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)
        return True

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.update_buttons()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        record = current.data(AnomalyRole) if current.isValid() else None
        if isinstance(record, AnomalyRecord):
            self.anomalySelected.emit(record)

    def _rows_changed(self, *_args: object) -> None:
        total = self.model.rowCount()
        open_count = self.model.open_count()
        if total == 0:
            self.summary_label.setText("none detected yet")
            set_severity(self.summary_label, "muted")
        else:
            self.summary_label.setText(f"{open_count} open of {total}")
            set_severity(self.summary_label, "warn" if open_count else "ok")
        self.update_buttons()

    def update_buttons(self, *_args: object) -> None:
        session = self._bridge.session
        why = missing_permission(
            session.principal if session else None, Permission.ANOMALY_ACKNOWLEDGE
        )
        open_ids = [r.id for r in self.selected() if not r.acknowledged]
        self.ack_button.setEnabled(not why and bool(open_ids) and not self._pending)
        any_open = self.model.open_count() > 0
        self.ack_all_button.setEnabled(not why and any_open and not self._pending)
        self.ack_all_button.setToolTip(
            why
            or (
                "Acknowledge every open anomaly at once, as yourself (one audit entry)"
                if any_open
                else "No open anomaly"
            )
        )
        if why:
            self.ack_button.setToolTip(why)
        elif not open_ids:
            self.ack_button.setToolTip("Select one or more open anomalies to acknowledge")
        else:
            self.ack_button.setToolTip(
                f"Acknowledge {len(open_ids)} anomal{'y' if len(open_ids) == 1 else 'ies'} "
                "as yourself (recorded in the audit log)"
            )

    # -- acknowledging ---------------------------------------------------------------------
    def acknowledge_selected(self) -> None:
        """The open anomalies selected, in one request (one audit entry)."""
        ids = [r.id for r in self.selected() if not r.acknowledged and r.id not in self._pending]
        if len(ids) == 1:
            self.acknowledge(ids[0])
        elif ids:
            self.acknowledge_many(ids)

    def acknowledge_all(self) -> None:
        """Every open anomaly in the engine (not only those listed), in one request."""
        self.acknowledge_many(None)

    def acknowledge_many(self, ids: list[int] | None) -> None:
        if self._bridge.closed:
            return
        marker = -1  # pending while the request runs: the buttons wait
        self._pending.update(ids or [marker])
        self.update_buttons()

        def finish() -> None:
            self._pending.difference_update(ids or [marker])
            self.update_buttons()

        def done(stored: list[StoredAnomaly]) -> None:
            finish()
            self.model.merge(AnomalyRecord.from_stored(a) for a in stored)
            n = len(stored)
            text = f"Acknowledged {n} anomal{'y' if n == 1 else 'ies'}"
            self.acknowledged.emit(-1, True, text)

        def failed(exc: Exception) -> None:
            finish()
            text = f"Could not acknowledge the anomalies: {describe_error(exc)}"
            self.summary_label.setText(text)
            set_severity(self.summary_label, "critical")
            self.acknowledged.emit(-1, False, text)

        self._bridge.run(
            self._bridge.metrics.acknowledge_anomalies(ids),
            on_success=done,
            on_error=failed,
            title="Could not acknowledge the anomalies",
        )

    def acknowledge(self, anomaly_id: int) -> None:
        if self._bridge.closed:
            return
        self._pending.add(anomaly_id)
        self.update_buttons()

        def done(stored: StoredAnomaly) -> None:
            self._finish(anomaly_id)
            self.model.merge([AnomalyRecord.from_stored(stored)])
            self.acknowledged.emit(anomaly_id, True, f"Acknowledged anomaly {anomaly_id}")

        def failed(exc: Exception) -> None:
            self._finish(anomaly_id)
            text = f"Could not acknowledge anomaly {anomaly_id}: {describe_error(exc)}"
            self.summary_label.setText(text)
            set_severity(self.summary_label, "critical")
            self.acknowledged.emit(anomaly_id, False, text)

        self._bridge.run(
            self._bridge.metrics.acknowledge_anomaly(anomaly_id),
            on_success=done,
            on_error=failed,
            title="Could not acknowledge the anomaly",
        )

    def _finish(self, anomaly_id: int) -> None:
        self._pending.discard(anomaly_id)
        self.update_buttons()
