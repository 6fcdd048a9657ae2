"""Helpers shared by the Module reload panel tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from PySide6.QtGui import QBrush
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from app.panels.modules.reload_log import MODULE, RESULT, VERSIONS
from app.panels.modules.reload_log import ORIGIN as LOG_ORIGIN
from app.panels.modules.view import ModulesPanel
from tests.app.conftest import Engine, EngineFactory
from tests.app.helpers import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    greeter_source,
    make_workspace,
    wait_signal,
    workspace_env,
)


@contextlib.asynccontextmanager
async def greeter_engine(
    engine: EngineFactory, tmp_path: Path, *, watch: bool = False
) -> AsyncIterator[tuple[Path, Engine]]:
    """A running engine over a fresh workspace (the greeter tool) in ``tmp_path / "ws"``;
    yields the workspace and the engine."""
    ws = make_workspace(tmp_path / "ws")
    async with engine(**workspace_env(ws, watch=watch)) as env:
        yield ws, env


async def reload_greeter(env: Engine, greeting: str) -> None:
    """The administrator reloads the greeter engine-side with a new ``greeting``."""
    assert env.admin is not None
    await env.node.facade.modules.reload_module(
        env.admin.principal, "greeter", source=greeter_source(greeting)
    )


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
