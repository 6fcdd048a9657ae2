"""One card of the Overview: a section's title, its summary, its items or what to do next.

Items are coloured by severity and carry their :class:`~app.shared.overview.Item`;
clicking (or Enter on) one emits :attr:`OverviewCard.itemClicked`. A card only
rebuilds its list when the section's items changed, so a refresh that changes
nothing keeps the selection and the scroll position.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.shared.overview import Item, Section
from app.widgets.style import set_severity

ItemRole = Qt.ItemDataRole.UserRole + 1
#: Item colours by severity, for a light and a dark palette.
COLOURS = {
    False: {"critical": "#c4320a", "warn": "#b54708", "ok": "#067647"},
    True: {"critical": "#f97066", "warn": "#fdb022", "ok": "#47cd89"},
}
DOTS = {"critical": "●", "warn": "●", "ok": "●", "muted": "○"}

CARD_STYLE = """
QFrame#overviewCard { border: 1px solid palette(mid); border-radius: 6px;
    background: palette(base); }
QFrame#overviewCard QLabel { border: none; background: transparent; }
QLabel#overviewCardTitle { font-weight: 600; }
QListWidget#overviewCardList { border: none; }
QListWidget#overviewCardList::item { padding: 2px 0; }
"""


def is_dark(widget: QWidget) -> bool:
    """Whether ``widget`` is drawn on a dark palette (the dark theme)."""
    return widget.palette().color(QPalette.ColorRole.Base).lightness() < 128


class OverviewCard(QFrame):
    """:attr:`itemClicked` (item) when a row is clicked; :attr:`actionClicked` when the
    card's action button (hidden until :meth:`set_action`) is clicked."""

    itemClicked = Signal(object)  # Item
    actionClicked = Signal()

    def __init__(self, name: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("overviewCard")
        self.setProperty("section", name)
        self.setStyleSheet(CARD_STYLE)
        self.name = name
        self._items: tuple[Item, ...] | None = None
        self.title_label = QLabel(title, self)
        self.title_label.setObjectName("overviewCardTitle")
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("overviewCardSummary")
        # a long summary wraps under the title rather than widening the window
        self.summary_label.setWordWrap(True)
        self.summary_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        set_severity(self.summary_label, "muted")
        self.list = QListWidget(self)
        self.list.setObjectName("overviewCardList")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setWordWrap(True)
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.list.setCursor(Qt.CursorShape.PointingHandCursor)
        self.empty_label = QLabel(self)
        self.empty_label.setObjectName("overviewCardEmpty")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        set_severity(self.empty_label, "muted")
        # title and summary wrap, so a narrow window squeezes a card instead of growing
        self.title_label.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(self.title_label, 1)
        header.addWidget(self.summary_label, 1)
        self.action_button = QPushButton(self)
        self.action_button.setObjectName("overviewCardAction")
        self.action_button.clicked.connect(self.actionClicked)
        self.action_button.hide()
        header.addWidget(self.action_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label, 1)
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)
        self.empty_label.hide()

    def set_action(self, text: str, tip: str, enabled: bool) -> None:
        """Show the card's action button (``text``), enabled or not, with ``tip``."""
        self.action_button.setText(text)
        self.action_button.setToolTip(tip)
        self.action_button.setEnabled(enabled)
        self.action_button.show()

    def show_section(self, section: Section) -> None:
        self.summary_label.setText(section.summary)
        set_severity(self.summary_label, section.severity)
        empty = not section.items
        self.empty_label.setText(section.empty_text if empty else "")
        self.empty_label.setVisible(empty)
        self.list.setVisible(not empty)
        if section.items == self._items:
            return
        self._items = section.items
        self.list.clear()
        for item in section.items:
            row = QListWidgetItem(f"{DOTS[item.severity]} {item.text}", self.list)
            row.setData(ItemRole, item)
            row.setToolTip(item.tip or item.text)
        self._colour()

    def _colour(self) -> None:
        colours = COLOURS[is_dark(self)]
        for i in range(self.list.count()):
            row = self.list.item(i)
            item = row.data(ItemRole)
            colour = colours.get(item.severity) if isinstance(item, Item) else None
            if colour:
                row.setForeground(QBrush(QColor(colour)))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._colour()

    def texts(self) -> list[str]:
        """The items' lines as shown (without the severity dot)."""
        return [self.list.item(i).text()[2:] for i in range(self.list.count())]

    def click(self, row: int) -> None:
        """Click item ``row`` (as the operator would)."""
        item = self.list.item(row)
        self.list.setCurrentItem(item)
        self._clicked(item)

    def _clicked(self, row: QListWidgetItem) -> None:
        item = row.data(ItemRole)
        if isinstance(item, Item) and item.panel:
            self.itemClicked.emit(item)
