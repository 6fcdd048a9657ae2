"""Dialogs of the Patch review panel (all non-modal: show them with ``open()``).

* :class:`ReasonDialog`: reject or roll back a patch, saying why (the engine
  records the reason and audits it);
* :class:`EditPatchDialog`: the patch as text, edited by the operator and
  submitted as a new patch that the sandbox tests again;
* :class:`RequestPatchDialog`: which module to ask a fix for, with an optional
  note for the model. It only collects the request (:attr:`requested`): the
  generation can take minutes and runs in the panel, not in the dialog.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge
from app.panels.patches.text import answer_text
from app.shared.dialog_base import DialogHeader, ErrorLabel, align_form_labels
from app.shared.form import FormDialog
from app.widgets.code_view import DiffHighlighter, monospace_font
from chimera_engine.patches.models import Patch


def _text_edit(name: str, placeholder: str, parent: QWidget, height: int = 84) -> QPlainTextEdit:
    edit = QPlainTextEdit(parent)
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    edit.setTabChangesFocus(True)
    edit.setFixedHeight(height)
    return edit


class ReasonDialog(FormDialog):
    """Asks why, then runs ``run(reason)``; :attr:`succeeded` carries the updated patch."""

    def __init__(
        self,
        bridge: EngineBridge,
        run: Callable[[str], Coroutine[Any, Any, Patch]],
        *,
        name: str,
        title: str,
        text: str,
        submit: str,
        busy: str,
        placeholder: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            bridge,
            name=name,
            title=title,
            heading=title,
            text=text,
            submit=submit,
            busy=busy,
            parent=parent,
        )
        self._run = run
        self.reason_edit = _text_edit("reasonEdit", placeholder, self)
        self.form.addRow("Reason", self.reason_edit)
        self.finish_form()
        self.reason_edit.setFocus()

    def reason(self) -> str:
        return self.reason_edit.toPlainText().strip()

    def problem(self) -> str:
        return "" if self.reason() else "say why: the reason is recorded with the decision"

    def editors(self) -> list[QWidget]:
        return [self.reason_edit]

    def operation(self) -> Coroutine[Any, Any, object]:
        return self._run(self.reason())


class EditPatchDialog(FormDialog):
    """The patch in the answer format; :attr:`succeeded` carries the new, tested patch."""

    def __init__(self, bridge: EngineBridge, patch: Patch, parent: QWidget | None = None) -> None:
        super().__init__(
            bridge,
            name="editPatchDialog",
            title=f"Edit patch {patch.id}",
            heading=f"Edit patch {patch.id} for {patch.module}",
            text=(
                "Change the diff (lines starting with + are added, - removed) or the tests. "
                "Your version is recorded as a new patch and tested in the sandbox; "
                f"patch {patch.id} stays as it is."
            ),
            submit="Test my version",
            busy="Testing…",
            parent=parent,
        )
        self.patch = patch
        self.original = answer_text(patch)
        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("patchTextEdit")
        self.editor.setFont(monospace_font(10))
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setPlainText(self.original)
        self.highlighter = DiffHighlighter(self.editor.document())
        self.form.addRow(self.editor)
        self.finish_form()
        self.resize(920, 680)
        self.editor.setFocus()

    def text(self) -> str:
        return self.editor.toPlainText()

    def problem(self) -> str:
        if not self.text().strip():
            return "the patch text is empty"
        if self.text().strip() == self.original.strip():
            return "change something first: the same text would make the same patch"
        return ""

    def editors(self) -> list[QWidget]:
        return [self.editor]

    def operation(self) -> Coroutine[Any, Any, object]:
        return self._bridge.patches.edit_patch(self.patch.id, self.text())


class RequestPatchDialog(QDialog):
    """Pick a module (or keep the given one) and add a note; emits :attr:`requested`."""

    requested = Signal(str, str)  # module, note

    def __init__(
        self,
        modules: Sequence[str],
        *,
        module: str = "",
        title: str = "Request a patch",
        text: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("requestPatchDialog")
        self.setWindowTitle(f"{title} — CHIMERA Console")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setMinimumWidth(520)
        self.header = DialogHeader(
            title,
            text
            or (
                "The configured model is asked for a fix of the module's active version, "
                "with its recent failures as evidence. Each answer is tested in the sandbox "
                "before it reaches the queue; nothing is applied without approval."
            ),
            self,
        )
        self.module_combo = QComboBox(self)
        self.module_combo.setObjectName("patchModuleCombo")
        for name in sorted(set(modules) | ({module} if module else set())):
            self.module_combo.addItem(name, name)
        if module:
            self.module_combo.setCurrentIndex(self.module_combo.findData(module))
        self.module_combo.setEnabled(self.module_combo.count() > 1)
        self.note_edit = _text_edit(
            "patchNoteEdit", "Optional: what to fix, or what was wrong with the last patch", self
        )
        form = QFormLayout()
        form.setSpacing(10)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("Module", self.module_combo)
        form.addRow("Note", self.note_edit)
        align_form_labels(form)
        self.error_label = ErrorLabel(self)
        buttons = QDialogButtonBox(self)
        self.cancel_button = buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        self.cancel_button.setObjectName("cancelButton")
        self.submit_button = buttons.addButton(
            "Generate patch", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.submit_button.setObjectName("submitButton")
        self.submit_button.setDefault(True)
        self.submit_button.clicked.connect(self.submit)
        self.cancel_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 18)
        layout.setSpacing(14)
        layout.addWidget(self.header)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        (self.note_edit if module else self.module_combo).setFocus()

    def module(self) -> str:
        return str(self.module_combo.currentData() or "")

    def note(self) -> str:
        return self.note_edit.toPlainText().strip()

    def submit(self) -> None:
        if not self.module():
            self.error_label.show_error("there is no module to patch")
            return
        self.requested.emit(self.module(), self.note())
        self.accept()
