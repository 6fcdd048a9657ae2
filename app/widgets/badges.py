"""Paints :class:`~app.shared.badges.Badge` cells as rounded, coloured pills."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from app.shared.badges import Badge, BadgeRole
from app.theme import themed
from app.widgets.tables import configure_view

PADDING_X = 7
MARGIN_X = 6
GAP = 6


class BadgeDelegate(QStyledItemDelegate):
    """Cells whose model returns a :class:`Badge` for ``BadgeRole`` get a pill (and the
    badge's ``rest`` text after it); other cells are painted as usual."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        badge = index.data(BadgeRole)
        if not isinstance(badge, Badge):
            super().paint(painter, option, index)
            return
        # The background, selection and focus as usual, without the text.
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        rect = opt.rect
        font = QFont(opt.font)
        small = QFont(font)
        small.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        small.setWeight(QFont.Weight.DemiBold)
        metrics = QFontMetrics(small)
        height = min(rect.height() - 6, metrics.height() + 6)
        width = metrics.horizontalAdvance(badge.label) + 2 * PADDING_X
        pill = QRectF(rect.left() + MARGIN_X, rect.center().y() - height / 2 + 1, width, height)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(themed(badge.background))
        painter.drawRoundedRect(pill, height / 2, height / 2)
        painter.setFont(small)
        painter.setPen(themed(badge.foreground))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, badge.label)
        if badge.rest:
            painter.setFont(font)
            painter.setPen(opt.palette.color(opt.palette.ColorRole.Text))
            left = int(pill.right()) + GAP
            text_rect = rect.adjusted(left - rect.left(), 0, -4, 0)
            elided = QFontMetrics(font).elidedText(
                badge.rest, Qt.TextElideMode.ElideRight, text_rect.width()
            )
            painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignVCenter), elided)
        painter.restore()

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = super().sizeHint(option, index)
        badge = index.data(BadgeRole)
        if not isinstance(badge, Badge):
            return size
        metrics = QFontMetrics(option.font)
        width = metrics.horizontalAdvance(badge.label) + 2 * (PADDING_X + MARGIN_X)
        if badge.rest:
            width += GAP + metrics.horizontalAdvance(badge.rest)
        return QSize(max(size.width(), width), size.height())


def badge_table(
    name: str,
    model: QAbstractItemModel,
    widths: Mapping[int, int],
    parent: QWidget,
    *,
    sortable: bool = True,
) -> QTableView:
    """A read-only table of ``model`` with badge cells and one row selected at a time;
    ``sortable``: sorted by a header click, in the model's own order until then."""
    table = QTableView(parent)
    table.setObjectName(name)
    table.setModel(model)
    table.setItemDelegate(BadgeDelegate(table))
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    if sortable:
        table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        table.setSortingEnabled(True)
    configure_view(table, widths)
    return table
