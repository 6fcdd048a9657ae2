"""What the panels' action bars share: whether an action is offered (and why not), and a
button that names its action and reports it when clicked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QPushButton, QWidget


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
