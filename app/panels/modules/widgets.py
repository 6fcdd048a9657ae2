"""The Module reload panel's views, built and styled in one place."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QTableView,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.panels.modules import reload_log as log_cols
from app.panels.modules import rows as cols
from app.panels.modules.delegates import PaddedDelegate
from app.panels.modules.model import ModuleTreeModel
from app.panels.modules.reload_log import ReloadLogModel
from app.widgets.labels import selectable_label
from app.widgets.tables import configure_view

TREE_WIDTHS = {
    cols.NAME: 138,
    cols.STATE: 88,
    cols.CALLS: 54,
    cols.ERROR_RATE: 90,
    cols.ORIGIN: 148,
    cols.CREATED: 160,
}
LOG_WIDTHS = {
    log_cols.TIME: 76,
    log_cols.MODULE: 130,
    log_cols.VERSIONS: 96,
    log_cols.ORIGIN: 116,
    log_cols.DURATION: 84,
}


def module_tree(model: ModuleTreeModel, parent: QWidget) -> QTreeView:
    """Modules with their versions; several rows can be selected (two: a diff)."""
    tree = QTreeView(parent)
    tree.setObjectName("modulesTree")
    tree.setModel(model)
    tree.setUniformRowHeights(True)
    tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    tree.setItemDelegate(PaddedDelegate(4, tree))
    configure_view(tree, TREE_WIDTHS)
    return tree


def reload_log_box(model: ReloadLogModel, parent: QWidget) -> tuple[QWidget, QTableView]:
    """A titled table of the reload log; returns the box and its table."""
    table = QTableView(parent)
    table.setObjectName("reloadLogTable")
    table.setModel(model)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    configure_view(table, LOG_WIDTHS)
    title = QLabel("Reload log", parent)
    title.setObjectName("sectionTitle")
    box = QWidget(parent)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 4, 0, 0)
    layout.setSpacing(4)
    layout.addWidget(title)
    empty = selectable_label("reloadLogEmpty", box, EMPTY_LOG)
    layout.addWidget(empty)
    layout.addWidget(table, 1)

    def show_empty() -> None:
        empty.setVisible(model.rowCount() == 0)

    for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
        signal.connect(show_empty)
    show_empty()
    return box, table


#: Shown above the reload log while it has no row (a first start, nothing changed yet).
EMPTY_LOG = (
    "No reloads yet: the tools in the workspace were loaded when the engine started. "
    "Saving a tool's file, activating a patch or rolling back shows here."
)
