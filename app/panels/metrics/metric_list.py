"""The metric browser's model: every metric with its last value and input state; a
check box per row says whether it is charted. The filter proxy matches a search
text, a name prefix (``tool``, ``process``, ...) and a state."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from app.panels.metrics.anomalies_model import format_value
from app.shared.table_model import FixedColumnsModel
from chimera_engine.metrics.hub import MetricInfo

COLUMNS = ("Metric", "Last")
NAME, LAST = range(len(COLUMNS))
STATES = ("ok", "warming_up", "constant")
STATE_TEXT = {
    "ok": "learning normally",
    "warming_up": "warming up (fewer than 30 samples; no anomalies yet)",
    "constant": "constant so far (nothing to learn yet)",
}
STATE_COLOUR = {"ok": "#12b76a", "warming_up": "#9aa5b1", "constant": "#f79009"}

#: The metric key of a row.
KeyRole = Qt.ItemDataRole.UserRole + 1
#: The input state of a row (``ok``, ``warming_up``, ``constant``).
StateRole = Qt.ItemDataRole.UserRole + 2

ModelIndex = QModelIndex | QPersistentModelIndex


def prefix_of(key: str) -> str:
    """The first segment of a metric name.

    >>> prefix_of("tool.latency_ms{tool=a.b}"), prefix_of("uptime")
    ('tool', 'uptime')
    """
    return key.split("{", 1)[0].split(".", 1)[0]


def _dot(colour: str) -> QIcon:
    pixmap = QPixmap(10, 10)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    painter.drawEllipse(1, 1, 8, 8)
    painter.end()
    return QIcon(pixmap)


class MetricListModel(FixedColumnsModel):
    """:attr:`chartToggled` (key, charted) when the operator ticks or unticks a row."""

    headers = COLUMNS

    chartToggled = Signal(str, bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[MetricInfo] = []
        self._charted: set[str] = set()
        self._icons: dict[str, QIcon] = {}

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid() and index.column() == NAME:
            return base | Qt.ItemFlag.ItemIsUserCheckable
        return base

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        info = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return info.key if column == NAME else format_value(info.last_value)
        if role == KeyRole:
            return info.key
        if role == StateRole:
            return info.state
        if role == Qt.ItemDataRole.CheckStateRole and column == NAME:
            charted = info.key in self._charted
            return Qt.CheckState.Checked if charted else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DecorationRole and column == LAST:
            return self._icon(info.state)
        if role == Qt.ItemDataRole.ToolTipRole:
            rejected = f"; {info.rejected} rejected" if info.rejected else ""
            return (
                f"{info.key}\n{info.samples:,} samples{rejected}; "
                f"{STATE_TEXT.get(info.state, info.state)}"
            )
        if role == Qt.ItemDataRole.TextAlignmentRole and column == LAST:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index: ModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.CheckStateRole:
            return False
        key = self._rows[index.row()].key
        checked = Qt.CheckState(value) == Qt.CheckState.Checked
        self.chartToggled.emit(key, checked)
        return True

    def _icon(self, state: str) -> QIcon:
        icon = self._icons.get(state)
        if icon is None:
            icon = self._icons[state] = _dot(STATE_COLOUR.get(state, "#9aa5b1"))
        return icon

    # -- content --------------------------------------------------------------------------
    def metric_keys(self) -> list[str]:
        return [info.key for info in self._rows]

    def prefixes(self) -> list[str]:
        return sorted({prefix_of(info.key) for info in self._rows})

    def row_of(self, key: str) -> int:
        return next((i for i, info in enumerate(self._rows) if info.key == key), -1)

    def set_metrics(self, infos: Iterable[MetricInfo]) -> None:
        """Show ``infos`` (sorted by key); a reset only when the set of metrics changed."""
        rows = sorted(infos, key=lambda i: i.key)
        if [i.key for i in rows] == self.metric_keys():
            changed = [n for n, (a, b) in enumerate(zip(self._rows, rows, strict=True)) if a != b]
            self._rows = rows
            if changed:
                top, bottom = self.index(min(changed), 0), self.index(max(changed), LAST)
                self.dataChanged.emit(top, bottom)
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def set_charted(self, keys: Iterable[str]) -> None:
        charted = set(keys)
        if charted == self._charted:
            return
        self._charted = charted
        if self._rows:
            self.dataChanged.emit(
                self.index(0, NAME),
                self.index(len(self._rows) - 1, NAME),
                [Qt.ItemDataRole.CheckStateRole],
            )


class MetricFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._prefix = ""
        self._state = ""

    def set_filters(self, *, text: str, prefix: str, state: str) -> None:
        if (text.strip().lower(), prefix, state) == (self._text, self._prefix, self._state):
            return
        if hasattr(self, "endFilterChange"):  # Qt >= 6.10 deprecates invalidateRowsFilter()
            self.beginFilterChange()
            self._text, self._prefix, self._state = text.strip().lower(), prefix, state
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._text, self._prefix, self._state = text.strip().lower(), prefix, state
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        model = self.sourceModel()
        index = model.index(source_row, NAME, source_parent)
        key = str(index.data(KeyRole))
        if self._text and self._text not in key.lower():
            return False
        if self._prefix and prefix_of(key) != self._prefix:
            return False
        return not self._state or index.data(StateRole) == self._state
