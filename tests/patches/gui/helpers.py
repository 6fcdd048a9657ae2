"""Helpers shared by the Patch review panel tests: a workspace with a buggy tool, a
scripted model on the engine side, and the panel opened against that engine."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from app.panels.patches.view import PatchesPanel
from chimera_engine.node import HeartNode
from chimera_engine.patches.generator import GenerationPolicy
from chimera_engine.patches.models import Patch
from chimera_engine.patches.providers.base import Completion, CompletionRequest
from chimera_engine.runtime import ToolCallError
from chimera_engine.security.principal import Principal
from tests.app.conftest import Engine
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, wait_signal, wait_until
from tests.patches.conftest_helpers import FIX, ScriptedProvider, make_workspace

__all__ = ["FIX", "GatedProvider", "ScriptedProvider", "make_workspace"]


def patch_env(root: Path) -> dict[str, str]:
    """``engine(**patch_env(ws))``: the engine on workspace ``root``, no file watcher."""
    return {"CHIMERA_ENGINE__WORKSPACE": str(root), "CHIMERA_TOOLS__WATCH": "false"}


def use_provider(node: HeartNode, provider: object) -> None:
    """Make ``provider`` the model every patch request of ``node`` asks."""
    node.use_provider(provider, GenerationPolicy())  # type: ignore[arg-type]


async def fail_calls(node: HeartNode, who: Principal, n: int = 3) -> None:
    """Division by zero, the evidence the patch request sends to the model."""
    for _ in range(n):
        with contextlib.suppress(ToolCallError):
            await node.runtime.call("ratio", {"a": 1, "b": 0}, who)


async def ready_patch(node: HeartNode, who: Principal, answer: str = FIX) -> Patch:
    """A patch made engine-side by a scripted model; ready (it passed the sandbox)."""
    use_provider(node, ScriptedProvider([answer]))
    outcome = await node.facade.patches.request_patch(who, "mathy", note="division errors")
    assert outcome.patch is not None, outcome.report.reasons
    return outcome.patch


async def open_panel(
    bridge: EngineBridge, qtbot: QtBot, user: str = ADMIN_NAME, password: str = ADMIN_PASSWORD
) -> PatchesPanel:
    """Sign in as ``user`` and show a Patch review panel once it has loaded."""
    await bridge.login(user, password)
    panel = PatchesPanel(bridge)
    qtbot.addWidget(panel)
    panel.resize(1240, 760)
    panel.show()
    await wait_signal(panel.loaded)
    return panel


async def panel_on_a_ready_patch(env: Engine, qtbot: QtBot) -> tuple[PatchesPanel, Patch]:
    """A ready patch made engine-side, then the admin's panel showing it."""
    assert env.admin is not None
    patch = await ready_patch(env.node, env.admin.principal)
    panel = await open_panel(env.bridge, qtbot)
    await show_patch(panel, patch)
    return panel, patch


def listed(panel: PatchesPanel, patch_id: int, state: str) -> bool:
    row = panel.model.row_of(patch_id)
    return row >= 0 and panel.model.record(row).state == state


async def show_patch(panel: PatchesPanel, patch: Patch) -> None:
    """Wait until ``patch`` is in the queue in its state, select it, wait for its detail."""
    await wait_until(lambda: listed(panel, patch.id, patch.state), what=f"{patch.label} listed")
    panel.select_patch(patch.id)

    def shown() -> bool:
        on_screen = panel.detail.patch
        return (
            on_screen is not None
            and (on_screen.id, on_screen.state) == (patch.id, patch.state)
            and bool(panel.detail.side_by_side.kinds)
        )

    await wait_until(shown, what=f"{patch.label} shown")


class GatedProvider(ScriptedProvider):
    """A scripted model that answers only once :attr:`gate` is set (a slow provider)."""

    def __init__(self, answers: list[str]) -> None:
        super().__init__(answers)
        self.gate = asyncio.Event()
        self.asked = asyncio.Event()

    async def complete(self, request: CompletionRequest) -> Completion:
        self.asked.set()
        await self.gate.wait()
        return await super().complete(request)
