"""Help > Keyboard shortcuts: every shortcut of the live window, read from its actions.

Nothing here is a hand-kept list: :func:`gather_shortcuts` walks the window's
``QAction`` and ``QShortcut`` objects (menus, panels, the panels' own single-key
shortcuts), so a shortcut added anywhere appears in the sheet by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

WINDOW = "Everywhere"
#: A dynamic property: what the sheet says an action does when its menu text is too short.
SHORTCUT_DESCRIPTION = "shortcutDescription"


@dataclass(frozen=True, order=True)
class ShortcutEntry:
    where: str  # "Everywhere" or the panel the shortcut works in
    keys: str  # native text, several sequences separated by ", "
    action: str


def _keys(sequences: list[QKeySequence]) -> str:
    texts = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in sequences]
    return ", ".join(t for t in texts if t)


def _clean(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(".")


def _where(obj: QObject, window: QWidget) -> str:
    """The title of the dock holding ``obj``, or "Everywhere" for the window's own
    (a dock's own toggle action, Alt+N, works everywhere too)."""
    if isinstance(obj, QAction) and isinstance(obj.parent(), QDockWidget):
        return WINDOW
    node: QObject | None = obj
    while node is not None and node is not window:
        if isinstance(node, QDockWidget):
            return node.windowTitle()
        node = node.parent()
    return WINDOW


def _describe_action(action: QAction) -> str:
    described = action.property(SHORTCUT_DESCRIPTION)
    if isinstance(described, str) and described:
        return described
    parent = action.parent()
    if isinstance(parent, QDockWidget):  # a dock's toggleViewAction
        return f"Show the {parent.windowTitle()} panel"
    return _clean(action.text()) or action.statusTip() or action.objectName()


def _describe_shortcut(shortcut: QShortcut) -> str:
    return (
        shortcut.whatsThis()
        or shortcut.property("description")
        or shortcut.objectName()
        or "(undescribed)"
    )


def gather_shortcuts(window: QWidget) -> list[ShortcutEntry]:
    """Every enabled-or-not action and shortcut under ``window`` that has a key, sorted
    with the window-wide ones first."""
    entries: set[ShortcutEntry] = set()
    for action in window.findChildren(QAction):
        keys = _keys(action.shortcuts())
        if keys and not action.isSeparator():
            entries.add(ShortcutEntry(_where(action, window), keys, _describe_action(action)))
    for shortcut in window.findChildren(QShortcut):
        keys = _keys([shortcut.key()])
        if keys:
            entries.add(ShortcutEntry(_where(shortcut, window), keys, _describe_shortcut(shortcut)))
    return sorted(entries, key=lambda e: (e.where != WINDOW, e.where, e.action.lower()))


class ShortcutsDialog(QDialog):
    """A filterable table of :func:`gather_shortcuts` for ``window``; non-modal."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.entries = gather_shortcuts(window)

        intro = QLabel(
            "Panel shortcuts work while that panel has the focus (click into it first); "
            "single letters never fire while you type in a text field.",
            self,
        )
        intro.setObjectName("dialogText")
        intro.setWordWrap(True)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setObjectName("shortcutsFilter")
        self.filter_edit.setPlaceholderText("Filter by action, key or panel")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.apply_filter)

        self.table = QTableWidget(len(self.entries), 3, self)
        self.table.setObjectName("shortcutsTable")
        self.table.setHorizontalHeaderLabels(["Action", "Keys", "Where"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        for row, entry in enumerate(self.entries):
            for column, text in enumerate((entry.action, entry.keys, entry.where)):
                item = QTableWidgetItem(text)
                if column == 1:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)
        # Always there, so the columns are sized with it from the start (nothing is clipped).
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(620, 560)

    def apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for row, entry in enumerate(self.entries):
            haystack = f"{entry.action} {entry.keys} {entry.where}".lower()
            self.table.setRowHidden(row, bool(needle) and needle not in haystack)

    def visible_entries(self) -> list[ShortcutEntry]:
        return [e for row, e in enumerate(self.entries) if not self.table.isRowHidden(row)]
