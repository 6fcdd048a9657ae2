"""The Demo menu's client: the demo workload, its fault schedule, each fault by hand.

Every method needs ``demo.control``; the engine audits refusals and changes.
"""

from __future__ import annotations

from app.clients import CurrentPrincipal
from chimera_engine.demo.faults import FaultStatus
from chimera_engine.demo.runner import DemoStatus
from chimera_engine.facade import EngineFacade


class DemoClient:
    def __init__(self, facade: EngineFacade, principal: CurrentPrincipal) -> None:
        self._facade = facade
        self._principal = principal

    async def status(self) -> DemoStatus:
        return await self._facade.demo.status(self._principal())

    async def start(self) -> DemoStatus:
        """Start the workload (a paused one resumes)."""
        return await self._facade.demo.start(self._principal())

    async def pause(self) -> DemoStatus:
        return await self._facade.demo.pause(self._principal())

    async def schedule(self, enabled: bool) -> DemoStatus:
        """Turn the fault schedule on or off."""
        return await self._facade.demo.schedule(self._principal(), enabled)

    async def trigger(self, fault: str) -> FaultStatus:
        """Inject ``fault`` now."""
        return await self._facade.demo.trigger(self._principal(), fault)

    async def clear(self, fault: str) -> FaultStatus:
        return await self._facade.demo.clear(self._principal(), fault)
