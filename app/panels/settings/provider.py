"""The LLM provider tab: kind, base URL, model, the API key (only whether one is
stored is ever shown) and a "Test connection" button that never blocks the loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge, describe_error
from app.clients.settings import SettingsClient
from app.panels.settings.fields import FieldGrid, PathEdit, set_editable
from app.panels.settings.rules import DEFAULT_BASE_URL, DEFAULT_MODEL, KEY_KIND, PROVIDERS
from app.shared.dialog_base import BusyButton
from app.widgets.style import set_severity
from chimera_engine.settings.service import ConnectionReport, ProviderKeyStatus, SettingsView

#: Seconds the connection test may take before it reports a timeout.
TEST_TIMEOUT_S = 15.0


class ProviderTab(FieldGrid):
    """Fields of ``[codegen]`` that choose the provider, plus its key and a test."""

    testFinished = Signal(object)  # ConnectionReport
    keyChanged = Signal(object)  # ProviderKeyStatus

    def __init__(
        self,
        bridge: EngineBridge,
        client: SettingsClient,
        codegen_values: Callable[[], Mapping[str, Any]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "The model that writes patches. Keys are kept in the OS keyring or in an "
            "encrypted file readable only by you; never in the settings file or the audit log.",
            parent,
        )
        self._bridge = bridge
        self._client = client
        self._codegen_values = codegen_values
        self._view: SettingsView | None = None
        self._editable = False
        self.kind_combo = QComboBox(self)
        for value, label in PROVIDERS:
            self.kind_combo.addItem(label, value)
        self.base_url_edit = QLineEdit(self)
        self.model_edit = QLineEdit(self)
        self.key_env_edit = QLineEdit(self)
        self.transcript_edit = PathEdit(
            folder=False, placeholder="the demo's scripted answers", parent=self
        )
        self.timeout_spin = QDoubleSpinBox(self)
        self.timeout_spin.setRange(1.0, 3600.0)
        self.timeout_spin.setDecimals(0)
        self.timeout_spin.setSuffix(" s")
        self.cost_spin = QDoubleSpinBox(self)
        self.cost_spin.setRange(0.0, 1000.0)
        self.cost_spin.setDecimals(2)
        self.cost_spin.setPrefix("$ ")
        self.cost_spin.setSingleStep(0.5)
        self.attempts_spin = QSpinBox(self)
        self.attempts_spin.setRange(1, 20)
        self.output_spin = QSpinBox(self)
        self.output_spin.setObjectName("answerLimitSpin")
        self.output_spin.setRange(64, 200_000)
        self.output_spin.setSingleStep(256)
        self.output_spin.setSuffix(" tokens")
        self.output_spin.setToolTip(
            "The longest answer asked for (a module and its tests); cut further when the "
            "model's context leaves less room"
        )
        self.context_spin = QSpinBox(self)
        self.context_spin.setObjectName("contextWindowSpin")
        self.context_spin.setRange(0, 10_000_000)
        self.context_spin.setSingleStep(1024)
        self.context_spin.setSuffix(" tokens")
        self.context_spin.setSpecialValueText("ask the server")
        self.context_spin.setToolTip(
            "The model's context window, used when the server does not say "
            "(llama.cpp and Ollama say; OpenAI and Anthropic do not)"
        )
        self.add("codegen.provider", "Provider", self.kind_combo)
        self.add("codegen.base_url", "Base URL", self.base_url_edit)
        self.add("codegen.model", "Model", self.model_edit)
        self.add("codegen.api_key_env", "Key variable", self.key_env_edit)
        self.add("codegen.transcript", "Scripted answers", self.transcript_edit)
        self.add("codegen.request_timeout", "Request timeout", self.timeout_spin)
        self.add("codegen.max_cost_usd", "Cost cap per patch", self.cost_spin)
        self.add("codegen.max_attempts", "Attempts per patch", self.attempts_spin)
        self.add("codegen.max_tokens", "Answer limit", self.output_spin)
        self.add("codegen.context_tokens", "Context window", self.context_spin)
        self._build_key_row()
        self._build_test_row()
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    # -- construction ----------------------------------------------------------------------
    def _build_key_row(self) -> None:
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.key_status = QLabel("", box)
        self.key_status.setObjectName("keyStatusLabel")
        self.key_status.setWordWrap(True)
        line = QHBoxLayout()
        line.setSpacing(6)
        self.key_edit = QLineEdit(box)
        self.key_edit.setObjectName("newKeyEdit")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("paste a new key to store it when you save")
        self.clear_key_button = QPushButton("Remove stored key", box)
        self.clear_key_button.setObjectName("clearKeyButton")
        self.clear_key_button.setAutoDefault(False)
        self.clear_key_button.clicked.connect(self.clear_key)
        line.addWidget(self.key_edit, 1)
        line.addWidget(self.clear_key_button)
        layout.addWidget(self.key_status)
        layout.addLayout(line)
        self.add("codegen.api_key", "API key", box)

    def _build_test_row(self) -> None:
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        line = QHBoxLayout()
        self.test_button = BusyButton("Test connection", "Testing…", box)
        self.test_button.setObjectName("testConnectionButton")
        self.test_button.setAutoDefault(False)
        self.test_button.setToolTip(
            "Send one short request with the values above (not saved yet) and the key "
            f"typed or stored; gives up after {TEST_TIMEOUT_S:g} s"
        )
        self.test_button.clicked.connect(self.test_connection)
        self.progress = QProgressBar(box)
        self.progress.setObjectName("testProgress")
        self.progress.setRange(0, 0)  # busy, no known end
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        self.test_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.test_button.setMinimumWidth(150)
        line.addWidget(self.test_button)
        line.addWidget(self.progress, 1)
        line.addStretch(0)
        self.test_result = QLabel("", box)
        self.test_result.setObjectName("testResultLabel")
        self.test_result.setWordWrap(True)
        self.test_result.setTextFormat(Qt.TextFormat.PlainText)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_result.hide()
        layout.addLayout(line)
        layout.addWidget(self.test_result)
        self.add("codegen.test", "Connection", box)

    # -- state -----------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    @property
    def key_kind(self) -> str | None:
        return KEY_KIND.get(self.kind)

    def new_key(self) -> str:
        return self.key_edit.text().strip()

    def _kind_changed(self) -> None:
        kind = self.kind
        replay = kind == "replay"
        self.base_url_edit.setPlaceholderText(DEFAULT_BASE_URL.get(kind, ""))
        model_hint = DEFAULT_MODEL.get(kind, "required, e.g. qwen2.5-coder:7b")
        self.model_edit.setPlaceholderText("" if replay else model_hint)
        key_env = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
        self.key_env_edit.setPlaceholderText(
            f"default: {key_env.get(kind, 'CHIMERA_LOCAL_API_KEY')}" if not replay else ""
        )
        for widget in (self.base_url_edit, self.model_edit, self.key_env_edit):
            set_editable(widget, self._editable and not replay)
        set_editable(self.transcript_edit, self._editable and replay)
        self.update_key_status()

    def set_view(self, view: SettingsView) -> None:
        self._view = view
        self.update_key_status()

    def update_key_status(self, status: ProviderKeyStatus | None = None) -> None:
        view = self._view
        kind = self.key_kind
        set_editable(self.key_edit, self._editable and kind is not None)
        self.clear_key_button.setEnabled(self._editable and kind is not None)
        if kind is None:
            self.key_status.setText("The replay provider needs no key.")
            set_severity(self.key_status, "muted")
            self.clear_key_button.hide()
            return
        if status is None and view is not None:
            status = view.keys.get(kind)
        if status is None:
            self.key_status.setText("")
            return
        backend = view.key_backend if view is not None else "the key store"
        if status.env_set:
            text = f"{status.env_var} is set in the environment and is used first."
            severity = "ok"
        elif status.stored:
            text = f"A key is stored ({backend})."
            severity = "ok"
        elif kind in ("local", "ollama"):
            text = "No key stored (most local servers need none)."
            severity = "muted"
        else:
            text = f"No key: set {status.env_var} or paste one below."
            severity = "warn"
        if view is not None and view.key_error:
            text, severity = view.key_error, "critical"
        self.key_status.setText(text)
        set_severity(self.key_status, severity)
        self.clear_key_button.setVisible(status.stored)
        self.clear_key_button.setToolTip(f"Delete the stored {kind} key ({backend})")

    def set_editable(self, editable: bool, reason: str = "") -> None:
        self._editable = editable
        for row in self.rows.values():
            if row.key not in ("codegen.test",):
                set_editable(row.editor, editable)
        self.test_button.setEnabled(editable)
        self.test_button.setToolTip(reason or self.test_button.toolTip())
        if editable:
            self._kind_changed()

    # -- operations ------------------------------------------------------------------------
    def test_connection(self) -> None:
        if not self.test_button.isEnabled():
            return
        self.test_button.set_busy(True)
        self.progress.show()
        self.test_result.hide()
        codegen = dict(self._codegen_values())
        self._bridge.run(
            self._client.test_provider(codegen, self.new_key() or None, TEST_TIMEOUT_S),
            on_success=self._tested,
            on_error=self._test_failed,
            title="Test connection",
        )

    def _tested(self, report: ConnectionReport) -> None:
        self._test_done()
        if report.kind == "scripted":
            self.test_result.setText(f"Scripted, not a live model: {report.message}")
            set_severity(self.test_result, "warn")
        else:
            prefix = "Connected: " if report.ok else ""
            self.test_result.setText(prefix + report.message)
            set_severity(self.test_result, "ok" if report.ok else "critical")
        self.test_result.show()
        self.testFinished.emit(report)

    def _test_failed(self, exc: Exception) -> None:
        self._test_done()
        self.test_result.setText(describe_error(exc))
        set_severity(self.test_result, "critical")
        self.test_result.show()

    def _test_done(self) -> None:
        self.test_button.set_busy(False)
        self.progress.hide()

    def clear_key(self) -> None:
        kind = self.key_kind
        if kind is None:
            return
        self.clear_key_button.setEnabled(False)
        self._bridge.run(
            self._client.clear_provider_key(kind),
            on_success=self._key_cleared,
            on_error=self._key_clear_failed,
            title="Remove the stored key",
        )

    def _key_cleared(self, status: ProviderKeyStatus) -> None:
        self.clear_key_button.setEnabled(True)
        if self._view is not None:
            self._view.keys[status.kind] = status
        self.update_key_status(status)
        self.keyChanged.emit(status)

    def _key_clear_failed(self, exc: Exception) -> None:
        self.clear_key_button.setEnabled(True)
        self.key_status.setText(describe_error(exc))
        set_severity(self.key_status, "critical")
