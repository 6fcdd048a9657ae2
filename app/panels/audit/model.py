"""Table model of audit entries, newest first, with a filter proxy.

The model keeps at most ``max_rows`` entries. Live entries are inserted with
``beginInsertRows`` (never a reset), so selections and scroll positions stay.
"""

from __future__ import annotations

import bisect
import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont

from app.shared.formatting import format_time
from app.shared.table_model import FixedColumnsModel
from app.theme import themed
from chimera_engine.store.records import AuditEntry

COLUMNS: tuple[str, ...] = ("#", "Time", "Actor", "Role", "Action", "Target", "Outcome", "Detail")
SEQ, TIME, ACTOR, ROLE, ACTION, TARGET, OUTCOME, DETAIL = range(len(COLUMNS))
OUTCOMES: tuple[str, ...] = ("ok", "denied", "error")

#: Raw value for sorting (``seq`` and ``ts`` as numbers).
SortRole = Qt.ItemDataRole.UserRole + 1
#: Lower-cased text of every column of the row, for the text filter.
SearchRole = Qt.ItemDataRole.UserRole + 2
#: The :class:`AuditEntry` of the row.
EntryRole = Qt.ItemDataRole.UserRole + 3

ROW_TINT = {"denied": QColor("#fde4e2"), "error": QColor("#fff0c7")}
OUTCOME_TEXT = {"ok": QColor("#05603a"), "denied": QColor("#b42318"), "error": QColor("#93370d")}

ModelIndex = QModelIndex | QPersistentModelIndex


def compact_json(detail: dict[str, Any]) -> str:
    if not detail:
        return ""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)


class _Row:
    """An entry with its display strings computed once."""

    __slots__ = ("entry", "search", "texts")

    def __init__(self, entry: AuditEntry) -> None:
        self.entry = entry
        self.texts = (
            str(entry.seq),
            format_time(entry.ts),
            entry.actor,
            entry.role,
            entry.action,
            entry.target,
            entry.outcome,
            compact_json(entry.detail),
        )
        self.search = "\x1f".join(self.texts).lower()


class AuditTableModel(FixedColumnsModel):
    """Audit entries ordered by ``seq``, newest (highest) first."""

    headers = COLUMNS

    def __init__(self, max_rows: int = 10_000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_rows = max_rows
        self._rows: list[_Row] = []
        self._neg_seqs: list[int] = []  # -seq of each row: ascending, for bisect
        self._bold = QFont()
        self._bold.setBold(True)

    # -- reading --------------------------------------------------------------------------
    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row.texts[column]
        if role == SortRole:
            if column == SEQ:
                return row.entry.seq
            if column == TIME:
                return row.entry.ts
            return row.texts[column]
        if role == Qt.ItemDataRole.BackgroundRole:
            tint = ROW_TINT.get(row.entry.outcome)
            return QBrush(themed(tint)) if tint is not None else None
        if role == Qt.ItemDataRole.ForegroundRole and column == OUTCOME:
            colour = OUTCOME_TEXT.get(row.entry.outcome)
            return QBrush(themed(colour)) if colour is not None else None
        if role == Qt.ItemDataRole.FontRole and column == OUTCOME:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole and column == DETAIL and row.entry.detail:
            return json.dumps(row.entry.detail, indent=2, sort_keys=True, default=str)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == SEQ:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == SearchRole:
            return row.search
        if role == EntryRole:
            return row.entry
        return None

    def entry(self, row: int) -> AuditEntry:
        return self._rows[row].entry

    def entries(self) -> list[AuditEntry]:
        return [row.entry for row in self._rows]

    def top_seq(self) -> int:
        return self._rows[0].entry.seq if self._rows else 0

    # -- writing --------------------------------------------------------------------------
    def load(self, entries: Iterable[AuditEntry]) -> None:
        """Merge a queried batch with what is shown (live rows may have arrived first).

        This is the one operation that resets the model: use it for the initial
        load and explicit reloads, not for live updates.
        """
        merged = {row.entry.seq: row for row in self._rows}
        for entry in entries:
            merged.setdefault(entry.seq, _Row(entry))
        rows = sorted(merged.values(), key=lambda r: r.entry.seq, reverse=True)[: self.max_rows]
        self.beginResetModel()
        self._rows = rows
        self._neg_seqs = [-r.entry.seq for r in rows]
        self.endResetModel()

    def add(self, entries: Sequence[AuditEntry]) -> int:
        """Insert live entries in place (normally all at the top); return how many were new."""
        fresh = sorted(
            (e for e in {e.seq: e for e in entries}.values() if not self._has(e.seq)),
            key=lambda e: e.seq,
            reverse=True,
        )
        if not fresh:
            return 0
        if not self._rows or fresh[-1].seq > self._rows[0].entry.seq:
            self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
            self._rows[0:0] = [_Row(e) for e in fresh]
            self._neg_seqs[0:0] = [-e.seq for e in fresh]
            self.endInsertRows()
        else:  # out of order (rare): place each one where its seq belongs
            for entry in fresh:
                position = bisect.bisect_left(self._neg_seqs, -entry.seq)
                self.beginInsertRows(QModelIndex(), position, position)
                self._rows.insert(position, _Row(entry))
                self._neg_seqs.insert(position, -entry.seq)
                self.endInsertRows()
        self._trim()
        return len(fresh)

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self._neg_seqs = []
        self.endResetModel()

    def _has(self, seq: int) -> bool:
        position = bisect.bisect_left(self._neg_seqs, -seq)
        return position < len(self._neg_seqs) and self._neg_seqs[position] == -seq

    def _trim(self) -> None:
        excess = len(self._rows) - self.max_rows
        if excess <= 0:
            return
        first = len(self._rows) - excess
        self.beginRemoveRows(QModelIndex(), first, len(self._rows) - 1)
        del self._rows[first:]
        del self._neg_seqs[first:]
        self.endRemoveRows()


class AuditFilterProxy(QSortFilterProxyModel):
    """Filters by outcome and by a case-insensitive text over every column."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._outcome = ""
        self._hide_system = False
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    @property
    def text(self) -> str:
        return self._text

    @property
    def outcome(self) -> str:
        return self._outcome

    def set_text(self, text: str) -> None:
        text = text.strip().lower()
        if text != self._text:
            with self._filter_change():
                self._text = text

    @property
    def hide_system(self) -> bool:
        return self._hide_system

    def set_hide_system(self, hide: bool) -> None:
        """Leave out the engine's own entries (``system:`` actors, e.g. the demo)."""
        if hide != self._hide_system:
            with self._filter_change():
                self._hide_system = hide

    def set_outcome(self, outcome: str) -> None:
        """``""`` (all) or one of :data:`OUTCOMES`."""
        if outcome and outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}")
        if outcome != self._outcome:
            with self._filter_change():
                self._outcome = outcome

    @contextlib.contextmanager
    def _filter_change(self) -> Iterator[None]:
        if hasattr(self, "endFilterChange"):  # Qt >= 6.10 deprecates invalidateRowsFilter()
            self.beginFilterChange()
            yield
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            yield
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        model = self.sourceModel()
        if self._hide_system:
            actor = model.index(source_row, ACTOR, source_parent).data()
            if str(actor).startswith("system:"):
                return False
        if self._outcome:
            outcome = model.index(source_row, OUTCOME, source_parent).data()
            if outcome != self._outcome:
                return False
        if self._text:
            search = model.index(source_row, 0, source_parent).data(SearchRole)
            return self._text in str(search)
        return True
