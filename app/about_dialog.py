"""Help > About: the version, the engine's versions of Python and Qt, and where data lives."""

from __future__ import annotations

import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.bridge import EngineBridge
from app.theme import resource_dir
from chimera_engine import __version__

ABOUT_TEXT = (
    "An operator console for self-healing Python services: it runs a workspace of "
    "tools, watches their health, reviews and applies LLM patches with one click, "
    "and keeps a tamper-evident record of every action."
)


def about_details(bridge: EngineBridge) -> list[tuple[str, str]]:
    return [
        ("Version", __version__),
        ("Python", platform.python_version()),
        ("Qt", f"{qVersion()} (PySide6 {pyside_version})"),
        ("Data directory", bridge.data_dir),
        ("Workspace", bridge.workspace),
    ]


class AboutDialog(QDialog):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About CHIMERA Console")
        icon = QLabel(self)
        icon.setObjectName("aboutIcon")
        pixmap = QPixmap(str(resource_dir() / "icons" / "chimera-console-128.png"))
        if not pixmap.isNull():
            icon.setPixmap(
                pixmap.scaled(
                    96,
                    96,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        title = QLabel("CHIMERA Console", self)
        title.setObjectName("dialogTitle")
        text = QLabel(ABOUT_TEXT, self)
        text.setObjectName("dialogText")
        text.setWordWrap(True)
        self.details = about_details(bridge)
        rows = "".join(
            f"<tr><td style='padding-right:12px'><b>{k}</b></td><td>{v}</td></tr>"
            for k, v in self.details
        )
        details = QLabel(f"<table>{rows}</table><p>Licensed under the MIT licence.</p>", self)
        details.setObjectName("aboutDetails")
        details.setTextFormat(Qt.TextFormat.RichText)
        details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)

        column = QVBoxLayout()
        column.setSpacing(8)
        column.addWidget(title)
        column.addWidget(text)
        column.addWidget(details)
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addLayout(column, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 14)
        layout.addLayout(top)
        layout.addWidget(buttons)
        self.setMinimumWidth(680)
