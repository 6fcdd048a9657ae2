"""The Settings dialog: data dir and workspace, the LLM provider, alert thresholds, the
patch policy, the swarm and the HTTP API, checked as the operator types.

Every field says whether a saved change applies now or at the next start (the
engine decides, see :data:`chimera_engine.settings.service.LIVE`); mistakes show in
red under the field and keep Save disabled. Saving and testing run through the
bridge in the background. Only administrators (``settings.manage``) may change
anything; everyone else sees the settings read-only, with the reason on the
disabled buttons. Show it with ``open()`` (non-modal).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge, describe_error
from app.panels.settings.fields import (
    FieldGrid,
    PathEdit,
    connect_changed,
    editor_value,
    set_editable,
    set_editor_value,
)
from app.panels.settings.provider import ProviderTab
from app.panels.settings.rules import BACKENDS, changed, field_of, problems, typed
from app.shared.dialog_base import BusyButton, DialogHeader, grow_to_fit
from app.shared.permissions import missing_permission
from app.widgets.confirm import confirm
from app.widgets.style import set_severity
from chimera_engine.security.permissions import Permission
from chimera_engine.settings.service import ProviderKeyStatus, SettingsChange, SettingsView

#: Keys in the grids that are not settings (the key and test rows of the provider tab).
_NOT_SETTINGS = frozenset({"codegen.api_key", "codegen.test"})


def _spin(low: int, high: int, suffix: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSuffix(suffix)
    return spin


def _dspin(low: float, high: float, decimals: int, step: float, suffix: str = "") -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(decimals)
    spin.setSingleStep(step)
    spin.setSuffix(suffix)
    return spin


class SettingsDialog(QDialog):
    loaded = Signal(object)  # SettingsView
    saved = Signal(object)  # SettingsChange | None (only a key was stored)
    validated = Signal(bool)  # whether the form may be saved

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._client = bridge.settings
        self._view: SettingsView | None = None
        self._original: dict[str, Any] = {}
        self._filling = False
        self._busy = False
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings — CHIMERA Console")
        self.setMinimumSize(720, 560)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        session = bridge.session
        principal = session.principal if session is not None else None
        self.read_only_reason = missing_permission(principal, Permission.SETTINGS_MANAGE)

        self.header = DialogHeader("Settings", "Loading the engine's settings…", self)
        self.notice = QLabel(self)
        self.notice.setObjectName("readOnlyNotice")
        self.notice.setWordWrap(True)
        set_severity(self.notice, "warn")
        self.notice.setVisible(bool(self.read_only_reason))
        self.notice.setText(f"Read-only: {self.read_only_reason}.")
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("settingsTabs")
        self.grids: dict[str, FieldGrid] = {}
        self._build_general()
        self.provider = ProviderTab(bridge, self._client, self.codegen_values, self)
        self.provider.keyChanged.connect(self._key_changed)
        self._add_tab("provider", "LLM provider", self.provider)
        self._build_alerts()
        self._build_patches()
        self._build_swarm()
        self._build_api()

        self.status = QLabel(self)
        self.status.setObjectName("settingsStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.hide()
        self.save_button = BusyButton("Save", "Saving…", self)
        self.save_button.setObjectName("saveSettingsButton")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        buttons = QDialogButtonBox(self)
        self.close_button: QPushButton = buttons.addButton(
            "Close", QDialogButtonBox.ButtonRole.RejectRole
        )
        self.close_button.setObjectName("closeSettingsButton")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)
        self.discard_box: QMessageBox | None = None
        self._discard_confirmed = False
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.AcceptRole)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.addWidget(self.header)
        layout.addWidget(self.notice)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status)
        layout.addWidget(buttons)

        for grid in self.grids.values():
            for row in grid.rows.values():
                if row.key not in _NOT_SETTINGS:
                    connect_changed(row.editor, self.revalidate)
                    connect_changed(row.editor, self._edited)
        self.provider.key_edit.textChanged.connect(lambda _t: self.revalidate())
        self._set_editable(False)
        self.load()

    # -- construction ----------------------------------------------------------------------
    def _add_tab(self, name: str, title: str, grid: FieldGrid) -> None:
        grid.setObjectName(f"settingsTab-{name}")
        self.grids[name] = grid
        self.tabs.addTab(grid, title)

    def _build_general(self) -> None:
        grid = FieldGrid(
            "Where the engine keeps its database, secrets and keys, and which "
            "folder of tools it runs.",
            self,
        )
        grid.add(
            "engine.data_dir",
            "Data directory",
            PathEdit(folder=True, parent=grid),
            "Moving it starts afresh: copy chimera.sqlite3, secret.key and provider-keys.bin.",
        )
        grid.add(
            "engine.workspace",
            "Workspace",
            PathEdit(
                folder=True, placeholder="the demo workspace in the data directory", parent=grid
            ),
        )
        self._add_tab("general", "General", grid)

    def _build_alerts(self) -> None:
        grid = FieldGrid("When a tool's metrics raise alerts and forecasts warn ahead.", self)
        grid.add(
            "metrics.confidence_threshold",
            "Confidence below",
            _dspin(0.0, 1.0, 2, 0.05),
            "A tool whose success confidence falls under this is flagged (0 to 1).",
        )
        grid.add(
            "metrics.latency_threshold_ms",
            "Latency above",
            _dspin(0.0, 600_000.0, 0, 50.0, " ms"),
            "Median call latency that counts as degraded.",
        )
        self._add_tab("alerts", "Alerts", grid)

    def _build_patches(self) -> None:
        grid = FieldGrid(
            "Which patches may be applied without an operator, and how long an "
            "applied patch is watched before it is kept.",
            self,
        )
        grid.add(
            "codegen.auto_approve",
            "Auto-approve",
            QCheckBox("Approve small patches whose tests pass without asking"),
            "Off by default; every auto-approval is written to the audit log.",
        )
        grid.add("codegen.auto_approve_max_lines", "At most", _spin(1, 100_000, " changed lines"))
        grid.add(
            "codegen.watch_seconds",
            "Watch window",
            _dspin(1.0, 86_400.0, 0, 10.0, " s"),
            "A patched tool that gets worse within this window is rolled back.",
        )
        grid.add("codegen.watch_min_calls", "Judge after", _spin(1, 1_000_000, " calls"))
        self._add_tab("patches", "Patches", grid)

    def _build_swarm(self) -> None:
        grid = FieldGrid(
            "Where agents run: processes on this machine, or Dask workers on other machines.", self
        )
        backend = QComboBox()
        for value, label in BACKENDS:
            backend.addItem(label, value)
        grid.add("swarm.backend", "Backend", backend)
        address = QLineEdit()
        address.setPlaceholderText("tcp://10.0.0.5:8786")
        grid.add("swarm.scheduler_address", "Scheduler", address)
        grid.add("swarm.max_agents", "Max agents", _spin(1, 4096))
        agents = QLineEdit()
        agents.setPlaceholderText("e.g. executor:2,analyzer:1")
        grid.add("swarm.initial_agents", "Initial agents", agents, "Spawned at start, by role.")
        self._add_tab("swarm", "Swarm", grid)

    def _build_api(self) -> None:
        grid = FieldGrid(
            "The HTTP and WebSocket API other programs use. Bound beyond loopback, it needs TLS.",
            self,
        )
        grid.add("api.enabled", "Serve", QCheckBox("Serve the HTTP API"))
        grid.add("api.host", "Host", QLineEdit())
        port = QLineEdit()
        port.setPlaceholderText("8765")
        port.setMaxLength(8)
        grid.add("api.port", "Port", port)
        grid.add("api.tls_cert", "TLS certificate", PathEdit(folder=False, parent=grid))
        grid.add("api.tls_key", "TLS private key", PathEdit(folder=False, parent=grid))
        self._add_tab("api", "API", grid)

    # -- values ----------------------------------------------------------------------------
    def editor(self, key: str) -> QWidget:
        for grid in self.grids.values():
            if key in grid.rows:
                return grid.rows[key].editor
        raise KeyError(key)

    def _grid_of(self, key: str) -> FieldGrid:
        return next(g for g in self.grids.values() if key in g.rows)

    def values(self) -> dict[str, Any]:
        """The form as ``{"section.key": value}`` (text fields as typed)."""
        out = {}
        for grid in self.grids.values():
            for key, row in grid.rows.items():
                if key not in _NOT_SETTINGS:
                    out[key] = editor_value(row.editor)
        return out

    def codegen_values(self) -> Mapping[str, Any]:
        """The provider fields as ``[codegen]`` values, for the connection test."""
        keys = ("provider", "base_url", "model", "api_key_env", "transcript")
        numbers = ("request_timeout", "max_tokens", "context_tokens")
        values = self.values()
        out: dict[str, Any] = {k: values[f"codegen.{k}"] or "" for k in keys}
        out.update({k: values[f"codegen.{k}"] for k in numbers})
        return out

    def changes(self) -> dict[str, dict[str, Any]]:
        return changed(self._original, self.values())

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> None:
        self._bridge.run(
            self._client.get_settings(),
            on_success=self._loaded,
            on_error=self._load_failed,
            title="Settings",
        )

    def _loaded(self, view: SettingsView) -> None:
        self._view = view
        self._filling = True
        try:
            for grid in self.grids.values():
                for key, row in grid.rows.items():
                    if key in _NOT_SETTINGS:
                        continue
                    set_editor_value(row.editor, view.value(key))
                    grid.set_when(key, key in view.live)
        finally:
            self._filling = False
        self._original = {k: typed(k, v) for k, v in self.values().items()}
        self.provider.set_view(view)
        where = view.config_path or "no file (changes cannot be saved)"
        self.header.text.setText(
            f"Saved to {where}. Environment variables (CHIMERA_SECTION__KEY) win over the file."
        )
        self._set_editable(not self.read_only_reason)
        self.revalidate()
        self.loaded.emit(view)

    def _load_failed(self, exc: Exception) -> None:
        self._show_status(f"The settings could not be read: {describe_error(exc)}", "critical")

    # -- checking --------------------------------------------------------------------------
    def revalidate(self) -> bool:
        """Show each field's problem (or notice) and enable Save only when it may save."""
        if self._filling or self._view is None:
            return False
        found = problems(self.values())
        view = self._view
        for grid in self.grids.values():
            for key in grid.rows:
                if key in _NOT_SETTINGS:
                    continue
                if key in found:
                    grid.show_message(key, found[key], "critical")
                elif key in view.env_overrides:
                    grid.show_message(
                        key,
                        f"Set by {view.env_overrides[key]} in the environment, "
                        "which wins over the saved value.",
                        "warn",
                    )
                elif key in view.pending_restart:
                    grid.show_message(key, "Saved; takes effect at the next start.", "warn")
                else:
                    grid.show_message(key, "", "muted")
        for grid in self.grids.values():
            bad = any(k in found for k in grid.rows)
            index = self.tabs.indexOf(grid)
            title = self.tabs.tabText(index).removesuffix(" ⚠")
            self.tabs.setTabText(index, f"{title} ⚠" if bad else title)
        new_key = bool(self.provider.new_key()) and self.provider.key_kind is not None
        pending = bool(self.changes()) or new_key
        ok = not found and pending and not self.read_only_reason and not self._busy
        self.save_button.setEnabled(ok)
        if self.read_only_reason:
            tip = self.read_only_reason
        elif found:
            first = next(iter(found))
            tip = f"Fix {first} first: {found[first]}"
        elif not pending:
            tip = "Nothing changed yet"
        else:
            tip = "Save the changes (those marked 'applies now' take effect at once)"
        self.save_button.setToolTip(tip)
        self.validated.emit(not found)
        self._fit()  # messages under the fields may have appeared
        return not found

    def problems(self) -> dict[str, str]:
        return problems(self.values())

    # -- saving ----------------------------------------------------------------------------
    def save(self) -> None:
        if not self.revalidate() or not self.save_button.isEnabled():
            return
        self._busy = True
        self.save_button.set_busy(True)
        self._set_editable(False)
        self._bridge.run(
            self._save(self.changes(), self.provider.key_kind, self.provider.new_key()),
            on_success=self._saved,
            on_error=self._save_failed,
            title="Save settings",
        )

    async def _save(
        self, changes: dict[str, dict[str, Any]], key_kind: str | None, key: str
    ) -> tuple[SettingsChange | None, ProviderKeyStatus | None]:
        change = await self._client.update_settings(changes) if changes else None
        status = None
        if key and key_kind is not None:
            status = await self._client.set_provider_key(key_kind, key)
        return change, status

    def _saved(self, result: tuple[SettingsChange | None, ProviderKeyStatus | None]) -> None:
        change, status = result
        self._busy = False
        self.save_button.set_busy(False)
        parts = []
        if change is not None:
            if change.applied:
                parts.append(f"{len(change.applied)} applied now")
            if change.at_restart:
                parts.append(f"{len(change.at_restart)} take effect at the next start")
            if change.overridden:
                parts.append(f"{', '.join(change.overridden)} stay overridden by the environment")
            if not change.changed:
                parts.append("nothing changed")
        if status is not None:
            parts.append("the API key is stored")
            self.provider.key_edit.clear()
        self._show_status("Saved: " + "; ".join(parts) + "." if parts else "Saved.", "ok")
        if change is not None:
            if status is not None:
                change.view.keys[status.kind] = status  # the view was read before the key
            self._loaded(change.view)
        else:
            self._set_editable(True)
            if status is not None and self._view is not None:
                self._view.keys[status.kind] = status
                self.provider.update_key_status(status)
            self.revalidate()
        self.saved.emit(change)

    def _save_failed(self, exc: Exception) -> None:
        self._busy = False
        self.save_button.set_busy(False)
        self._set_editable(True)
        message = describe_error(exc)
        key, text = field_of(message)
        try:
            grid = self._grid_of(key)
        except StopIteration:
            self._show_status(f"Not saved: {message}", "critical")
        else:
            self.revalidate()
            grid.show_message(key, text, "critical")
            self.tabs.setCurrentWidget(grid)
            self._show_status(f"Not saved: {key}: {text}", "critical")
            self.save_button.setEnabled(False)

    def _key_changed(self, status: ProviderKeyStatus) -> None:
        self._show_status(f"The stored {status.kind} key was removed.", "ok")

    # -- helpers ---------------------------------------------------------------------------
    def _set_editable(self, editable: bool) -> None:
        for name, grid in self.grids.items():
            if name == "provider":
                continue
            for row in grid.rows.values():
                set_editable(row.editor, editable)
        self.provider.set_editable(editable, self.read_only_reason)
        if self.read_only_reason:
            self.save_button.setEnabled(False)
            self.save_button.setToolTip(self.read_only_reason)

    def _show_status(self, text: str, severity: str) -> None:
        self.status.setText(text)
        set_severity(self.status, severity)
        self.status.show()
        self._fit()

    def _edited(self, *_args: object) -> None:
        """An edit makes the last outcome ("Saved…", "Not saved…") stale: clear it."""
        if not self._filling and not self._busy and self.status.isVisible():
            self.status.clear()
            self.status.hide()

    def _fit(self) -> None:
        grow_to_fit(self)

    def has_unsaved_edits(self) -> bool:
        if self._view is None or self.read_only_reason:
            return False
        return bool(self.changes()) or bool(self.provider.new_key())

    def reject(self) -> None:
        """Close (or Escape): ask before dropping edits that were not saved."""
        if self._discard_confirmed or not self.has_unsaved_edits():
            super().reject()
            return
        if self.discard_box is not None and self.discard_box.isVisible():
            return
        count = len(self.changes()) + bool(self.provider.new_key())
        self.discard_box = confirm(
            self,
            "Unsaved settings",
            f"Discard {count} unsaved change{'s' if count != 1 else ''}?",
            "Discard",
            self._discard,
            detail="Save keeps them; Cancel returns to the settings.",
        )

    def _discard(self) -> None:
        self._discard_confirmed = True
        self.reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._discard_confirmed or not self.has_unsaved_edits():
            super().closeEvent(event)
            return
        event.ignore()
        self.reject()
