"""The operator's desktop preferences: theme and window layout, kept in QSettings.

Constructed from a :class:`QSettings` so that tests (and the self-test) can
point it at a throw-away file; :meth:`Preferences.for_user` opens the user's
own (``~/.config/chimera/CHIMERA Console.conf`` on Linux).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from app.theme import CHOICES, SYSTEM

ORG_NAME = "chimera"
APP_NAME = "CHIMERA Console"
#: Bump when the dock layout changes incompatibly: saved layouts of other versions are ignored.
LAYOUT_VERSION = 1


class Preferences:
    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    @classmethod
    def for_user(cls) -> Preferences:
        return cls(QSettings(ORG_NAME, APP_NAME))

    @classmethod
    def at(cls, path: Path) -> Preferences:
        """Preferences in an INI file of their own (tests, the self-test)."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    # -- theme -----------------------------------------------------------------------------
    @property
    def theme(self) -> str:
        """``"light"``, ``"dark"`` or ``"system"`` (the default)."""
        value = self.settings.value("view/theme", SYSTEM)
        return value if isinstance(value, str) and value in CHOICES else SYSTEM

    @theme.setter
    def theme(self, choice: str) -> None:
        if choice not in CHOICES:
            raise ValueError(f"unknown theme {choice!r}; expected one of {CHOICES}")
        self.settings.setValue("view/theme", choice)
        self.settings.sync()

    # -- window layout ---------------------------------------------------------------------
    def _key(self, part: str) -> str:
        return f"layout/v{LAYOUT_VERSION}/{part}"

    def save_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.settings.setValue(self._key("geometry"), geometry)
        self.settings.setValue(self._key("state"), state)
        self.settings.sync()

    def layout(self) -> tuple[QByteArray, QByteArray] | None:
        """The saved ``(geometry, state)`` of the main window, or ``None``."""
        geometry = self.settings.value(self._key("geometry"))
        state = self.settings.value(self._key("state"))
        if isinstance(geometry, QByteArray) and isinstance(state, QByteArray):
            return geometry, state
        return None

    def clear_layout(self) -> None:
        self.settings.remove(f"layout/v{LAYOUT_VERSION}")
        self.settings.sync()
