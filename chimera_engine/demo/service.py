"""DemoService: the facade's operations on the demo workload and its fault injector.

============================  ===================
operation                     permission
============================  ===================
status                        ``engine.status``
start, pause, resume, stop,   ``demo.control``
set_rate, trigger, clear,
schedule
============================  ===================

Every change is audited (``demo.workload.*``, ``demo.fault.*``) as the acting
principal; refusals are audited by the permission check.
"""

from __future__ import annotations

from collections.abc import Callable

from chimera_engine.demo.faults import FaultStatus
from chimera_engine.demo.runner import DemoRunner, DemoStatus
from chimera_engine.errors import ValidationError
from chimera_engine.security.guard import Guard
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

MAX_RATE = 200.0
"""Most normal calls per second the demo may be asked for."""


class DemoService:
    """Needs the demo runner (a getter: None until the engine starts) and the guard."""

    def __init__(self, guard: Guard, runner: Callable[[], DemoRunner | None]) -> None:
        self._guard = guard
        self._runner = runner

    def _demo(self) -> DemoRunner:
        demo = self._runner()
        if demo is None:
            raise ValidationError("the engine is not started")
        return demo

    async def status(self, principal: Principal) -> DemoStatus:
        await self._guard.allow(principal, Permission.ENGINE_STATUS)
        return self._demo().status()

    async def start(self, principal: Principal) -> DemoStatus:
        """Start the workload (or resume it when paused)."""
        await self._guard.allow(principal, Permission.DEMO_CONTROL)
        return await self._demo().start(principal)

    async def pause(self, principal: Principal) -> DemoStatus:
        await self._guard.allow(principal, Permission.DEMO_CONTROL)
        return await self._demo().pause(principal)

    async def resume(self, principal: Principal) -> DemoStatus:
        await self._guard.allow(principal, Permission.DEMO_CONTROL)
        return await self._demo().resume(principal)

    async def stop(self, principal: Principal) -> DemoStatus:
        """Stop the schedule, every fault and the workload."""
        await self._guard.allow(principal, Permission.DEMO_CONTROL)
        return await self._demo().stop(principal)

    async def set_rate(self, principal: Principal, rate: float) -> DemoStatus:
        """Normal calls per second (0 < rate <= :data:`MAX_RATE`)."""
        await self._guard.allow(principal, Permission.DEMO_CONTROL)
        if not 0 < rate <= MAX_RATE:
            raise ValidationError(f"the rate must be above 0 and at most {MAX_RATE:g} calls/s")
        demo = self._demo()
        previous, demo.workload.rate = demo.workload.rate, float(rate)
        await self._guard.record(
            principal, "demo.workload.rate", rate=float(rate), previous=previous
        )
        return demo.status()

    async def schedule(self, principal: Principal, enabled: bool) -> DemoStatus:
        """Turn the fault schedule on or off (takes effect at the next start)."""
        await self._guard.allow(principal, Permission.DEMO_CONTROL)
        demo = self._demo()
        demo.schedule = bool(enabled)
        await self._guard.record(principal, "demo.schedule", enabled=demo.schedule)
        return demo.status()

    async def trigger(self, principal: Principal, fault: str) -> FaultStatus:
        """Start injecting the named fault (csv_shape, latency_leak, error_burst,
        memory_creep)."""
        await self._guard.allow(principal, Permission.DEMO_CONTROL, fault)
        return await self._demo().trigger(fault, principal)

    async def clear(self, principal: Principal, fault: str) -> FaultStatus:
        await self._guard.allow(principal, Permission.DEMO_CONTROL, fault)
        return await self._demo().clear(fault, principal)
