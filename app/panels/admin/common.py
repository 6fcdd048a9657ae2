"""What every administration tab shares: a sortable table, a toolbar, a status line,
and running actions through the bridge with their outcome stated inline."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
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
from app.qtabc import QABCMeta
from app.shared.records import RecordTableModel, SortRole
from app.widgets.style import set_severity
from app.widgets.tables import configure_view

T = TypeVar("T")
R = TypeVar("R")


class AdminTab(QWidget, Generic[T], metaclass=QABCMeta):
    """:attr:`loaded` (rows) after each load; :attr:`actionFinished` (action, ok, text)."""

    loaded = Signal(int)
    actionFinished = Signal(str, bool, str)

    def __init__(
        self,
        bridge: EngineBridge,
        name: str,
        model: RecordTableModel[T],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(f"{name}Tab")
        self._bridge = bridge
        self._name = name
        self.model = model
        self._select_after: object | None = None
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(SortRole)

        self.toolbar = QHBoxLayout()
        self.toolbar.setSpacing(6)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setObjectName(f"{name}RefreshButton")
        self.refresh_button.clicked.connect(lambda: self.reload())

        self.table = QTableView(self)
        self.table.setObjectName(f"{name}Table")
        self.table.setModel(self.proxy)
        # Engine order (e.g. newest first) until the operator clicks a header.
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        configure_view(self.table, model.widths())
        self.table.selectionModel().selectionChanged.connect(self.update_buttons)
        self.table.doubleClicked.connect(lambda _index: self.activated())

        self.status_label = QLabel(self)
        self.status_label.setObjectName(f"{name}StatusLabel")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_severity(self.status_label, "muted")

        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(0, 10, 0, 0)
        self.body.setSpacing(8)
        self.body.addLayout(self.toolbar)
        self.body.addWidget(self.table, 1)
        self.body.addWidget(self.status_label)

    def add_button(self, text: str, name: str, slot: Callable[[], object], tip: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        self.toolbar.addWidget(button)
        return button

    def finish_toolbar(self) -> None:
        self.toolbar.addStretch(1)
        self.toolbar.addWidget(self.refresh_button)
        self.update_buttons()

    # -- selection -------------------------------------------------------------------------
    def selected(self) -> T | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.record(self.proxy.mapToSource(rows[0]).row())

    def select_key(self, key: object) -> bool:
        row = self.model.row_of(key)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.selectRow(index.row())
        self.table.scrollTo(index)
        return True

    def update_buttons(self) -> None:
        """Enable the tab's buttons for the current selection (subclasses override)."""

    def activated(self) -> None:
        """A row was double-clicked (subclasses override)."""

    # -- loading ---------------------------------------------------------------------------
    @abstractmethod
    def fetch(self) -> Coroutine[Any, Any, Iterable[T]]:
        """The engine operation that reads the tab's rows (not awaited here)."""

    def reload(self, select: object | None = None) -> None:
        """Read the table again; then select the record whose key is ``select``."""
        if select is not None:
            self._select_after = select
        if self._bridge.closed or self._bridge.session is None:
            return
        self.refresh_button.setEnabled(False)
        self._bridge.run(
            self.fetch(),
            on_success=self._loaded,
            on_error=self._load_failed,
            title="Could not load the administration data",
        )

    def _loaded(self, rows: Iterable[T]) -> None:
        current = self.selected()
        key = self.model.key(current) if current is not None else None
        if self._select_after is not None:
            key, self._select_after = self._select_after, None
        self.model.set_rows(rows)
        if key is not None:
            self.select_key(key)
        self.refresh_button.setEnabled(True)
        self.update_buttons()
        self.loaded.emit(self.model.rowCount())

    def _load_failed(self, exc: Exception) -> None:
        self.refresh_button.setEnabled(True)
        self.show_status(f"Could not load: {describe_error(exc)}", "critical")

    # -- actions ---------------------------------------------------------------------------
    def show_status(self, text: str, severity: str) -> None:
        self.status_label.setText(text)
        set_severity(self.status_label, severity)

    def run_action(
        self,
        action: str,
        operation: Coroutine[Any, Any, R],
        describe: Callable[[R], str],
        *,
        then: Callable[[R], object] | None = None,
    ) -> None:
        """Run ``operation``; state the outcome (``describe(result)`` or the engine's
        refusal) in the status line, reload the table and emit :attr:`actionFinished`."""

        def done(result: R) -> None:
            text = describe(result)
            self.show_status(text, "ok")
            if then is not None:
                then(result)
            self.reload()
            self.actionFinished.emit(action, True, text)

        def failed(exc: Exception) -> None:
            text = f"Could not {action}: {describe_error(exc)}"
            self.show_status(text, "critical")
            self.actionFinished.emit(action, False, text)

        self._bridge.run(operation, on_success=done, on_error=failed, title=f"Could not {action}")
