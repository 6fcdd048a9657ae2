"""GUI test fixtures: Qt offscreen, every asyncio test on a qasync loop, a real engine.

``QT_QPA_PLATFORM`` is set before anything imports Qt. The
``pytest_asyncio_loop_factories`` hook below applies to the tests in this
directory only: engine tests keep running on plain asyncio without Qt.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import qasync
import shiboken6
from PySide6.QtWidgets import QApplication

from app.bridge import EngineBridge
from app.qt_loop import ConsoleEventLoop
from app.startup import bridge_for
from app.theme import apply_theme
from chimera_engine.config import Settings, load_settings
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD


def _application() -> QApplication:
    """The session's QApplication (whoever created it: us or pytest-qt), themed once."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(["chimera-tests"])
    if not app.property("chimeraTestSetup"):
        app.setProperty("chimeraTestSetup", True)
        app.setQuitOnLastWindowClosed(False)
        apply_theme(app)
    return app


class TestEventLoop(ConsoleEventLoop):
    """The console's loop whose timer QObject is destroyed on the GUI thread when it closes.

    Tests create one loop each. A closed loop is freed by Python's cyclic garbage
    collector, which may run on any thread (the engine's database threads, for
    one); a QObject deleted off its own thread cannot unregister its pending
    timers, and Qt later delivers them to freed memory (a segfault in a later
    test's processEvents). Deleting the timer object here avoids that.
    """

    def close(self) -> None:
        super().close()
        timer = self._timer
        if shiboken6.isValid(timer):
            shiboken6.delete(timer)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], qasync.QEventLoop]]:
    return {"qasync": lambda: TestEventLoop(_application())}


def make_settings(data_dir: Path, **env: str) -> Settings:
    """Settings for a throw-away engine: no user config file, only ``env`` overrides."""
    return load_settings(
        data_dir=data_dir,
        # no background demo workload unless a test asks for one
        env={"CHIMERA_API__PORT": "0", "CHIMERA_DEMO__ENABLED": "false", **env},
        use_default_file=False,
    )


@dataclass(frozen=True)
class Engine:
    node: HeartNode
    bridge: EngineBridge
    admin: Session | None


EngineFactory = Callable[..., contextlib.AbstractAsyncContextManager[Engine]]


@pytest.fixture
def engine(tmp_path: Path) -> EngineFactory:
    """Start a real HeartNode on a temporary data directory, with a bridge over it.

    Use it inside the test: ``async with engine() as env: ...``. The engine is
    stopped (bridge tasks cancelled and awaited, node stopped) when the block
    ends, before pytest-qt processes Qt events between test phases: a node left
    running there would have its asyncio timers fired outside the running loop.
    ``admin=True`` (the default) creates the first administrator engine-side;
    keyword ``env`` entries override settings (``CHIMERA_SECTION__KEY`` names).
    """

    @contextlib.asynccontextmanager
    async def start(*, admin: bool = True, **env: str) -> AsyncIterator[Engine]:
        node = HeartNode(make_settings(tmp_path / "data", **env))
        await node.start()
        bridge: EngineBridge | None = None
        try:
            session = (
                await node.facade.sessions.create_first_admin(ADMIN_NAME, ADMIN_PASSWORD)
                if admin
                else None
            )
            bridge = bridge_for(node)
            yield Engine(node=node, bridge=bridge, admin=session)
        finally:
            if bridge is not None:
                await bridge.aclose()
            await node.stop()

    return start
