"""FormDialog: a non-modal dialog that checks its fields, then runs one engine operation.

Local mistakes (empty name, passwords that differ) are reported without asking
the engine; the engine's own refusals (policy, permission) are shown inline in
the same red label. On success :attr:`FormDialog.succeeded` carries the
operation's result and the dialog accepts. Show it with ``open()``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge, describe_error
from app.qtabc import QABCMeta
from app.shared.dialog_base import BusyButton, DialogHeader, ErrorLabel, align_form_labels


def password_edit(name: str, parent: QWidget) -> QLineEdit:
    edit = QLineEdit(parent)
    edit.setObjectName(name)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


class FormDialog(QDialog, metaclass=QABCMeta):
    succeeded = Signal(object)

    def __init__(
        self,
        bridge: EngineBridge,
        *,
        name: str,
        title: str,
        heading: str,
        text: str,
        submit: str,
        busy: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.setObjectName(name)
        self.setWindowTitle(f"{title} — CHIMERA Console")
        self.setMinimumWidth(480)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.header = DialogHeader(heading, text, self)
        self.form = QFormLayout()
        self.form.setSpacing(10)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.error_label = ErrorLabel(self)
        self.submit_button = BusyButton(submit, busy, self)
        self.submit_button.setObjectName("submitButton")
        self.submit_button.setDefault(True)
        self.submit_button.setAutoDefault(True)
        buttons = QDialogButtonBox(self)
        self.cancel_button: QPushButton = buttons.addButton(
            "Cancel", QDialogButtonBox.ButtonRole.RejectRole
        )
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setAutoDefault(False)
        buttons.addButton(self.submit_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.submit_button.clicked.connect(self.submit)
        self.cancel_button.clicked.connect(self.reject)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(24, 20, 24, 18)
        self._layout.setSpacing(14)
        self._layout.addWidget(self.header)
        self._layout.addLayout(self.form)
        self._layout.addWidget(self.error_label)
        self._layout.addWidget(buttons)

    def finish_form(self) -> None:
        """Call once every row is added."""
        align_form_labels(self.form)

    # -- to override -----------------------------------------------------------------------
    def problem(self) -> str:
        """What is wrong with the fields ("" if nothing); checked before the engine is asked."""
        return ""

    @abstractmethod
    def operation(self) -> Coroutine[Any, Any, object]:
        """The engine operation to run once the fields are valid (not awaited here)."""

    def editors(self) -> list[QWidget]:
        """Fields to freeze while the engine works."""
        return []

    # -- running ---------------------------------------------------------------------------
    def submit(self) -> None:
        if not self.submit_button.isEnabled():
            return
        problem = self.problem()
        if problem:
            self.error_label.show_error(problem)
            return
        self.error_label.clear_error()
        self._set_busy(True)
        self._bridge.run(
            self.operation(),
            on_success=self._succeeded,
            on_error=self._failed,
            title=self.windowTitle(),
        )

    def _set_busy(self, busy: bool) -> None:
        self.submit_button.set_busy(busy)
        for editor in self.editors():
            editor.setEnabled(not busy)

    def _succeeded(self, result: object) -> None:
        self._set_busy(False)
        self.succeeded.emit(result)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self._set_busy(False)
        self.error_label.show_error(describe_error(exc))
