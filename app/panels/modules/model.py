"""Tree model of tool modules (top level) and all their versions (children, newest first).

Updates are incremental: :meth:`ModuleTreeModel.merge` inserts new modules and
versions with ``beginInsertRows`` and refreshes the rest with ``dataChanged``,
so the selection and the scroll position survive a reload. Live call counts
arrive as :class:`~app.calls.CallSummary` increments through :meth:`apply_calls`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from app.calls import CallCount, CallSummary
from app.panels.modules.rows import COLUMNS, ModuleEntry, module_data, version_data
from chimera_engine.modules.service import VersionInfo

ModelIndex = QModelIndex | QPersistentModelIndex

#: The :class:`VersionInfo` of a version row (``None`` on module rows).
VersionRole = Qt.ItemDataRole.UserRole + 1
#: The module name of any row.
ModuleRole = Qt.ItemDataRole.UserRole + 2

_MODULE_ID = 0  # internalId of top-level rows; version rows carry their module's id


class ModuleTreeModel(QAbstractItemModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._modules: list[ModuleEntry] = []  # sorted by name
        self._by_id: dict[int, ModuleEntry] = {}
        self._ids = itertools.count(1)

    # -- structure -------------------------------------------------------------------------
    def index(self, row: int, column: int, parent: ModelIndex = QModelIndex()) -> QModelIndex:
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, _MODULE_ID)
        entry = self._modules[parent.row()]
        return self.createIndex(row, column, entry.id)

    def parent(self, index: ModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid() or index.internalId() == _MODULE_ID:
            return QModelIndex()
        entry = self._by_id.get(index.internalId())
        if entry is None:
            return QModelIndex()
        return self.createIndex(self._modules.index(entry), 0, _MODULE_ID)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:
        if not parent.isValid():
            return len(self._modules)
        if parent.internalId() == _MODULE_ID and parent.column() == 0:
            return len(self._modules[parent.row()].versions)
        return 0

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry, version = self._locate(index)
        if entry is None:
            return None
        if role == ModuleRole:
            return entry.name
        if version is None:
            return None if role == VersionRole else module_data(entry, index.column(), role)
        if role == VersionRole:
            return version
        return version_data(entry, version, index.column(), role)

    def _locate(self, index: ModelIndex) -> tuple[ModuleEntry | None, VersionInfo | None]:
        if index.internalId() == _MODULE_ID:
            row = index.row()
            return (self._modules[row] if row < len(self._modules) else None), None
        entry = self._by_id.get(index.internalId())
        if entry is None or index.row() >= len(entry.versions):
            return None, None
        return entry, entry.versions[index.row()]

    # -- lookups ---------------------------------------------------------------------------
    def modules(self) -> list[str]:
        return [entry.name for entry in self._modules]

    def versions(self, module: str) -> list[VersionInfo]:
        """The module's versions, newest first (empty for an unknown module)."""
        entry = self._entry(module)
        return list(entry.versions) if entry else []

    def module_names(self) -> list[str]:
        return [entry.name for entry in self._modules]

    def is_file_deleted(self, module: str) -> bool:
        entry = self._entry(module)
        return entry.file_deleted if entry else False

    def active_version(self, module: str) -> int | None:
        entry = self._entry(module)
        active = entry.active if entry else None
        return active.version if active else None

    def counts(self, module: str, version: int) -> CallCount:
        entry = self._entry(module)
        return entry.counts.get(version, CallCount()) if entry else CallCount()

    def module_index(self, module: str, column: int = 0) -> QModelIndex:
        entry = self._entry(module)
        if entry is None:
            return QModelIndex()
        return self.index(self._modules.index(entry), column)

    def version_index(self, module: str, version: int, column: int = 0) -> QModelIndex:
        entry = self._entry(module)
        if entry is None:
            return QModelIndex()
        for row, info in enumerate(entry.versions):
            if info.version == version:
                return self.index(row, column, self.module_index(module))
        return QModelIndex()

    def _entry(self, module: str) -> ModuleEntry | None:
        return next((entry for entry in self._modules if entry.name == module), None)

    # -- updates ---------------------------------------------------------------------------
    def merge(self, modules: Mapping[str, Sequence[VersionInfo]]) -> None:
        """Bring the tree in line with an engine snapshot (versions in any order).

        Call totals are taken from the snapshot; increments applied earlier are replaced.
        """
        for entry in list(self._modules):
            if entry.name not in modules:
                row = self._modules.index(entry)
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._modules[row]
                del self._by_id[entry.id]
                self.endRemoveRows()
        for name in sorted(modules):
            versions = sorted(modules[name], key=lambda v: -v.version)
            existing = self._entry(name)
            if existing is None:
                self._insert_module(name, versions)
            else:
                self._update_module(existing, versions)

    def _insert_module(self, name: str, versions: list[VersionInfo]) -> None:
        row = sum(1 for entry in self._modules if entry.name < name)
        entry = ModuleEntry(id=next(self._ids), name=name)
        entry.versions = versions
        entry.counts = {v.version: CallCount(v.calls, v.errors) for v in versions}
        self.beginInsertRows(QModelIndex(), row, row)
        self._modules.insert(row, entry)
        self._by_id[entry.id] = entry
        self.endInsertRows()

    def _update_module(self, entry: ModuleEntry, versions: list[VersionInfo]) -> None:
        parent = self.module_index(entry.name)
        wanted = {v.version for v in versions}
        for row in reversed(range(len(entry.versions))):
            if entry.versions[row].version not in wanted:
                self.beginRemoveRows(parent, row, row)
                del entry.versions[row]
                self.endRemoveRows()
        known = {v.version for v in entry.versions}
        for info in versions:  # newest first, so each new one lands above the older ones
            if info.version in known:
                continue
            row = sum(1 for v in entry.versions if v.version > info.version)
            self.beginInsertRows(parent, row, row)
            entry.versions.insert(row, info)
            self.endInsertRows()
        entry.versions = versions
        entry.counts = {v.version: CallCount(v.calls, v.errors) for v in versions}
        self._changed(entry, 0, len(COLUMNS) - 1)

    def set_file_deleted(self, module: str, deleted: bool) -> None:
        entry = self._entry(module)
        if entry is not None and entry.file_deleted != deleted:
            entry.file_deleted = deleted
            index = self.module_index(module)
            self.dataChanged.emit(index, index.siblingAtColumn(len(COLUMNS) - 1))

    def apply_calls(self, summary: CallSummary) -> int:
        """Add a summary's increments; returns how many known versions it touched."""
        touched: dict[str, ModuleEntry] = {}
        for (module, version), delta in summary.counts.items():
            entry = self._entry(module)
            if entry is None or version not in entry.counts:
                continue  # not in the tree yet: the next snapshot has its totals
            entry.counts[version] = entry.counts[version] + delta
            touched[module] = entry
        first, last = COLUMNS.index("Calls"), COLUMNS.index("Error rate")
        for entry in touched.values():
            self._changed(entry, first, last)
        return len(touched)

    def _changed(self, entry: ModuleEntry, first: int, last: int) -> None:
        parent = self.module_index(entry.name)
        self.dataChanged.emit(parent.siblingAtColumn(first), parent.siblingAtColumn(last))
        if entry.versions:
            top = self.index(0, first, parent)
            bottom = self.index(len(entry.versions) - 1, last, parent)
            self.dataChanged.emit(top, bottom)
