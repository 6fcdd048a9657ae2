"""The detail area of the Patch review panel: one patch, seven tabs.

*Side by side* (old | new, aligned), *Unified diff*, *Hunks* (tick the ones to
keep, see :mod:`app.panels.patches.hunks`), *Tests* (the new test
files), *Sandbox* (verdict and every test), *History* (the patch's events) and
*Rationale* (the model's explanation and what the patch cost). A patch's
content never changes once recorded, so its side-by-side view is computed once
(off the event loop) and cached for the panel's lifetime.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge
from app.panels.patches.hunks import HunkPicker
from app.panels.patches.rows import HISTORY_COLUMNS, format_cost, source_text, tokens_text
from app.panels.patches.sandbox import SandboxResults
from app.panels.patches.side_by_side import SideBySideDiff
from app.panels.patches.side_by_side_model import SideBySide, side_by_side
from app.shared.badges import state_label
from app.shared.diffs import diff_stats
from app.shared.records import RecordTableModel
from app.widgets.badges import badge_table
from app.widgets.code_view import CodeView, DiffHighlighter, PythonHighlighter
from app.widgets.style import set_severity
from chimera_engine.patches.hunks import Hunk
from chimera_engine.patches.models import Patch
from chimera_engine.patches.risk import assess
from chimera_engine.patches.store import PatchEvent

SIDE_TAB, UNIFIED_TAB, HUNKS_TAB, TESTS_TAB, SANDBOX_TAB, HISTORY_TAB, RATIONALE_TAB = range(7)


def tests_text(patch: Patch) -> str:
    """The patch's new test files, one after the other, each headed by its path."""
    return "\n\n".join(
        f"# file: {path}\n{code.rstrip()}" for path, code in sorted(patch.tests.items())
    )


def facts_text(patch: Patch) -> str:
    scripted = "yes: written by hand, no model was called" if patch.replay else "no"
    rows = [
        ("Source", source_text(patch)),
        ("Scripted", scripted),
        ("Attempts", str(patch.attempts)),
        ("Tokens in / out", tokens_text(patch)),
        ("Cost", format_cost(patch.cost_usd)),
        ("Decided by", patch.decided_by or "—"),
        ("Derived from", f"patch {patch.derived_from}" if patch.derived_from else "—"),
        ("Superseded by", f"patch {patch.superseded_by}" if patch.superseded_by else "—"),
        ("Failure signature", patch.signature or "—"),
        ("Diff sha256", patch.diff_hash[:16]),
    ]
    return "\n".join(f"{name}: {value}" for name, value in rows)


def _risk_reasons(patch: Patch) -> str:
    """Why the screen rated the patch as it did (shown to the reviewer)."""
    _, reasons = assess(patch.diff, patch.tests)
    return f" ({'; '.join(reasons[:3])})" if reasons else ""


class PatchDetail(QWidget):
    """:attr:`shown` (patch id) once a patch is on screen with its side-by-side diff."""

    shown = Signal(int)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patchDetail")
        self._bridge = bridge
        self._views: dict[int, SideBySide] = {}
        self._hunks: dict[int, list[Hunk]] = {}
        self.patch: Patch | None = None
        self.header = QLabel("Select a patch in the queue to review it", self)
        self.header.setObjectName("patchHeader")
        self.header.setWordWrap(True)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.header.setMinimumWidth(1)
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_severity(self.header, "muted")

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("patchDetailTabs")
        self.tabs.setDocumentMode(True)
        self.side_by_side = SideBySideDiff("patchSideBySide", self)
        self.unified_view = CodeView("patchUnifiedDiff", "Select a patch to see its diff", self)
        self.unified_highlighter = DiffHighlighter(self.unified_view.document())
        self.tests_view = CodeView("patchTestsCode", "The patch adds no tests", self)
        self.tests_highlighter = PythonHighlighter(self.tests_view.document())
        self.hunks = HunkPicker(self)
        self.sandbox = SandboxResults(self)
        self.history_model: RecordTableModel[PatchEvent] = RecordTableModel(
            HISTORY_COLUMNS, key=lambda e: (e.ts, e.state), parent=self
        )
        self.history_table = badge_table(
            "patchHistoryTable",
            self.history_model,
            self.history_model.widths(),
            self,
            sortable=False,
        )
        self.rationale = QWidget(self)
        self.rationale_view = QPlainTextEdit(self.rationale)
        self.rationale_view.setObjectName("patchRationale")
        self.rationale_view.setReadOnly(True)
        self.rationale_view.setPlaceholderText("The model gave no rationale")
        self.facts_label = QLabel(self.rationale)
        self.facts_label.setObjectName("patchFacts")
        self.facts_label.setTextFormat(Qt.TextFormat.PlainText)
        # A failure signature can be a long line without spaces: wrapped, and never
        # allowed to set the window's minimum width (it would grow past the screen).
        self.facts_label.setWordWrap(True)
        self.facts_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.facts_label.setMinimumWidth(1)
        self.facts_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_severity(self.facts_label, "muted")
        rationale_layout = QVBoxLayout(self.rationale)
        rationale_layout.setContentsMargins(0, 8, 0, 0)
        rationale_layout.addWidget(self.rationale_view, 1)
        rationale_layout.addWidget(self.facts_label)

        self.tabs.addTab(self.side_by_side, "Side by side")
        self.tabs.addTab(self.unified_view, "Unified diff")
        self.tabs.addTab(self.hunks, "Hunks")
        self.tabs.addTab(self.tests_view, "Tests")
        self.tabs.addTab(self.sandbox, "Sandbox")
        self.tabs.addTab(self.history_table, "History")
        self.tabs.addTab(self.rationale, "Rationale")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.header)
        layout.addWidget(self.tabs, 1)

    # -- showing ---------------------------------------------------------------------------
    def show_patch(self, patch: Patch, events: list[PatchEvent]) -> None:
        """Show ``patch`` (a fresh snapshot) and its history."""
        same = self.patch is not None and self.patch.id == patch.id
        self.patch = patch
        self._set_header(patch)
        self.history_model.set_rows(events)
        self.sandbox.show_result(patch.result)
        self._show_hunks(patch)
        if same:
            self.shown.emit(patch.id)
            return
        self.unified_view.show_text(patch.diff)
        self.tests_view.show_text(tests_text(patch))
        self.rationale_view.setPlainText(patch.rationale)
        self.facts_label.setText(facts_text(patch))
        cached = self._views.get(patch.id)
        if cached is not None:
            self._show_view(patch, cached)
            return
        self.side_by_side.clear()
        self._bridge.run(
            self._compute(patch),
            on_success=lambda view: self._computed(patch, view),
            title="Could not compute the diff",
        )

    def _show_hunks(self, patch: Patch) -> None:
        cached = self._hunks.get(patch.id)
        if cached is not None:
            self.hunks.show_hunks(patch, cached)
            return
        self.hunks.clear()
        self._bridge.run(
            self._bridge.patches.patch_hunks(patch.id),
            on_success=lambda hunks: self._hunks_loaded(patch, hunks),
            title="Could not read the patch's hunks",
        )

    def _hunks_loaded(self, patch: Patch, hunks: list[Hunk]) -> None:
        self._hunks[patch.id] = hunks
        if self.patch is not None and self.patch.id == patch.id:
            self.hunks.show_hunks(self.patch, hunks)

    @staticmethod
    async def _compute(patch: Patch) -> SideBySide:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, side_by_side, dict(patch.originals), dict(patch.files)
        )

    def _computed(self, patch: Patch, view: SideBySide) -> None:
        self._views[patch.id] = view
        if self.patch is not None and self.patch.id == patch.id:
            self._show_view(patch, view)

    def _show_view(self, patch: Patch, view: SideBySide) -> None:
        paths = ", ".join(sorted(patch.files)) or patch.module
        self.side_by_side.show_view(
            view,
            f"{paths} · v{patch.base_version} (before)",
            f"patched · +{view.added} −{view.removed} lines",
        )
        self.shown.emit(patch.id)

    def _set_header(self, patch: Patch) -> None:
        added, removed = diff_stats(patch.diff)
        parts = [
            f"Patch {patch.id} · {patch.module} v{patch.base_version}",
            state_label(patch.state.value),
            f"risk {patch.risk}" + _risk_reasons(patch),
            source_text(patch),
            f"+{added} −{removed} lines (with tests)",
        ]
        if patch.derived_from:
            parts.append(f"hunks of patch {patch.derived_from}")
        if patch.superseded_by:
            parts.append(f"superseded by patch {patch.superseded_by}")
        if patch.reason:
            parts.append(patch.reason)
        self.header.setText("  ·  ".join(parts))
        bad = patch.state.value in ("rejected", "rolled_back")
        set_severity(self.header, "critical" if bad else "muted")

    def clear(self) -> None:
        self.patch = None
        self.header.setText("Select a patch in the queue to review it")
        set_severity(self.header, "muted")
        self.side_by_side.clear()
        for view in (self.unified_view, self.tests_view):
            view.show_text("")
        self.rationale_view.clear()
        self.facts_label.clear()
        self.history_model.set_rows([])
        self.sandbox.show_result(None)
        self.hunks.clear()
