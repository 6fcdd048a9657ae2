"""Non-modal confirmation boxes (``open()``, never ``exec()``: the loop keeps running)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget


def confirm(
    parent: QWidget,
    title: str,
    text: str,
    action: str,
    on_confirmed: Callable[[], object],
    *,
    detail: str = "",
) -> QMessageBox:
    """Ask before a destructive action; ``on_confirmed`` runs only if ``action`` is clicked.

    The box is returned (object name ``confirmBox``; :func:`action_button` finds the
    button) and deletes itself when closed.
    """
    box = QMessageBox(
        QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, parent
    )
    box.setObjectName("confirmBox")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if detail:
        box.setInformativeText(detail)
    go = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    go.setObjectName("confirmActionButton")
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)

    def finished() -> None:
        if box.clickedButton() is go:
            on_confirmed()

    box.finished.connect(finished)
    box.open()
    return box


def action_button(box: QMessageBox) -> QPushButton:
    """The button that confirms (for tests and keyboard shortcuts)."""
    button = box.findChild(QPushButton, "confirmActionButton")
    if button is None:
        raise LookupError("not a confirmation box")
    return button
