"""Helpers shared by the Module reload panel tests."""

from __future__ import annotations

from PySide6.QtGui import QBrush
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from app.panels.modules.reload_log import MODULE, RESULT, VERSIONS
from app.panels.modules.reload_log import ORIGIN as LOG_ORIGIN
from app.panels.modules.view import ModulesPanel
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, wait_signal


async def open_panel(bridge: EngineBridge, qtbot: QtBot, user: str = ADMIN_NAME) -> ModulesPanel:
    """Sign in as ``user`` and show a Module reload panel once it has loaded."""
    await bridge.login(user, ADMIN_PASSWORD)
    panel = ModulesPanel(bridge)
    qtbot.addWidget(panel)
    panel.resize(1200, 720)
    panel.show()
    await wait_signal(panel.loaded)
    return panel


def log_row(panel: ModulesPanel, row: int = 0) -> list[str]:
    """Module, versions, origin and result of a reload-log row (0: the newest)."""
    return [panel.log_model.index(row, c).data() for c in (MODULE, VERSIONS, LOG_ORIGIN, RESULT)]


def colour(index_data: object) -> str:
    """The colour name of a ForegroundRole brush ("" when there is none)."""
    return index_data.color().name() if isinstance(index_data, QBrush) else ""
