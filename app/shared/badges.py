"""Coloured badges for table cells: patch states, risk levels, the SCRIPTED label.

A model returns a :class:`Badge` for :data:`BadgeRole`; the view's
:class:`app.widgets.badges.BadgeDelegate` paints it as a rounded pill, followed
by the badge's ``rest`` text if there is any.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt

#: A :class:`Badge` to paint in the cell (``None``: paint the cell as usual).
BadgeRole = Qt.ItemDataRole.UserRole + 10


@dataclass(frozen=True)
class Badge:
    """A pill reading ``label`` in ``foreground`` on ``background``, then ``rest``."""

    label: str
    foreground: str
    background: str
    rest: str = ""


#: Patch states: grey while the engine works, purple awaiting review, red refused,
#: green in service, amber when taken out of service again.
STATE_COLOURS: dict[str, tuple[str, str]] = {
    "proposed": ("#3e4c59", "#e4e7eb"),
    "testing": ("#1d5bd8", "#e4edfd"),
    "ready": ("#6941c6", "#f0e9ff"),
    "rejected": ("#b42318", "#fee4e2"),
    "approved": ("#0e7490", "#dff4fa"),
    "applied": ("#05603a", "#d1fadf"),
    "kept": ("#05603a", "#ecfdf3"),
    "rolled_back": ("#93370d", "#fef0c7"),
}

RISK_COLOURS: dict[str, tuple[str, str]] = {
    "low": ("#05603a", "#ecfdf3"),
    "medium": ("#93370d", "#fef0c7"),
    "high": ("#b42318", "#fee4e2"),
}

REPLAY_COLOURS = ("#ffffff", "#7a5af8")
NEUTRAL_COLOURS = ("#3e4c59", "#e4e7eb")


def state_label(state: str) -> str:
    """How a state reads on screen.

    >>> state_label("rolled_back"), state_label("ready")
    ('rolled back', 'ready')
    """
    return state.replace("_", " ")


def state_badge(state: str) -> Badge:
    fg, bg = STATE_COLOURS.get(state, NEUTRAL_COLOURS)
    return Badge(state_label(state), fg, bg)


def risk_badge(risk: str) -> Badge:
    fg, bg = RISK_COLOURS.get(risk, NEUTRAL_COLOURS)
    return Badge(risk or "unknown", fg, bg)
