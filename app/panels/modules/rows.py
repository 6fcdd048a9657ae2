"""What each cell of the module tree shows: texts, fonts, colours and tooltips.

Version rows: the active one is bold with a ● marker, deprecated ones grey and
italic, retired ones grey and struck through, failed ones red with the engine's
reason as tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont

from app.calls import CallCount
from app.shared.formatting import format_count, format_rate, format_time
from app.theme import themed
from app.widgets.plural import count as count_of
from chimera_engine.modules.service import VersionInfo

COLUMNS: tuple[str, ...] = (
    "Module / version",
    "State",
    "Calls",
    "Error rate",
    "Origin",
    "Created",
    "Tools",
)
NAME, STATE, CALLS, ERROR_RATE, ORIGIN, CREATED, TOOLS = range(len(COLUMNS))

ACTIVE_MARKER = "●"

RED = QColor("#b42318")
AMBER = QColor("#93370d")
GREEN = QColor("#05603a")
GREY = QColor("#7b8794")
LIGHT_GREY = QColor("#9aa5b1")

#: Error rates at or above this are red; anything above zero is amber.
HIGH_ERROR_RATE = 0.10

_ORIGIN_TEXT = {
    "initial": "initial load",
    "file_change": "file change",
    "patch": "patch",
    "rollback": "rollback",
    "dependency": "dependency rebuild",
    "manual": "manual reload",
    "restore": "restore",
}


@dataclass(eq=False)
class ModuleEntry:
    """One module of the tree: versions newest first, call totals per version."""

    id: int
    name: str
    versions: list[VersionInfo] = field(default_factory=list)
    counts: dict[int, CallCount] = field(default_factory=dict)
    file_deleted: bool = False

    @property
    def active(self) -> VersionInfo | None:
        return next((v for v in self.versions if v.active), None)

    def total(self) -> CallCount:
        total = CallCount()
        for count in self.counts.values():
            total = total + count
        return total


def _font(*, bold: bool = False, italic: bool = False, strike: bool = False) -> QFont:
    font = QFont()
    font.setBold(bold)
    font.setItalic(italic)
    font.setStrikeOut(strike)
    return font


_BOLD = _font(bold=True)
_ITALIC = _font(italic=True)
_STRUCK = _font(strike=True)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def origin_text(info: VersionInfo) -> str:
    text = _ORIGIN_TEXT.get(info.origin, info.origin.replace("_", " "))
    if info.parent is not None and info.origin in ("rollback", "dependency", "patch"):
        text += f" (from v{info.parent})"
    return text


def _rate_colour(count: CallCount) -> QColor | None:
    if count.errors == 0:
        return None
    return RED if count.error_rate >= HIGH_ERROR_RATE else AMBER


def module_data(entry: ModuleEntry, column: int, role: int) -> Any:
    active = entry.active
    total = entry.total()
    if role == Qt.ItemDataRole.DisplayRole:
        if column == NAME:
            return entry.name
        if column == STATE:
            if entry.file_deleted:
                serving = f", serving v{active.version}" if active else ""
                return f"file deleted{serving}"
            return f"active v{active.version}" if active else "no active version"
        if column == CALLS:
            return format_count(total.calls)
        if column == ERROR_RATE:
            return format_rate(total.errors, total.calls)
        if column == TOOLS:
            return ", ".join(active.tools) if active else ""
        return ""
    if role == Qt.ItemDataRole.FontRole and column == NAME:
        return _BOLD
    if role == Qt.ItemDataRole.ForegroundRole:
        if column == STATE:
            if entry.file_deleted or active is None:
                return QBrush(themed(AMBER))
            return QBrush(themed(GREEN))
        if column == ERROR_RATE:
            colour = _rate_colour(total)
            return QBrush(themed(colour)) if colour is not None else None
    if role == Qt.ItemDataRole.ToolTipRole:
        if entry.file_deleted:
            return (
                f"{entry.name}.py was deleted; the active version keeps serving from memory "
                "until you remove the module or restore its file (a restart keeps it too)."
            )
        return f"{entry.name}: {count_of(len(entry.versions), 'version')}"
    if role == Qt.ItemDataRole.TextAlignmentRole and column in (CALLS, ERROR_RATE):
        return _RIGHT
    return None


def version_data(entry: ModuleEntry, info: VersionInfo, column: int, role: int) -> Any:
    count = entry.counts.get(info.version, CallCount())
    if role == Qt.ItemDataRole.DisplayRole:
        if column == NAME:
            return f"{ACTIVE_MARKER} v{info.version}" if info.active else f"   v{info.version}"
        if column == STATE:
            judged = info.verdict.split(":", 1)[0]  # only a doubt is worth a column
            doubt = judged in ("unproven", "bad") and not info.active
            return f"{info.state} · {judged}" if doubt else info.state
        if column == CALLS:
            return format_count(count.calls)
        if column == ERROR_RATE:
            return format_rate(count.errors, count.calls)
        if column == ORIGIN:
            return origin_text(info)
        if column == CREATED:
            return format_time(info.created_at)
        if column == TOOLS:
            return ", ".join(info.tools)
        return ""
    if role == Qt.ItemDataRole.FontRole:
        if info.active:
            return _BOLD
        if info.state == "deprecated":
            return _ITALIC
        if info.state == "retired":
            return _STRUCK
        return None
    if role == Qt.ItemDataRole.ForegroundRole:
        if info.state == "failed":
            return QBrush(themed(RED))
        if info.state == "deprecated":
            return QBrush(themed(GREY))
        if info.state == "retired":
            return QBrush(themed(LIGHT_GREY))
        if column == ERROR_RATE:
            colour = _rate_colour(count)
            return QBrush(themed(colour)) if colour is not None else None
        return None
    if role == Qt.ItemDataRole.ToolTipRole:
        if info.state == "failed":
            return f"v{info.version} was refused: {info.error}"
        served = f" · served: {info.verdict}" if info.verdict else ""
        return (
            f"{info.module} v{info.version} · {info.state}{served} · "
            f"sha256 {info.content_hash[:12]}"
        )
    if role == Qt.ItemDataRole.TextAlignmentRole and column in (CALLS, ERROR_RATE):
        return _RIGHT
    return None
