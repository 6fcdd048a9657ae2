"""Item delegates shared by the console's views."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSize
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem


class PaddedDelegate(QStyledItemDelegate):
    """Adds ``padding`` pixels above and below each row, so trees breathe like tables."""

    def __init__(self, padding: int = 4, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.padding = padding

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width(), size.height() + 2 * self.padding)
