"""A read-only code view with a line-number gutter and per-line background tints.

The gutter shows the block numbers, or any labels set with
:meth:`NumberedCodeView.set_labels` (a side-by-side diff numbers the lines of
the file, not of the view, and leaves filler lines blank). Tints are drawn as
full-width extra selections, so they combine with a syntax highlighter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QResizeEvent, QTextCursor, QTextFormat
from PySide6.QtWidgets import QTextEdit, QWidget

from app.theme import themed
from app.widgets.code_view import CodeView

GUTTER_BACKGROUND = QColor("#f4f6f9")
GUTTER_TEXT = QColor("#8a94a6")
GUTTER_PADDING = 8

Span = tuple[int, int]


class _Gutter(QWidget):
    def __init__(self, view: NumberedCodeView) -> None:
        super().__init__(view)
        self._view = view

    def sizeHint(self) -> QSize:
        return QSize(self._view.gutter_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:
        self._view.paint_gutter(self, event)


class NumberedCodeView(CodeView):
    def __init__(self, object_name: str, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(object_name, placeholder, parent)
        self._labels: list[str] | None = None
        self.gutter = _Gutter(self)
        self.gutter.setObjectName(f"{object_name}Gutter")
        self.blockCountChanged.connect(self._update_margins)
        self.updateRequest.connect(self._update_gutter)
        self._update_margins()

    # -- labels and tints --------------------------------------------------------------------
    def set_labels(self, labels: Sequence[str] | None) -> None:
        """Gutter text per line (``None``: the line numbers)."""
        self._labels = list(labels) if labels is not None else None
        self._update_margins()
        self.gutter.update()

    def label(self, line: int) -> str:
        if self._labels is None:
            return str(line + 1)
        return self._labels[line] if line < len(self._labels) else ""

    def set_tints(
        self,
        tints: Mapping[int, QColor],
        spans: Mapping[int, tuple[Sequence[Span], QColor]] | None = None,
    ) -> None:
        """Tint whole lines (line -> colour) and, over those, character ranges of lines."""
        selections: list[QTextEdit.ExtraSelection] = []
        document = self.document()
        for line, colour in sorted(tints.items()):
            block = document.findBlockByNumber(line)
            if not block.isValid():
                continue
            selection = QTextEdit.ExtraSelection()
            selection.format.setBackground(colour)
            selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            selection.cursor = QTextCursor(block)
            selections.append(selection)
        for line, (ranges, colour) in sorted((spans or {}).items()):
            block = document.findBlockByNumber(line)
            for start, end in ranges:
                if not block.isValid() or end <= start:
                    continue
                cursor = QTextCursor(block)
                cursor.setPosition(block.position() + start)
                cursor.setPosition(block.position() + end, QTextCursor.MoveMode.KeepAnchor)
                selection = QTextEdit.ExtraSelection()
                selection.format.setBackground(colour)
                selection.cursor = cursor
                selections.append(selection)
        self.setExtraSelections(selections)

    # -- the gutter --------------------------------------------------------------------------
    def gutter_width(self) -> int:
        if self._labels is not None:
            digits = max((len(text) for text in self._labels), default=1)
        else:
            digits = len(str(max(1, self.blockCount())))
        return 2 * GUTTER_PADDING + self.fontMetrics().horizontalAdvance("9") * max(2, digits)

    def _update_margins(self) -> None:
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)

    def _update_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self.gutter.scroll(0, dy)
        else:
            self.gutter.update(0, rect.y(), self.gutter.width(), rect.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        area = self.contentsRect()
        self.gutter.setGeometry(QRect(area.left(), area.top(), self.gutter_width(), area.height()))

    def paint_gutter(self, gutter: QWidget, event: QPaintEvent) -> None:
        painter = QPainter(gutter)
        painter.fillRect(event.rect(), themed(GUTTER_BACKGROUND))
        painter.setPen(themed(GUTTER_TEXT))
        painter.setFont(self.font())
        height = self.fontMetrics().height()
        width = gutter.width() - GUTTER_PADDING
        block = self.firstVisibleBlock()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        while block.isValid() and top <= event.rect().bottom():
            bottom = top + round(self.blockBoundingRect(block).height())
            if block.isVisible() and bottom >= event.rect().top():
                painter.drawText(
                    0,
                    top,
                    width,
                    height,
                    int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                    self.label(block.blockNumber()),
                )
            block = block.next()
            top = bottom
        painter.end()
