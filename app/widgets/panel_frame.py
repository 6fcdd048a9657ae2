"""The frame of a list panel (Modules, Patches, Swarm): a toolbar with the action bar and
Refresh over the panel's body, and a footer with the last outcome and the counts."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QLayout, QPushButton, QVBoxLayout, QWidget


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


def panel_footer(status: QLabel, count: QLabel, *middle: QWidget) -> QHBoxLayout:
    """The row under a panel: the last outcome (stretching), ``middle``, the counts."""
    count.setWordWrap(False)
    footer = QHBoxLayout()
    footer.addWidget(status, 1)
    for widget in middle:
        footer.addWidget(widget)
        footer.addSpacing(12)
    footer.addWidget(count)
    return footer


def panel_layout(
    panel: QWidget, toolbar: QLayout, body: QWidget, footer: QLayout, *above: QWidget
) -> QVBoxLayout:
    """``panel``'s layout: the toolbar, ``above``, the body (taking the room), the footer."""
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(10, 10, 10, 8)
    layout.setSpacing(8)
    layout.addLayout(toolbar)
    for widget in above:
        layout.addWidget(widget)
    layout.addWidget(body, 1)
    layout.addLayout(footer)
    return layout
