"""The Audit panel: the tamper-evident log, live, filterable, with chain verification."""

from __future__ import annotations

import json
from datetime import datetime

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge, describe_error
from app.panels.audit.model import (
    ACTION,
    ACTOR,
    OUTCOME,
    OUTCOMES,
    ROLE,
    SEQ,
    TARGET,
    TIME,
    AuditFilterProxy,
    AuditTableModel,
    EntryRole,
)
from app.widgets.style import set_severity
from chimera_engine.audit.log import AuditVerification
from chimera_engine.audit.store import AuditQuery
from chimera_engine.store.records import AuditEntry

INITIAL_LOAD = 500
MAX_ROWS = 10_000
#: Live entries arriving within this many milliseconds are inserted as one batch.
LIVE_BATCH_MS = 40

# The last column (detail) takes the remaining width.
_WIDTHS = {SEQ: 64, TIME: 150, ACTOR: 120, ROLE: 84, ACTION: 190, TARGET: 130, OUTCOME: 84}


def entry_text(entry: AuditEntry) -> str:
    """Every field of an entry, one per line, its detail as indented JSON."""
    when = datetime.fromtimestamp(entry.ts).isoformat(sep=" ", timespec="milliseconds")
    lines = [
        f"#{entry.seq}  {when}",
        f"Actor:   {entry.actor} ({entry.role or 'no role'})",
        f"Action:  {entry.action}",
        f"Target:  {entry.target or '—'}",
        f"Outcome: {entry.outcome}",
        f"Hash:    {entry.hash}",
        f"Previous hash: {entry.prev_hash}",
    ]
    if entry.detail:
        lines += ["Detail:", json.dumps(entry.detail, indent=2, sort_keys=True, default=str)]
    return "\n".join(lines)


class AuditPanel(QWidget):
    """Shows the newest audit entries and inserts new ones as the engine appends them.

    Loads the latest :data:`INITIAL_LOAD` entries when constructed (from a
    coroutine on the qasync loop, or before the loop runs). :attr:`loaded` fires
    after each (re)load with the number of rows, :attr:`verified` after a chain
    verification with its result.
    """

    loaded = Signal(int)
    verified = Signal(object)  # AuditVerification

    def __init__(
        self,
        bridge: EngineBridge,
        *,
        max_rows: int = MAX_ROWS,
        initial_load: int = INITIAL_LOAD,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("auditPanel")
        self._bridge = bridge
        self._initial_load = initial_load
        self._pending: list[AuditEntry] = []

        self.model = AuditTableModel(max_rows, self)
        self.proxy = AuditFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.filter_edit = QLineEdit(self)
        self.filter_edit.setObjectName("auditFilterEdit")
        self.filter_edit.setPlaceholderText("Filter by any column…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._text_changed)

        self.outcome_combo = QComboBox(self)
        self.outcome_combo.setObjectName("auditOutcomeCombo")
        self.outcome_combo.addItem("All outcomes", "")
        for outcome in OUTCOMES:
            self.outcome_combo.addItem(outcome, outcome)
        self.outcome_combo.currentIndexChanged.connect(self._outcome_changed)

        self.system_check = QCheckBox("Hide system actors", self)
        self.system_check.setObjectName("auditHideSystemCheck")
        self.system_check.setToolTip(
            "Leave out what the engine does by itself (system: actors, e.g. the demo's "
            "task submissions) to see what people and API keys did"
        )
        self.system_check.toggled.connect(self.proxy.set_hide_system)
        self.system_check.setChecked(True)

        self.reload_button = QPushButton("Reload", self)
        self.reload_button.setObjectName("auditReloadButton")
        self.reload_button.setToolTip(f"Load the latest {initial_load} entries again")
        self.reload_button.clicked.connect(self.reload)
        self.verify_button = QPushButton("Verify chain", self)
        self.verify_button.setObjectName("auditVerifyButton")
        self.verify_button.setToolTip("Check every entry's hash link in the engine")
        self.verify_button.clicked.connect(self.verify)

        toolbar = QHBoxLayout()
        toolbar.setSpacing(8)
        toolbar.addWidget(self.filter_edit, 1)
        toolbar.addWidget(QLabel("Outcome", self))
        toolbar.addWidget(self.outcome_combo)
        toolbar.addWidget(self.system_check)
        toolbar.addSpacing(12)
        toolbar.addWidget(self.reload_button)
        toolbar.addWidget(self.verify_button)

        self.table = QTableView(self)
        self.table.setObjectName("auditTable")
        self.table.setModel(self.proxy)
        self.setFocusProxy(self.table)
        self._configure_table()

        self.row_count_label = QLabel(self)
        self.row_count_label.setObjectName("auditRowCountLabel")
        self.verify_label = QLabel("Chain not verified in this session", self)
        self.verify_label.setObjectName("auditVerifyLabel")
        self.verify_label.setTextFormat(Qt.TextFormat.PlainText)
        self.verify_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_severity(self.verify_label, "muted")

        footer = QHBoxLayout()
        footer.addWidget(self.row_count_label)
        footer.addStretch(1)
        footer.addWidget(self.verify_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 8)
        layout.setSpacing(8)
        layout.addLayout(toolbar)
        self.detail_view = QPlainTextEdit(self)
        self.detail_view.setObjectName("auditDetailView")
        self.detail_view.setReadOnly(True)
        self.detail_view.setPlaceholderText("Select an entry to see all of it")
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("auditSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail_view)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(footer)

        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(LIVE_BATCH_MS)
        self._flush_timer.timeout.connect(self._flush_live)

        for signal in (
            self.model.rowsInserted,
            self.model.rowsRemoved,
            self.model.modelReset,
            self.proxy.rowsInserted,
            self.proxy.rowsRemoved,
            self.proxy.modelReset,
            self.proxy.layoutChanged,
        ):
            signal.connect(self._update_row_count)
        self._update_row_count()

        bridge.auditAppended.connect(self._entry_appended)
        self.reload()

    def _configure_table(self) -> None:
        table = self.table
        table.setSortingEnabled(True)
        table.sortByColumn(SEQ, Qt.SortOrder.DescendingOrder)
        table.setAlternatingRowColors(True)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.setShowGrid(True)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 12)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column, width in _WIDTHS.items():
            table.setColumnWidth(column, width)
        header.setMinimumSectionSize(48)

    # -- detail ----------------------------------------------------------------------------
    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        entry = current.data(EntryRole) if current.isValid() else None
        self.detail_view.setPlainText(entry_text(entry) if isinstance(entry, AuditEntry) else "")

    # -- filters ---------------------------------------------------------------------------
    def _text_changed(self, text: str) -> None:
        self.proxy.set_text(text)

    def _outcome_changed(self, index: int) -> None:
        self.proxy.set_outcome(str(self.outcome_combo.itemData(index) or ""))

    def _update_row_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        noun = "entry" if total == 1 else "entries"
        if shown == total:
            self.row_count_label.setText(f"{total:,} {noun}")
        else:
            self.row_count_label.setText(f"{shown:,} of {total:,} {noun} shown")

    # -- live updates ----------------------------------------------------------------------
    def _entry_appended(self, entry: AuditEntry) -> None:
        self._pending.append(entry)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _flush_live(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            self.model.add(batch)

    # -- engine operations -----------------------------------------------------------------
    def reload(self) -> None:
        """Load the latest entries from the engine (merged with live rows already shown)."""
        self.reload_button.setEnabled(False)
        self._bridge.run(
            self._bridge.audit.query(AuditQuery(limit=self._initial_load)),
            on_success=self._loaded,
            on_error=self._load_failed,
            title="Could not load the audit log",
        )

    def _loaded(self, entries: list[AuditEntry]) -> None:
        self.reload_button.setEnabled(True)
        self.model.load(entries)
        self.loaded.emit(self.model.rowCount())

    def _load_failed(self, exc: Exception) -> None:
        self.reload_button.setEnabled(True)
        self.row_count_label.setText(f"Could not load the audit log: {describe_error(exc)}")

    def verify(self) -> None:
        """Ask the engine to verify the whole hash chain; the summary shows in the footer."""
        self.verify_button.setEnabled(False)
        self.verify_label.setText("Verifying the chain…")
        set_severity(self.verify_label, "muted")
        self._bridge.run(
            self._bridge.audit.verify(),
            on_success=self._verified,
            on_error=self._verify_failed,
            title="Could not verify the audit chain",
        )

    def _verified(self, result: AuditVerification) -> None:
        self.verify_button.setEnabled(True)
        self.verify_label.setText(result.summary())
        set_severity(self.verify_label, "ok" if result.ok else "critical")
        self.verified.emit(result)

    def _verify_failed(self, exc: Exception) -> None:
        self.verify_button.setEnabled(True)
        self.verify_label.setText(f"Verification failed: {describe_error(exc)}")
        set_severity(self.verify_label, "critical")
