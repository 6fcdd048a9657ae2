"""Two code views, old | new, aligned line by line and scrolled together.

Removed lines are tinted red on the left, added lines green on the right, the
changed characters of a changed line a deeper shade, and filler lines (where
the other side has a line this one lacks) grey. Both sides keep Python
highlighting.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QScrollBar, QSplitter, QVBoxLayout, QWidget

from app.panels.patches.numbered_view import NumberedCodeView
from app.panels.patches.side_by_side_model import ADDED, CHANGED, FILE, REMOVED, SideBySide
from app.theme import current_theme, themed
from app.widgets.code_view import PythonHighlighter
from app.widgets.style import set_severity

REMOVED_TINT = QColor("#fdecea")
ADDED_TINT = QColor("#e7f8ee")
REMOVED_SPAN = QColor("#f9c9c4")
ADDED_SPAN = QColor("#b7ebc9")
FILLER_TINT = QColor("#f1f3f6")
FILE_TINT = QColor("#eef4ff")

_OLD_TINTS = {REMOVED: REMOVED_TINT, CHANGED: REMOVED_TINT, ADDED: FILLER_TINT, FILE: FILE_TINT}
_NEW_TINTS = {ADDED: ADDED_TINT, CHANGED: ADDED_TINT, REMOVED: FILLER_TINT, FILE: FILE_TINT}


def _caption(name: str, parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    set_severity(label, "muted")
    return label


class SideBySideDiff(QWidget):
    """``show(view, old_title, new_title)`` fills both sides; ``clear()`` empties them."""

    _theme: str | None = None  # the theme the colours were made for (set once built)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.old_view = NumberedCodeView(f"{name}Old", "Select a patch to see its diff", self)
        self.new_view = NumberedCodeView(f"{name}New", "", self)
        self.old_highlighter = PythonHighlighter(self.old_view.document())
        self.new_highlighter = PythonHighlighter(self.new_view.document())
        self.old_caption = _caption(f"{name}OldCaption", self)
        self.new_caption = _caption(f"{name}NewCaption", self)
        self.kinds: list[str] = []
        self._shown: tuple[SideBySide, str, str] | None = None
        self._theme = current_theme()

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName(f"{name}Splitter")
        splitter.setChildrenCollapsible(False)
        for caption, view in ((self.old_caption, self.old_view), (self.new_caption, self.new_view)):
            side = QWidget(splitter)
            layout = QVBoxLayout(side)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.setSpacing(4)
            layout.addWidget(caption)
            layout.addWidget(view, 1)
            splitter.addWidget(side)
        splitter.setSizes([1, 1])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self._sync(self.old_view.verticalScrollBar(), self.new_view.verticalScrollBar())
        self._sync(self.old_view.horizontalScrollBar(), self.new_view.horizontalScrollBar())

    @staticmethod
    def _sync(first: QScrollBar, second: QScrollBar) -> None:
        def follow(target: QScrollBar) -> object:
            def moved(value: int) -> None:
                if target.value() != value:
                    target.setValue(value)

            return moved

        first.valueChanged.connect(follow(second))
        second.valueChanged.connect(follow(first))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._theme not in (None, current_theme()):
            self._theme = current_theme()
            self._retint()

    def _retint(self) -> None:
        if self._shown is not None:  # the tints are colours of the theme they were made in
            scroll = self.old_view.verticalScrollBar().value()
            self.show_view(*self._shown)
            self.scroll_to_line(scroll)

    def show_view(self, view: SideBySide, old_title: str, new_title: str) -> None:
        self._shown = (view, old_title, new_title)
        self.kinds = list(view.kinds)
        self.old_caption.setText(old_title)
        self.new_caption.setText(new_title)
        for code, text, labels in (
            (self.old_view, view.old_text, view.old_labels),
            (self.new_view, view.new_text, view.new_labels),
        ):
            code.show_text(text)
            code.set_labels(labels)
        self.old_view.set_tints(
            {i: themed(_OLD_TINTS[k]) for i, k in enumerate(view.kinds) if k in _OLD_TINTS},
            {i: (spans, themed(REMOVED_SPAN)) for i, spans in view.old_spans.items()},
        )
        self.new_view.set_tints(
            {i: themed(_NEW_TINTS[k]) for i, k in enumerate(view.kinds) if k in _NEW_TINTS},
            {i: (spans, themed(ADDED_SPAN)) for i, spans in view.new_spans.items()},
        )
        first_change = next((i for i, k in enumerate(view.kinds) if k not in ("equal", FILE)), 0)
        self.scroll_to_line(max(0, first_change - 4))

    def scroll_to_line(self, line: int) -> None:
        """Scroll both sides so that ``line`` is at the top."""
        self.old_view.verticalScrollBar().setValue(line)

    def clear(self, placeholder: str = "") -> None:
        self._shown = None
        self.kinds = []
        self.old_caption.setText("")
        self.new_caption.setText("")
        for code in (self.old_view, self.new_view):
            code.show_text("")
            code.set_labels(None)
            code.set_tints({})
        if placeholder:
            self.old_view.setPlaceholderText(placeholder)
