"""A read-only table model over a list of records, described column by column.

The administration tables (users, API keys, capabilities, rate limits) are small
and refreshed from the engine as a whole, so :meth:`RecordTableModel.set_rows`
resets the model; views keep their selection by the record's key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush

from app.shared.badges import Badge, BadgeRole
from app.shared.table_model import FixedColumnsModel
from app.theme import themed

T = TypeVar("T")

ModelIndex = QModelIndex | QPersistentModelIndex

#: The record of a row.
RecordRole = Qt.ItemDataRole.UserRole + 1
#: A value to sort by (numbers for times and counts).
SortRole = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True)
class Column(Generic[T]):
    """How one column shows a record: its text, and optionally colour, tooltip, sort key."""

    title: str
    text: Callable[[T], str]
    width: int = 110
    colour: Callable[[T], str | None] | None = None
    tooltip: Callable[[T], str] | None = None
    sort: Callable[[T], Any] | None = None
    right: bool = False
    badge: Callable[[T], Badge | None] | None = None


class RecordTableModel(FixedColumnsModel, Generic[T]):
    def __init__(
        self,
        columns: Sequence[Column[T]],
        key: Callable[[T], object],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.headers = tuple(column.title for column in self.columns)
        self._key = key
        self._rows: list[T] = []

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        record = self._rows[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(record)
        if role == RecordRole:
            return record
        if role == SortRole:
            return column.sort(record) if column.sort else column.text(record)
        if role == Qt.ItemDataRole.ForegroundRole and column.colour is not None:
            colour = column.colour(record)
            return QBrush(themed(colour)) if colour else None
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(record)
        if role == BadgeRole and column.badge is not None:
            return column.badge(record)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # -- records ---------------------------------------------------------------------------
    def set_rows(self, rows: Iterable[T]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def merge(self, rows: Iterable[T]) -> None:
        """Replace the rows without a reset when the records already shown keep their
        order: vanished rows are removed, new ones inserted where they belong and the
        rest refreshed, so views keep their selection and scroll position."""
        new = list(rows)
        new_keys = [self._key(r) for r in new]
        wanted = set(new_keys)
        kept = [self._key(r) for r in self._rows if self._key(r) in wanted]
        if kept != [k for k in new_keys if k in set(kept)]:
            self.set_rows(new)  # the order changed: nothing to keep
            return
        for row in reversed(range(len(self._rows))):
            if self._key(self._rows[row]) not in wanted:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
        for row, record in enumerate(new):
            if row >= len(self._rows) or self._key(self._rows[row]) != new_keys[row]:
                self.beginInsertRows(QModelIndex(), row, row)
                self._rows.insert(row, record)
                self.endInsertRows()
        self._rows = new
        if new:
            last = self.index(len(new) - 1, len(self.columns) - 1)
            self.dataChanged.emit(self.index(0, 0), last)

    def record(self, row: int) -> T:
        return self._rows[row]

    def records(self) -> list[T]:
        return list(self._rows)

    def key(self, record: T) -> object:
        return self._key(record)

    def row_of(self, key: object) -> int:
        """The row of the record with ``key``; -1 if there is none."""
        return next((i for i, r in enumerate(self._rows) if self._key(r) == key), -1)

    def texts(self) -> list[list[str]]:
        """Every cell as shown (for tests and copying)."""
        return [[c.text(r) for c in self.columns] for r in self._rows]

    def widths(self) -> dict[int, int]:
        return {i: c.width for i, c in enumerate(self.columns)}
