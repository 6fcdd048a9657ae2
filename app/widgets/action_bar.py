"""What the panels' action bars share: whether an action is offered (and why not), a
button that names its action and reports it when clicked, and the row with Refresh."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget


@dataclass(frozen=True)
class Availability:
    """Whether an action is offered, and the tooltip that says what it does or why not."""

    enabled: bool
    tip: str


def named_action_button(
    text: str, action: str, name: str, parent: QWidget, triggered: Callable[[str], object]
) -> QPushButton:
    """A push button with the property ``action``; a click calls ``triggered(action)``."""
    button = QPushButton(text, parent)
    button.setObjectName(name)
    button.setProperty("action", action)
    button.clicked.connect(lambda: triggered(action))
    return button


def refresh_button(
    name: str, tip: str, refresh: Callable[[], object], parent: QWidget
) -> QPushButton:
    """A panel's "Refresh" button: reads the panel's data from the engine again."""
    button = QPushButton("Refresh", parent)
    button.setObjectName(name)
    button.setToolTip(tip)
    button.clicked.connect(refresh)
    return button


def panel_toolbar(actions: QWidget, refresh: QPushButton, *extra: QWidget) -> QHBoxLayout:
    """The row over a panel: its action bar on the left, ``extra`` and Refresh on the right."""
    toolbar = QHBoxLayout()
    toolbar.setSpacing(6)
    toolbar.addWidget(actions)
    toolbar.addStretch(1)
    for widget in extra:
        toolbar.addWidget(widget)
    toolbar.addWidget(refresh)
    return toolbar
