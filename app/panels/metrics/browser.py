"""MetricBrowser: every metric the engine tracks, searchable and filtered by name
prefix and input state; ticking a row charts it, unticking removes the chart."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.panels.metrics.metric_list import (
    LAST,
    NAME,
    STATES,
    KeyRole,
    MetricFilterProxy,
    MetricListModel,
)
from app.theme import set_themed_style
from app.widgets.tables import configure_view
from chimera_engine.metrics.hub import MetricInfo

STATE_LABELS = {"ok": "Learning", "warming_up": "Warming up", "constant": "Constant"}


class MetricBrowser(QWidget):
    """:attr:`chartToggled` (key, charted) when the operator ticks, unticks or
    double-clicks a metric."""

    chartToggled = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("metricBrowser")
        self.model = MetricListModel(self)
        self.model.chartToggled.connect(self.chartToggled)
        self.proxy = MetricFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        title = QLabel("Metrics", self)
        title.setObjectName("sectionTitle")
        set_themed_style(title, "font-weight: 600; color: #323f4b;")
        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("dashboardMetricSearch")
        self.search_edit.setPlaceholderText("Search metrics…")
        self.search_edit.setClearButtonEnabled(True)
        self.prefix_combo = QComboBox(self)
        self.prefix_combo.setObjectName("dashboardPrefixCombo")
        self.prefix_combo.setToolTip("Show only metrics whose name starts with this prefix")
        self.prefix_combo.addItem("All prefixes", "")
        self.state_combo = QComboBox(self)
        self.state_combo.setObjectName("dashboardStateCombo")
        self.state_combo.setToolTip("Show only metrics in this input state")
        self.state_combo.addItem("All states", "")
        for state in STATES:
            self.state_combo.addItem(STATE_LABELS[state], state)
        filters = QHBoxLayout()
        filters.setSpacing(6)
        filters.addWidget(self.prefix_combo, 1)
        filters.addWidget(self.state_combo, 1)

        self.table = QTableView(self)
        self.table.setObjectName("dashboardMetricList")
        self.table.setModel(self.proxy)
        configure_view(self.table, {NAME: 190})
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(LAST, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(LAST, 78)
        self.table.doubleClicked.connect(self._double_clicked)

        self.count_label = QLabel("", self)
        self.count_label.setObjectName("dashboardMetricCount")
        set_themed_style(self.count_label, "color: #616e7c;")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(title)
        layout.addWidget(self.search_edit)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)

        self.search_edit.textChanged.connect(self._filters_changed)
        self.prefix_combo.currentIndexChanged.connect(self._filters_changed)
        self.state_combo.currentIndexChanged.connect(self._filters_changed)
        self._charted = 0

    def set_metrics(self, infos: Iterable[MetricInfo]) -> None:
        self.model.set_metrics(infos)
        prefixes = self.model.prefixes()
        known = [self.prefix_combo.itemData(i) for i in range(1, self.prefix_combo.count())]
        if prefixes != known:
            current = self.prefix_combo.currentData()
            self.prefix_combo.blockSignals(True)
            while self.prefix_combo.count() > 1:
                self.prefix_combo.removeItem(1)
            for prefix in prefixes:
                self.prefix_combo.addItem(f"{prefix}.*", prefix)
            index = self.prefix_combo.findData(current)
            self.prefix_combo.setCurrentIndex(max(0, index))
            self.prefix_combo.blockSignals(False)
            self._filters_changed()
        self._update_count()

    def set_charted(self, keys: Iterable[str]) -> None:
        charted = list(keys)
        self._charted = len(charted)
        self.model.set_charted(charted)
        self._update_count()

    def visible_keys(self) -> list[str]:
        """Keys of the rows the filters let through, in display order."""
        return [
            str(self.proxy.index(row, NAME).data(KeyRole)) for row in range(self.proxy.rowCount())
        ]

    def set_prefix(self, prefix: str) -> None:
        self.prefix_combo.setCurrentIndex(max(0, self.prefix_combo.findData(prefix)))

    def set_state(self, state: str) -> None:
        self.state_combo.setCurrentIndex(max(0, self.state_combo.findData(state)))

    def _filters_changed(self) -> None:
        self.proxy.set_filters(
            text=self.search_edit.text(),
            prefix=str(self.prefix_combo.currentData() or ""),
            state=str(self.state_combo.currentData() or ""),
        )
        self._update_count()

    def _update_count(self) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        text = f"{total} metrics · {self._charted} charted"
        if shown != total:
            text = f"{shown} of {total} metrics shown · {self._charted} charted"
        self.count_label.setText(text)

    def _double_clicked(self, index: QModelIndex) -> None:
        key = str(index.siblingAtColumn(NAME).data(KeyRole))
        checked = index.siblingAtColumn(NAME).data(Qt.ItemDataRole.CheckStateRole)
        self.chartToggled.emit(key, checked != Qt.CheckState.Checked)
