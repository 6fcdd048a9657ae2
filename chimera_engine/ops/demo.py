"""Operations on the demo workload and its fault injector.

============================  ===================
operation                     permission
============================  ===================
demo_status                   ``engine.status``
demo_start, demo_pause,       ``demo.control``
demo_resume, demo_stop,
demo_set_rate, demo_trigger,
demo_clear, demo_schedule
============================  ===================

Every change is audited (``demo.workload.*``, ``demo.fault.*``) as the acting
principal; refusals are audited by the permission check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chimera_engine.demo.faults import FaultStatus
from chimera_engine.demo.service import DemoService, DemoStatus
from chimera_engine.errors import ValidationError
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

if TYPE_CHECKING:
    from chimera_engine.node import HeartNode

MAX_RATE = 200.0
"""Most normal calls per second the demo may be asked for."""


class DemoOps:
    _node: HeartNode

    def _demo(self) -> DemoService:
        demo = self._node.demo
        if demo is None:
            raise ValidationError("the engine is not started")
        return demo

    async def demo_status(self, principal: Principal) -> DemoStatus:
        await self._node.security.authorize(principal, Permission.ENGINE_STATUS)
        return self._demo().status()

    async def demo_start(self, principal: Principal) -> DemoStatus:
        """Start the workload (or resume it when paused)."""
        await self._node.security.authorize(principal, Permission.DEMO_CONTROL)
        return await self._demo().start(principal)

    async def demo_pause(self, principal: Principal) -> DemoStatus:
        await self._node.security.authorize(principal, Permission.DEMO_CONTROL)
        return await self._demo().pause(principal)

    async def demo_resume(self, principal: Principal) -> DemoStatus:
        await self._node.security.authorize(principal, Permission.DEMO_CONTROL)
        return await self._demo().resume(principal)

    async def demo_stop(self, principal: Principal) -> DemoStatus:
        """Stop the schedule, every fault and the workload."""
        await self._node.security.authorize(principal, Permission.DEMO_CONTROL)
        return await self._demo().stop(principal)

    async def demo_set_rate(self, principal: Principal, rate: float) -> DemoStatus:
        """Normal calls per second (0 < rate <= :data:`MAX_RATE`)."""
        await self._node.security.authorize(principal, Permission.DEMO_CONTROL)
        if not 0 < rate <= MAX_RATE:
            raise ValidationError(f"the rate must be above 0 and at most {MAX_RATE:g} calls/s")
        demo = self._demo()
        previous, demo.workload.rate = demo.workload.rate, float(rate)
        await self._node.security.audit.record(
            principal, "demo.workload.rate", rate=float(rate), previous=previous
        )
        return demo.status()

    async def demo_schedule(self, principal: Principal, enabled: bool) -> DemoStatus:
        """Turn the fault schedule on or off (takes effect at the next start)."""
        await self._node.security.authorize(principal, Permission.DEMO_CONTROL)
        demo = self._demo()
        demo.schedule = bool(enabled)
        await self._node.security.audit.record(principal, "demo.schedule", enabled=demo.schedule)
        return demo.status()

    async def demo_trigger(self, principal: Principal, fault: str) -> FaultStatus:
        """Start injecting the named fault (csv_shape, latency_leak, error_burst,
        memory_creep)."""
        await self._node.security.authorize(principal, Permission.DEMO_CONTROL, fault)
        return await self._demo().trigger(fault, principal)

    async def demo_clear(self, principal: Principal, fault: str) -> FaultStatus:
        await self._node.security.authorize(principal, Permission.DEMO_CONTROL, fault)
        return await self._demo().clear(fault, principal)
