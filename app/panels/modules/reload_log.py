"""The live log of reloads and version changes, newest first.

Rows come from the bridge's ``moduleReloaded``, ``versionChanged`` and
``moduleFileDeleted`` signals. A successful reload is preceded on the bus by a
``VersionChanged(active)`` for the same version; that row is replaced by the
reload row, so each reload shows once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from app.shared.formatting import format_clock, format_ms, format_time
from app.shared.table_model import FixedColumnsModel
from app.theme import themed
from chimera_engine.modules.models import ReloadResult
from chimera_engine.modules.service import VersionInfo

COLUMNS: tuple[str, ...] = ("Time", "Module", "Versions", "Origin", "Duration", "Result")
TIME, MODULE, VERSIONS, ORIGIN, DURATION, RESULT = range(len(COLUMNS))

MAX_ROWS = 1000
RED = QColor("#b42318")
GREEN = QColor("#05603a")
AMBER = QColor("#93370d")
FAILED_TINT = QColor("#fef3f2")

#: A ``VersionChanged(active)`` this recent (seconds) is folded into the reload that caused it.
FOLD_WINDOW_S = 5.0

ModelIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, kw_only=True)
class LogRow:
    ts: float
    module: str
    versions: str
    origin: str
    duration: str
    result: str
    ok: bool
    kind: str  # reload, state, deleted
    version: int | None = None
    tooltip: str = ""


def _versions(previous: int | None, new: int | None) -> str:
    new_text = f"v{new}" if new is not None else "—"
    return f"v{previous} → {new_text}" if previous is not None else new_text


def reload_row(result: ReloadResult, ts: float) -> LogRow:
    if result.ok:
        outcome = "activated"
        if result.dependants:
            outcome += f"; rebuilt {', '.join(result.dependants)}"
        tooltip = outcome
    else:
        stage = f" at {result.stage}" if result.stage else ""
        outcome = f"refused{stage}: {result.reason}"
        tooltip = f"Reload of {result.module} refused{stage}:\n{result.reason}"
    return LogRow(
        ts=ts,
        module=result.module,
        versions=_versions(result.previous, result.version),
        origin=result.origin.value.replace("_", " "),
        duration=format_ms(result.duration_ms),
        result=outcome,
        ok=result.ok,
        kind="reload",
        version=result.version,
        tooltip=tooltip,
    )


def history_rows(modules: Mapping[str, Sequence[VersionInfo]]) -> list[LogRow]:
    """The versions the engine already holds as log rows, newest first: every version
    after a module's first was a reload, an activation of a patch or a rollback (so the
    log covers more than the current sign-in). Times are the versions' creation times."""
    rows = []
    for module, versions in modules.items():
        for i, info in enumerate(versions):
            if info.origin == "initial":
                continue  # the first load at start-up is not a reload
            failed = bool(info.error) or info.state == "failed"
            rows.append(
                LogRow(
                    ts=info.created_at,
                    module=module,
                    versions=_versions(
                        info.parent
                        if info.parent is not None or not i
                        else versions[i - 1].version,
                        info.version,
                    ),
                    origin=info.origin.replace("_", " "),
                    duration="",
                    result=f"refused: {info.error}" if failed else f"v{info.version} {info.state}",
                    ok=not failed,
                    kind="reload",
                    version=info.version,
                    tooltip="From the engine's version history (before this session's log)",
                )
            )
    rows.sort(key=lambda r: r.ts, reverse=True)
    return rows


class ReloadLogModel(FixedColumnsModel):
    headers = COLUMNS

    def __init__(self, max_rows: int = MAX_ROWS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_rows = max_rows
        self._rows: list[LogRow] = []
        self._bold = QFont()
        self._bold.setBold(True)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            texts = (format_clock(row.ts), row.module, row.versions, row.origin, row.duration)
            return texts[column] if column < RESULT else row.result
        if role == Qt.ItemDataRole.ForegroundRole and column == RESULT:
            if not row.ok:
                return QBrush(themed(RED))
            return QBrush(themed(AMBER if row.kind == "deleted" else GREEN))
        if role == Qt.ItemDataRole.BackgroundRole and not row.ok:
            return QBrush(themed(FAILED_TINT))
        if role == Qt.ItemDataRole.FontRole and column == RESULT and not row.ok:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{format_time(row.ts)}\n{row.tooltip or row.result}"
        if role == Qt.ItemDataRole.TextAlignmentRole and column == DURATION:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def row(self, index: int) -> LogRow:
        return self._rows[index]

    def rows(self) -> list[LogRow]:
        return list(self._rows)

    # -- adding ----------------------------------------------------------------------------
    def seed(self, rows: Sequence[LogRow]) -> None:
        """Append older rows (the history before this session), once, below what the
        session logged; kept within :attr:`max_rows`."""
        known = {(r.module, r.version) for r in self._rows}
        older = [r for r in rows if (r.module, r.version) not in known]
        room = self.max_rows - len(self._rows)
        older = older[: max(0, room)]
        if not older:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(older) - 1)
        self._rows.extend(older)
        self.endInsertRows()

    def add_reload(self, result: ReloadResult, ts: float | None = None) -> LogRow:
        row = reload_row(result, time.time() if ts is None else ts)
        if result.ok:
            self._fold_activation(result.module, result.version, row.ts)
        self._prepend(row)
        return row

    def add_state(
        self, module: str, version: int, state: str, previous: int | None, detail: str = ""
    ) -> LogRow:
        """A version changed state outside a reload (activated, deprecated, retired...)."""
        versions = _versions(previous, version) if state == "active" else f"v{version}"
        text = {"active": "activated", "inactive": "reinstated (inactive)"}.get(state, state)
        row = LogRow(
            ts=time.time(),
            module=module,
            versions=versions,
            origin="version change",
            duration="",
            result=f"{text}: {detail}" if detail else text,
            ok=state != "failed",
            kind="state",
            version=version,
        )
        self._prepend(row)
        return row

    def add_deleted(self, module: str, version: int | None) -> LogRow:
        serving = f"; v{version} keeps serving from memory" if version is not None else ""
        row = LogRow(
            ts=time.time(),
            module=module,
            versions=f"v{version}" if version is not None else "—",
            origin="file deleted",
            duration="",
            result=f"file deleted{serving}",
            ok=True,
            kind="deleted",
            version=version,
        )
        self._prepend(row)
        return row

    def _fold_activation(self, module: str, version: int | None, ts: float) -> None:
        for position, row in enumerate(self._rows[:8]):
            if (
                row.kind == "state"
                and row.module == module
                and row.version == version
                and row.result == "activated"
                and ts - row.ts <= FOLD_WINDOW_S
            ):
                self.beginRemoveRows(QModelIndex(), position, position)
                del self._rows[position]
                self.endRemoveRows()
                return

    def _prepend(self, row: LogRow) -> None:
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, row)
        self.endInsertRows()
        if len(self._rows) > self.max_rows:
            first = self.max_rows
            self.beginRemoveRows(QModelIndex(), first, len(self._rows) - 1)
            del self._rows[first:]
            self.endRemoveRows()
