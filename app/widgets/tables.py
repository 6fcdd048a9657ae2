"""The look shared by the console's tables and trees."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QTreeView


def configure_view(view: QTableView | QTreeView, widths: Mapping[int, int]) -> None:
    """Read-only rows, alternating colours, left-aligned headers; the last column
    stretches and the others start at ``widths`` (columns to pixels)."""
    view.setAlternatingRowColors(True)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    if isinstance(view, QTableView):
        header = view.horizontalHeader()
        view.setWordWrap(False)
        view.verticalHeader().setVisible(False)
        view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 12)
    else:
        header = view.header()
    header.setStretchLastSection(True)
    header.setHighlightSections(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setMinimumSectionSize(40)
    for column, width in widths.items():
        view.setColumnWidth(column, width)


class RowAnchor(QObject):
    """Keeps the rows on screen where they are when rows are inserted above them.

    A table whose newest rows come first (anomalies, events) would otherwise move every
    row down under the operator's pointer on each insert. Once the operator has scrolled
    or selected a row, inserted rows above the first visible one shift the scroll
    position by as much, so what they look at stays put (the selection already follows
    its record). At the very top with nothing selected the new rows show as they come.
    """

    def __init__(self, view: QTableView) -> None:
        super().__init__(view)
        self._view = view
        model = view.model()
        model.rowsAboutToBeInserted.connect(self._before)
        model.rowsInserted.connect(self._after)
        self._value = 0

    def _pinned(self) -> bool:
        bar = self._view.verticalScrollBar()
        selection = self._view.selectionModel()
        return bar.value() > 0 or (selection is not None and selection.hasSelection())

    def _before(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        self._value = self._view.verticalScrollBar().value()

    def _after(self, _parent: QModelIndex, first: int, last: int) -> None:
        if not self._pinned():
            return
        top = self._view.rowAt(0)
        if top < 0 or first > top:
            return  # inserted below what is on screen: nothing moves
        view = self._view
        if view.verticalScrollMode() == QAbstractItemView.ScrollMode.ScrollPerItem:
            step = last - first + 1
        else:
            step = sum(view.rowHeight(row) for row in range(first, last + 1))
        bar = view.verticalScrollBar()
        bar.setMaximum(max(bar.maximum(), self._value + step))
        bar.setValue(self._value + step)
