"""The anomalies the console knows about: a table model (most recent first) and, per
metric, what the charts draw as markers.

Rows come from the engine's persisted list (:meth:`AnomalyTableModel.merge`) and
from live events (:meth:`AnomalyTableModel.add`); an anomaly is one row whatever
the order those arrive in. New rows are inserted with ``beginInsertRows`` so the
selection and scroll position stay. :meth:`revision` changes whenever a metric's
anomalies change: charts redraw their markers only then.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QFont

from app.panels.metrics.anomaly_kinds import kind_style
from app.shared.formatting import format_clock, format_time
from app.shared.table_model import FixedColumnsModel
from app.theme import themed
from chimera_engine.anomaly.engine import AnomalyEvent
from chimera_engine.metrics.hub import StoredAnomaly

COLUMNS = ("Time", "Metric", "Type", "Score", "Value", "Expected", "Acknowledged")
TIME, METRIC, KIND, SCORE, VALUE, EXPECTED, ACKED = range(len(COLUMNS))

#: The :class:`AnomalyRecord` of a row.
AnomalyRole = Qt.ItemDataRole.UserRole + 1

ModelIndex = QModelIndex | QPersistentModelIndex


def format_when(ts: float, now: float | None = None) -> str:
    """``hh:mm:ss`` for a time today, ``Mon dd hh:mm`` for another day (local time).

    >>> import time
    >>> t = time.time()
    >>> format_when(t) == time.strftime("%H:%M:%S", time.localtime(t))
    True
    >>> len(format_when(t, now=t + 3 * 86400))
    12
    """
    when = datetime.fromtimestamp(ts)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    return when.strftime("%H:%M:%S") if when.date() == today else when.strftime("%b %d %H:%M")


@dataclass(frozen=True, kw_only=True)
class AnomalyRecord:
    id: int
    metric: str
    t: float
    value: float
    expected: float
    score: float
    kind: str
    acknowledged_by: str = ""
    acknowledged_at: float | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None or bool(self.acknowledged_by)

    @classmethod
    def from_stored(cls, a: StoredAnomaly) -> AnomalyRecord:
        return cls(
            id=a.id,
            metric=a.metric,
            t=a.t,
            value=a.value,
            expected=a.expected,
            score=a.score,
            kind=a.kind,
            acknowledged_by=a.acknowledged_by or "",
            acknowledged_at=a.acknowledged_at,
        )

    @classmethod
    def from_event(cls, anomaly_id: int, e: AnomalyEvent) -> AnomalyRecord:
        return cls(
            id=anomaly_id,
            metric=e.metric,
            t=e.t,
            value=e.value,
            expected=e.expected,
            score=e.score,
            kind=e.kind.value,
        )

    def describe(self) -> str:
        """One line for the details label."""
        style = kind_style(self.kind)
        ack = f"acknowledged by {self.acknowledged_by}" if self.acknowledged else "not acknowledged"
        return (
            f"{style.label} on {self.metric} at {format_time(self.t)}: value "
            f"{format_value(self.value)}, expected {format_value(self.expected)}, "
            f"score {self.score:.2f} ({ack})"
        )


def _key(record: AnomalyRecord) -> tuple[float, int]:
    return (-record.t, -record.id)


def format_value(x: float) -> str:
    """A measurement with four significant digits.

    >>> format_value(1234.5678), format_value(0.012344), format_value(3.0)
    ('1,235', '0.01234', '3')
    """
    if x != x:  # NaN
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


class AnomalyTableModel(FixedColumnsModel):
    headers = COLUMNS

    def __init__(self, max_rows: int = 2000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_rows = max_rows
        self._rows: list[AnomalyRecord] = []  # most recent (time, then id) first
        self._keys: list[tuple[float, int]] = []  # (-t, -id) of each row, ascending: bisect
        self._by_id: dict[int, AnomalyRecord] = {}
        self._by_metric: dict[str, dict[int, AnomalyRecord]] = defaultdict(dict)
        self._revisions: dict[str, int] = defaultdict(int)
        self._bold = QFont()
        self._bold.setBold(True)

    # -- reading --------------------------------------------------------------------------
    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == AnomalyRole:
            return row
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == KIND:
                return QBrush(themed(kind_style(row.kind).colour))
            if column == ACKED and not row.acknowledged:
                return QBrush(themed("#93370d"))
        if role == Qt.ItemDataRole.FontRole and (
            column == KIND or (column == ACKED and not row.acknowledged)
        ):
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.describe()
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (SCORE, VALUE, EXPECTED):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(row: AnomalyRecord, column: int) -> str:
        if column == TIME:
            return format_when(row.t)
        if column == METRIC:
            return row.metric
        if column == KIND:
            return kind_style(row.kind).label
        if column == SCORE:
            return f"{row.score:.2f}"
        if column == VALUE:
            return format_value(row.value)
        if column == EXPECTED:
            return format_value(row.expected)
        if not row.acknowledged:
            return "Open"
        when = f" at {format_clock(row.acknowledged_at)}" if row.acknowledged_at else ""
        return f"{row.acknowledged_by}{when}"

    def record(self, row: int) -> AnomalyRecord:
        return self._rows[row]

    def get(self, anomaly_id: int) -> AnomalyRecord | None:
        return self._by_id.get(anomaly_id)

    def row_of(self, anomaly_id: int) -> int:
        """The row showing ``anomaly_id`` (-1: none)."""
        record = self._by_id.get(anomaly_id)
        if record is None:
            return -1
        return bisect.bisect_left(self._keys, _key(record))

    def for_metric(self, metric: str) -> list[AnomalyRecord]:
        """``metric``'s anomalies held here, in no particular order."""
        return list(self._by_metric.get(metric, {}).values())

    def revision(self, metric: str) -> int:
        """Changes whenever ``metric``'s anomalies change (a cheap "redraw?" check)."""
        return self._revisions.get(metric, 0)

    def open_count(self) -> int:
        return sum(not r.acknowledged for r in self._rows)

    # -- writing --------------------------------------------------------------------------
    def add(self, record: AnomalyRecord) -> None:
        """Insert ``record``, or update the row already showing that anomaly."""
        self.merge([record])

    def merge(self, records: Iterable[AnomalyRecord]) -> None:
        """Insert new anomalies and update known ones (an acknowledgement is never undone)."""
        for record in sorted(records, key=lambda r: r.id):
            row = self.row_of(record.id)
            if row >= 0:
                old = self._rows[row]
                if record.acknowledged or not old.acknowledged:
                    self._replace(row, record)
                continue
            i = bisect.bisect_left(self._keys, _key(record))
            self.beginInsertRows(QModelIndex(), i, i)
            self._rows.insert(i, record)
            self._keys.insert(i, _key(record))
            self._index(record)
            self.endInsertRows()
        self._trim()

    def acknowledge(self, anomaly_id: int, actor: str, at: float | None = None) -> bool:
        """Mark ``anomaly_id`` acknowledged by ``actor``; False when it is not held."""
        row = self.row_of(anomaly_id)
        if row < 0:
            return False
        old = self._rows[row]
        if not old.acknowledged:
            self._replace(row, replace(old, acknowledged_by=actor, acknowledged_at=at))
        return True

    def _replace(self, row: int, record: AnomalyRecord) -> None:
        self._rows[row] = record
        self._index(record)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def _index(self, record: AnomalyRecord) -> None:
        self._by_id[record.id] = record
        self._by_metric[record.metric][record.id] = record
        self._revisions[record.metric] += 1

    def _trim(self) -> None:
        extra = len(self._rows) - self.max_rows
        if extra <= 0:
            return
        first = len(self._rows) - extra
        self.beginRemoveRows(QModelIndex(), first, len(self._rows) - 1)
        for record in self._rows[first:]:
            self._by_id.pop(record.id, None)
            self._by_metric[record.metric].pop(record.id, None)
            self._revisions[record.metric] += 1
        del self._rows[first:]
        del self._keys[first:]
        self.endRemoveRows()
