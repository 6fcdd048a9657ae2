"""The Module reload panel: every tool module and version, live, with reload controls.

Top: the actions (reload, activate, roll back, deprecate, retire). Middle: the
module tree (versions with state, call counts and error rates, updated live
from the bridge's throttled call summaries) beside the source or a diff of the
selected versions. Bottom: the live reload log and a status line that always
states the outcome of the last reload, including why a reload was refused.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QMessageBox,
    QSplitter,
    QWidget,
)

from app.bridge import EngineBridge
from app.calls import CallSummary
from app.panels.modules.actions import ModuleActionBar, Target
from app.panels.modules.commands import ModuleCommands
from app.panels.modules.detail import DIFF_TAB, ModuleDetail
from app.panels.modules.model import ModuleRole, ModuleTreeModel, VersionRole
from app.panels.modules.reload_log import ReloadLogModel, history_rows
from app.panels.modules.status import action_of, result_message
from app.panels.modules.widgets import module_tree, reload_log_box
from app.shared.refresh_gate import RefreshGate
from app.widgets.confirm import confirm
from app.widgets.labels import selectable_label, show_failure
from app.widgets.panel_frame import panel_footer, panel_layout, panel_toolbar, refresh_button
from app.widgets.plural import count
from app.widgets.style import set_severity
from chimera_engine.modules.models import ReloadResult
from chimera_engine.modules.service import VersionInfo
from chimera_engine.security.manager import Session

#: Engine events arriving within this many milliseconds cause one refresh.
REFRESH_DELAY_MS = 60


class ModulesPanel(QWidget):
    """:attr:`loaded` fires after each refresh from the engine (number of modules);
    :attr:`actionFinished` after each action (name, ok, the status text shown)."""

    loaded = Signal(int)
    actionFinished = Signal(str, bool, str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modulesPanel")
        self._bridge = bridge
        self._select_after: tuple[str, int] | None = None
        self._expanded_once: set[str] = set()
        self.confirm_box: QMessageBox | None = None
        self._history_seeded = False

        self.model = ModuleTreeModel(self)
        self.log_model = ReloadLogModel(parent=self)
        self.action_bar = ModuleActionBar(self)
        self.refresh_button = refresh_button(
            "modulesRefreshButton",
            "Read every module and version from the engine again",
            self.refresh,
            self,
        )
        toolbar = panel_toolbar(self.action_bar, self.refresh_button)

        self.tree = module_tree(self.model, self)
        self.setFocusProxy(self.tree)
        self.detail = ModuleDetail(bridge, self)
        log_box, self.log_table = reload_log_box(self.log_model, self)

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.top_splitter.setObjectName("modulesTopSplitter")
        self.top_splitter.addWidget(self.tree)
        self.top_splitter.addWidget(self.detail)
        self.top_splitter.setStretchFactor(0, 3)
        self.top_splitter.setStretchFactor(1, 2)
        self.top_splitter.setSizes([812, 448])
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("modulesSplitter")
        self.splitter.addWidget(self.top_splitter)
        self.splitter.addWidget(log_box)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([432, 218])

        self.status_label = selectable_label(
            "moduleStatusLabel", self, "No reload in this session yet"
        )
        self.count_label = selectable_label("modulesCountLabel", self)
        footer = panel_footer(self.status_label, self.count_label)
        panel_layout(self, toolbar, self.splitter, footer)

        self._gate = RefreshGate(self.refresh, REFRESH_DELAY_MS, self)

        self.tree.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.rowsInserted.connect(self._rows_inserted)
        self.commands = ModuleCommands(bridge, self)
        self.commands.started.connect(self._started)
        self.commands.finished.connect(self._finished)
        self.action_bar.reloadRequested.connect(self.commands.reload)
        self.action_bar.activateRequested.connect(self.confirm_activate)
        self.action_bar.rollbackRequested.connect(self.confirm_rollback)
        self.action_bar.stateRequested.connect(self.commands.set_state)
        self.action_bar.deletionDecided.connect(self.commands.decide_deletion)
        bridge.moduleReloaded.connect(self._module_reloaded)
        bridge.versionChanged.connect(self._version_changed)
        bridge.moduleFileDeleted.connect(self._file_deleted)
        bridge.callSummary.connect(self._calls)
        bridge.sessionChanged.connect(self._session_changed)
        self._update_actions()
        self.refresh()

    # -- confirmations -----------------------------------------------------------------------
    def confirm_activate(self, module: str, version: int) -> QMessageBox:
        """Ask before switching live calls of ``module`` to ``version``."""
        self.confirm_box = confirm(
            self,
            "Activate version",
            f"Activate {module} v{version}?",
            "Activate",
            lambda: self.commands.activate(module, version),
            detail="Every new call of the tool runs this version at once; "
            "the current version drains its running calls.",
        )
        return self.confirm_box

    def confirm_rollback(self, module: str) -> QMessageBox:
        """Ask before rolling ``module`` back to its previous good version."""
        self.confirm_box = confirm(
            self,
            "Roll back module",
            f"Roll {module} back to its previous good version?",
            "Roll back",
            lambda: self.commands.rollback(module),
            detail="Every new call of the tool runs the earlier version at once.",
        )
        return self.confirm_box

    # -- loading ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read every module and version from the engine (coalesced while one is running)."""
        if self._bridge.closed or self._bridge.session is None or not self._gate.begin():
            return
        self._bridge.run(
            self._bridge.modules.list_modules(),
            on_success=self._loaded,
            on_error=self._load_failed,
            title="Could not load the modules",
        )

    def schedule_refresh(self) -> None:
        self._gate.schedule()

    def _loaded(self, modules: dict[str, list[VersionInfo]]) -> None:
        # a deletion pending from before this session (or a restart) shows as well
        self._bridge.run(
            self._bridge.modules.pending_deletions(),
            on_success=self._deletions_loaded,
            on_error=lambda _exc: None,
            title="Could not read the deleted modules",
        )
        # Totals in ``modules`` include every call already published: deliver those
        # increments first, so the totals below replace them and none is counted twice.
        self._bridge.flush_call_stats()
        self.model.merge(modules)
        shown = self.detail.source_key()
        if shown is not None:
            for info in self.model.versions(shown[0]):
                self.detail.update_header(info)
        self._gate.finish()
        if self._select_after is not None:
            index = self.model.version_index(*self._select_after)
            if index.isValid():
                self._select_after = None
                self.select(index)
        self._update_actions()
        if self.detail.diff_module in modules:  # the Diff tab's versions and states now
            self.detail.refresh_versions(self.model.versions(self.detail.diff_module))
        if not self._history_seeded:  # the log reaches back before this sign-in
            self._history_seeded = True
            self.log_model.seed(history_rows(modules))
        versions = sum(len(v) for v in modules.values())
        self.count_label.setText(f"{count(len(modules), 'module')} · {count(versions, 'version')}")
        self.loaded.emit(len(modules))

    def _deletions_loaded(self, pending: list[str]) -> None:
        for module in self.model.module_names():
            self.model.set_file_deleted(module, module in pending)
        self._update_actions()

    def _load_failed(self, exc: Exception) -> None:
        self._gate.finish()
        show_failure(self.count_label, "Could not load the modules", exc)

    def _rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        if parent.isValid():
            return
        for row in range(first, last + 1):
            index = self.model.index(row, 0)
            name = str(index.data(ModuleRole))
            if name not in self._expanded_once:
                self._expanded_once.add(name)
                self.tree.expand(index)

    # -- selection -------------------------------------------------------------------------
    def select(self, index: QModelIndex) -> None:
        """Select one row of the tree (module or version) and scroll to it."""
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)

    def select_version(self, module: str, version: int) -> None:
        self.select(self.model.version_index(module, version))

    def selected_versions(self) -> list[VersionInfo]:
        rows = self.tree.selectionModel().selectedRows()
        infos = [index.data(VersionRole) for index in rows]
        return [info for info in infos if isinstance(info, VersionInfo)]

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_actions()
        picked = self.selected_versions()
        if len(picked) == 2 and picked[0].module == picked[1].module:
            old, new = sorted(picked, key=lambda v: v.version)
            versions = self.model.versions(new.module)
            self.detail.set_versions(new.module, versions, old.version, new.version)
            self.detail.setCurrentIndex(DIFF_TAB)
            return
        target = self._target()
        shown = target.version or target.active if target else None
        if target is None or shown is None:
            return
        self.detail.show_version(shown)
        older = [v for v in target.versions if v.version < shown.version]
        base = older[0].version if older else shown.version
        self.detail.set_versions(target.module, list(target.versions), base, shown.version)

    def _target(self) -> Target | None:
        """The module (and version) the actions apply to: the current row if selected."""
        selection = self.tree.selectionModel()
        index = self.tree.currentIndex()
        if not index.isValid() or not selection.isRowSelected(index.row(), index.parent()):
            rows = selection.selectedRows()
            if not rows:
                return None
            index = rows[0]
        module = index.data(ModuleRole)
        if not isinstance(module, str):
            return None
        info = index.data(VersionRole)
        number = info.version if isinstance(info, VersionInfo) else None
        versions = tuple(self.model.versions(module))
        current = next((v for v in versions if v.version == number), None)
        return Target(
            module=module,
            version=current,
            versions=versions,
            file_deleted=self.model.is_file_deleted(module),
        )

    def _update_actions(self) -> None:
        session = self._bridge.session
        self.action_bar.update_for(session.principal if session else None, self._target())

    def _session_changed(self, session: Session | None) -> None:
        self._update_actions()
        if session is not None:
            self.refresh()

    # -- engine events ---------------------------------------------------------------------
    def _module_reloaded(self, result: ReloadResult) -> None:
        self.log_model.add_reload(result)
        if result.ok:
            self.model.set_file_deleted(result.module, False)
        self._show_status(*result_message(action_of(result), result))
        self.schedule_refresh()

    def _version_changed(self, module: str, version: int, state: str, detail: str) -> None:
        previous = self.model.active_version(module) if state == "active" else None
        if previous == version:
            previous = None
        self.log_model.add_state(module, version, state, previous, detail)
        self.schedule_refresh()

    def _file_deleted(self, module: str, version: object) -> None:
        serving = version if isinstance(version, int) else None
        self.log_model.add_deleted(module, serving)
        self.model.set_file_deleted(module, True)
        self._update_actions()
        self._show_status(
            f"{module}.py was deleted; its active version keeps serving until you remove "
            "the module or restore the file",
            "warn",
        )

    def _calls(self, summary: CallSummary) -> None:
        self.model.apply_calls(summary)

    def _show_status(self, text: str, severity: str) -> None:
        self.status_label.setText(text)
        set_severity(self.status_label, severity)

    # -- actions ---------------------------------------------------------------------------
    def _started(self, _action: str, text: str) -> None:
        for button in self.action_bar.buttons():
            button.setEnabled(False)
        self._show_status(text, "muted")

    def _finished(
        self, action: str, ok: bool, text: str, severity: str, select: tuple[str, int] | None
    ) -> None:
        self._show_status(text, severity)
        self._select_after = select
        if action == "reload" and ok:
            self.action_bar.force_check.setChecked(False)  # forcing is a one-off decision
        self._update_actions()
        self.refresh()
        self.actionFinished.emit(action, ok, text)
