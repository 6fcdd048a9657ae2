"""A real engine on a copy of the demo workspace, for the self-healing scenarios.

Nothing is stubbed: the review queue, the sandbox (subprocesses), hot reload,
metacognition and the anomaly engine are the engine's own; the replay provider
(the shipped demo transcript, or one a test names) stands in for the LLM.
Windows are shortened through settings so each scenario takes seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chimera_engine.config import load_settings
from chimera_engine.demo import inputs
from chimera_engine.events import Event, EventBus, Subscription
from chimera_engine.heal.views import ToolHealthView
from chimera_engine.node import HeartNode
from chimera_engine.runtime import ToolCallError
from chimera_engine.security.manager import Session
from chimera_engine.workspace import seed_demo_workspace

PASSWORD = "correct horse battery"

BASE_ENV = {
    "CHIMERA_API__ENABLED": "false",
    "CHIMERA_SWARM__ENABLED": "false",
    "CHIMERA_DEMO__ENABLED": "false",
    "CHIMERA_TOOLS__WATCH": "false",
    "CHIMERA_METRICS__ENABLED": "false",
    "CHIMERA_HEAL__WARMUP_SECONDS": "0",
    "CHIMERA_HEAL__SETTLE_SECONDS": "0",
    "CHIMERA_HEAL__REPEAT_FAILURES": "3",
    "CHIMERA_CODEGEN__WATCH_SECONDS": "2",
    "CHIMERA_CODEGEN__WATCH_MIN_CALLS": "5",
}


@dataclass(frozen=True)
class Rig:
    node: HeartNode
    admin: Session
    operator: Session
    rng: random.Random

    async def call(self, tool: str, args: dict[str, Any]) -> tuple[bool, Any]:
        """Call ``tool`` as the operator through the facade; (ok, result or error)."""
        try:
            return True, await self.node.facade.modules.call_tool(
                self.operator.principal, tool, args
            )
        except ToolCallError as exc:
            return False, exc

    async def semicolon_export(self) -> tuple[bool, Any]:
        """One call of the demo's ``csv_shape`` fault (a European spreadsheet export)."""
        return await self.call("clean_csv", {"text": inputs.semicolon_export(self.rng, rows=12)})

    async def orders(self, text: str | None = None) -> tuple[bool, Any]:
        """One normal ``clean_csv`` call."""
        return await self.call("clean_csv", {"text": text or inputs.orders_csv(self.rng, rows=8)})


@contextlib.asynccontextmanager
async def healing_engine(tmp_path: Path, **env: str) -> AsyncIterator[Rig]:
    """Start an engine on a fresh copy of the demo workspace, with an administrator
    and an operator (``olga``) signed in."""
    workspace = seed_demo_workspace(tmp_path / "ws")
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=workspace,
        use_default_file=False,
        env={**BASE_ENV, **env},
    )
    async with HeartNode(settings) as node:
        admin = await node.facade.sessions.create_first_admin("admin", PASSWORD)
        await node.facade.admin.create_user(admin.principal, "olga", PASSWORD, "operator")
        operator = await node.facade.sessions.login("olga", PASSWORD)
        yield Rig(node, admin, operator, random.Random(7))


class Recorder:
    """Every event of some types, kept in order, with a way to wait for one."""

    def __init__(self, bus: EventBus, *types: type[Event]) -> None:
        self._sub: Subscription = bus.subscribe(*types, maxsize=100_000)
        self.seen: list[Event] = []

    def drain(self) -> list[Event]:
        while (event := self._sub.get_nowait()) is not None:
            self.seen.append(event)
        return self.seen

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.drain() if isinstance(e, kind)]

    async def wait(
        self, kind: type[Event], match: Callable[[Any], bool] = lambda e: True, timeout: float = 60
    ) -> Any:
        """The first event of ``kind`` (seen before or arriving within ``timeout``) that
        ``match`` accepts."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for event in self.drain():
                if isinstance(event, kind) and match(event):
                    return event
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {kind.__name__} within {timeout:g} s; saw {self.seen!r}")
            with contextlib.suppress(TimeoutError):
                self.seen.append(await asyncio.wait_for(self._sub.get(), left))

    def close(self) -> None:
        self._sub.close()


async def linked_request(rig: Rig, tool: str, version: int, timeout: float = 30) -> ToolHealthView:
    """The health view of ``tool`` ``version`` once its module's open learning request
    has its patch (the generator finished: the patch is ready, rejected or applied)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        status = await rig.node.facade.heal.status(rig.operator.principal)
        for view in status.tools:
            request = view.open_request
            if (view.tool, view.version) == (tool, version) and request and request.patch_id:
                return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"no learning request of {tool} got its patch within {timeout:g} s")


async def keep_calling(
    rig: Rig,
    until: Callable[[], bool],
    *calls: Callable[[], Any],
    timeout: float = 60,
    seen: Recorder | None = None,
) -> int:
    """Run ``calls`` in turn until ``until()`` holds; the number of rounds made."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    rounds = 0
    while not until():
        if loop.time() > deadline:
            status = await rig.node.facade.heal.status(rig.admin.principal)
            raise AssertionError(
                f"condition not reached within {timeout:g} s ({rounds} rounds); "
                f"events {seen.drain() if seen else []!r}; status {status!r}"
            )
        for call in calls:
            await call()
        rounds += 1
        await asyncio.sleep(0.01)
    return rounds
