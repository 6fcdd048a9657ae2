"""The Patch review panel: the queue of LLM patches, their diffs and tests, and decisions.

Top: the actions (request, approve, reject, edit, re-generate, roll back) and the
state filter; a banner while a patch is being generated. Middle: the queue, live
from the engine's ``PatchChanged`` events. Bottom: the selected patch's diff
(side by side or unified), tests, sandbox results, history and rationale, and a
status line stating the outcome of the last action. Shortcuts while the panel
has the focus: A approve, R reject, N or J next, P or K previous.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge, describe_error
from app.panels.patches.actions import APPROVE, REJECT, PatchActionBar
from app.panels.patches.attempts import AttemptsView
from app.panels.patches.commands import PatchCommands
from app.panels.patches.detail import PatchDetail
from app.panels.patches.dialogs import PatchDialogs
from app.panels.patches.filter import FILTERS, PatchFilter, filter_counts
from app.panels.patches.rows import QUEUE_COLUMNS, is_older
from app.panels.patches.widgets import (
    GenerationBanner,
    panel_shortcuts,
    queue_table,
    set_filter_counts,
    state_filter,
)
from app.shared.records import RecordRole, RecordTableModel
from app.shared.refresh_gate import RefreshGate
from app.widgets.confirm import confirm
from app.widgets.labels import selectable_label, show_failure
from app.widgets.panel_frame import panel_footer, panel_layout, panel_toolbar, refresh_button
from app.widgets.plural import count
from app.widgets.style import set_severity
from chimera_engine.patches.attempts import Attempt, describe_trigger
from chimera_engine.patches.models import Patch, PatchState
from chimera_engine.patches.store import PatchEvent
from chimera_engine.security.manager import Session

#: Engine events arriving within this many milliseconds cause one refresh.
REFRESH_DELAY_MS = 60
SHORTCUTS = "A approve · R reject · N/J next · P/K previous"


class PatchesPanel(QWidget):
    """:attr:`loaded` (patches) after each refresh; :attr:`detailShown` (patch id) once a
    patch's detail is on screen; :attr:`actionFinished` (action, ok, status text)."""

    loaded = Signal(int)
    detailShown = Signal(int)
    actionFinished = Signal(str, bool, str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patchesPanel")
        self._bridge = bridge
        self._select_after: int | None = None
        self._detail_id: int | None = None
        self._busy = False
        self.confirm_box: QMessageBox | None = None
        self._first_load = True

        self.model: RecordTableModel[Patch] = RecordTableModel(
            QUEUE_COLUMNS, key=lambda p: p.id, parent=self
        )
        self.proxy = PatchFilter(self)
        self.proxy.setSourceModel(self.model)
        self.action_bar = PatchActionBar(self)
        self.filter_combo = state_filter(self)
        self.refresh_button = refresh_button(
            "patchesRefreshButton", "Read the patch queue from the engine again", self.refresh, self
        )
        toolbar = panel_toolbar(self.action_bar, self.refresh_button, self.filter_combo)

        self.banner = GenerationBanner(self)
        self.table = queue_table(self.proxy, self.model.widths(), self)
        self.setFocusProxy(self.table)
        self.detail = PatchDetail(bridge, self)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("patchesSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.why_label = selectable_label("patchWhyLabel", self)
        self.why_label.setToolTip("Why this fix was asked for: who or what, and the evidence")
        below = QWidget(self)
        below_layout = QVBoxLayout(below)
        below_layout.setContentsMargins(0, 0, 0, 0)
        below_layout.setSpacing(4)
        below_layout.addWidget(self.why_label)
        below_layout.addWidget(self.detail, 1)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(below)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setSizes([136, 524])

        self.status_label = selectable_label("patchStatusLabel", self)
        self.status_label.setText("No decision in this session yet")
        self.count_label = selectable_label("patchCountLabel", self)
        footer = panel_footer(self.status_label, self.count_label)
        self.attempts = AttemptsView(bridge, self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("patchesTabs")
        self.tabs.addTab(self.splitter, "Queue")
        self.tabs.addTab(self.attempts, "Attempts")
        self.attempts.failedCount.connect(self._failed_attempts)
        panel_layout(self, toolbar, self.tabs, footer, self.banner)

        self._gate = RefreshGate(self.refresh, REFRESH_DELAY_MS, self)
        self.shortcuts = panel_shortcuts(
            self,
            {
                "A": lambda: self._press(APPROVE),
                "R": lambda: self._press(REJECT),
                "N": lambda: self.select_next(1),
                "J": lambda: self.select_next(1),
                "P": lambda: self.select_next(-1),
                "K": lambda: self.select_next(-1),
            },
        )
        for keys, text in (
            ("A", "Approve the selected patch"),
            ("R", "Reject the selected patch"),
            ("NJ", "Select the next patch"),
            ("PK", "Select the previous patch"),
        ):
            for key in keys:  # what Help > Keyboard shortcuts lists
                self.shortcuts[key].setWhatsThis(text)

        self.commands = PatchCommands(bridge, self)
        self.dialogs = PatchDialogs(bridge, self)
        self.commands.started.connect(self._started)
        self.commands.finished.connect(self._finished)
        self.commands.generatingChanged.connect(self._generating)
        self.dialogs.finished.connect(self._finished)
        self.dialogs.requested.connect(self.commands.request)
        self.action_bar.triggered.connect(self._triggered)
        self.filter_combo.currentIndexChanged.connect(self._filter_changed)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.detail.shown.connect(self.detailShown.emit)
        self.detail.hunks.keepRequested.connect(self.commands.accept_hunks)
        bridge.patchChanged.connect(self._patch_changed)
        bridge.patchProgress.connect(self._streaming)
        bridge.sessionChanged.connect(self._session_changed)
        self._update_actions()
        self.refresh()

    @property
    def dialog(self) -> QDialog | None:
        """The dialog the panel has open (reason, edit, request), if any."""
        return self.dialogs.current

    # -- loading ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the queue from the engine (coalesced while a read is running)."""
        if self._bridge.closed or self._bridge.session is None or not self._gate.begin():
            return
        self._bridge.run(
            self._bridge.patches.list_patches(),
            on_success=self._loaded,
            on_error=self._load_failed,
            title="Could not load the patches",
        )

    def schedule_refresh(self) -> None:
        self._gate.schedule()

    def _loaded(self, patches: list[Patch]) -> None:
        self.model.merge(patches)
        set_filter_counts(self.filter_combo, filter_counts(patches))
        ready = sum(p.state is PatchState.READY for p in patches)
        listed = count(len(patches), "patch", "patches")
        self.count_label.setText(f"{listed} · {ready} to review · {SHORTCUTS}")
        self._gate.finish()
        if self._select_after is not None and self.select_patch(self._select_after):
            self._select_after = None
        elif self._first_load and self.selected_patch() is None and self.proxy.rowCount():
            self.table.selectRow(0)
        self._first_load = False
        current, shown = self.selected_patch(), self.detail.patch
        if current is not None and shown is not None and is_older(shown, current):
            self._load_detail(current.id)
        self._update_actions()
        self.loaded.emit(len(patches))

    def _load_failed(self, exc: Exception) -> None:
        self._gate.finish()
        show_failure(self.count_label, "Could not load the patches", exc)

    def _load_detail(self, patch_id: int) -> None:
        self._detail_id = patch_id
        self._bridge.run(
            self._bridge.patches.get_patch(patch_id),
            on_success=self._detail_loaded,
            on_error=lambda exc: self._show_status(
                f"Could not load patch {patch_id}: {describe_error(exc)}", "critical"
            ),
            title="Could not load the patch",
        )

        self._bridge.run(
            self._bridge.patches.list_attempts(patch_id=patch_id, limit=1),
            on_success=lambda found: self._why_loaded(patch_id, found),
            on_error=lambda exc: None,
            title="Could not load why the patch was requested",
        )

    def _detail_loaded(self, loaded: tuple[Patch, list[PatchEvent]]) -> None:
        patch, events = loaded
        if patch.id == self._detail_id:
            self.detail.show_patch(patch, events)
            self._update_actions()

    def _why_loaded(self, patch_id: int, found: list[Attempt]) -> None:
        if patch_id != self._detail_id:
            return
        if found:
            self.why_label.setText(f"Requested because: {describe_trigger(found[0].trigger)}")
        else:
            self.why_label.setText("Requested because: not recorded (an operator's edit)")

    def show_attempts(self) -> None:
        """Bring the Attempts tab forward, showing the failed ones."""
        self.tabs.setCurrentWidget(self.attempts)
        self.attempts.filter_combo.setCurrentIndex(0)
        self.attempts.refresh()

    def _failed_attempts(self, failed: int) -> None:
        index = self.tabs.indexOf(self.attempts)
        self.tabs.setTabText(index, f"Attempts ({failed} failed)" if failed else "Attempts")

    def _streaming(self, module: str, attempt: int, pieces: int, elapsed: float) -> None:
        if self.banner.module == module:
            self.banner.streamed(attempt, pieces, elapsed)

    # -- selection and navigation ------------------------------------------------------------
    def selected_patch(self) -> Patch | None:
        rows = self.table.selectionModel().selectedRows()
        patch = rows[0].data(RecordRole) if rows else None
        return patch if isinstance(patch, Patch) else None

    def select_patch(self, patch_id: int) -> bool:
        """Select a patch (showing every state if the filter hides it); False if unknown."""
        row = self.model.row_of(patch_id)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.filter_combo.setCurrentIndex(0)
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.selectRow(index.row())
        self.table.scrollTo(index)
        return True

    def open_patch(self, patch_id: int) -> None:
        """Select ``patch_id`` now, or as soon as the queue lists it (a patch named by a
        notification may be newer than the last read of the queue)."""
        if not self.select_patch(patch_id):
            self._select_after = patch_id
            self._first_load = False  # never fall back to another patch meanwhile
            self.refresh()

    def select_next(self, step: int = 1) -> None:
        """Select the next (``step`` 1) or previous (-1) patch of the filtered queue."""
        count = self.proxy.rowCount()
        if not count:
            return
        rows = self.table.selectionModel().selectedRows()
        target = 0 if not rows else min(max(rows[0].row() + step, 0), count - 1)
        self.table.selectRow(target)
        self.table.scrollTo(self.proxy.index(target, 0))

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        patch = self.selected_patch()
        self._update_actions()
        if patch is None:
            self._detail_id = None
            self.detail.clear()
            self.why_label.setText("")
        elif patch.id != self._detail_id:
            self._load_detail(patch.id)

    def _filter_changed(self, index: int) -> None:
        self.proxy.set_states(FILTERS[index][1])
        if self.selected_patch() is None and self.proxy.rowCount():
            self.table.selectRow(0)
        self._update_actions()

    # -- actions ---------------------------------------------------------------------------
    def _press(self, action: str) -> None:
        button = self.action_bar.button(action)
        if button.isEnabled():
            button.click()

    def _triggered(self, action: str) -> None:
        patch = self.selected_patch()
        if action == APPROVE and patch is not None:
            self.confirm_approve(patch)
        else:
            self.dialogs.open(action, patch)

    def confirm_approve(self, patch: Patch) -> QMessageBox:
        """Approving applies code to production: ask first (A or the button)."""
        self.confirm_box = confirm(
            self,
            "Approve patch",
            f"Approve patch {patch.id} and apply it to {patch.module}?",
            "Approve and apply",
            lambda: self.commands.approve(patch),
            detail="The patched version is loaded and every new call of the tool runs it. "
            "A worse tool afterwards is rolled back automatically.",
        )
        return self.confirm_box

    def _update_actions(self) -> None:
        session = self._bridge.session
        principal = session.principal if session else None
        self.action_bar.update_for(
            principal,
            self.selected_patch(),
            generating=self.commands.generating,
            busy=self._busy,
        )
        self.detail.hunks.set_context(principal, busy=self._busy)

    def _started(self, action: str, text: str) -> None:
        self._busy = action != "request"
        self._show_status(text, "muted")
        self._update_actions()

    def _finished(self, action: str, ok: bool, text: str, severity: str, select: object) -> None:
        self._busy = False
        self._show_status(text, severity)
        if isinstance(select, int):
            self._select_after = select
        self._update_actions()
        self.refresh()
        self.actionFinished.emit(action, ok, text)

    def _generating(self, module: str) -> None:
        if module:
            self.banner.begin(module)
        else:
            self.banner.end()
        self._update_actions()

    def _show_status(self, text: str, severity: str) -> None:
        self.status_label.setText(text)
        set_severity(self.status_label, severity)

    # -- engine events ---------------------------------------------------------------------
    def _patch_changed(self, patch_id: int, module: str, state: str, _reason: str) -> None:
        if self.banner.module == module:
            self.banner.progress(patch_id, state)
        self.schedule_refresh()

    def _session_changed(self, session: Session | None) -> None:
        self._update_actions()
        if session is not None:
            self.refresh()
